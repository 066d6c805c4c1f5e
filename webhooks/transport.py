"""One POST to a checked address (``addresses.Target``): short timeout, no redirects.

The connection goes to the address that was checked, while TLS (SNI and the
certificate) and the Host header still use the URL's name."""

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from .addresses import Target

MAX_BODY_BYTES = 64 * 1024  # read no more of an answer than this
EXCERPT_CHARS = 1000  # kept for the delivery log


@dataclass(frozen=True)
class Response:
    status_code: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict, *, timeout: float) -> Response:
    """POST ``body``; never raises for the network: the error is in the Response."""
    started = time.monotonic()
    error = ""
    for address in target.addresses:
        kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
        connection = kind(target.host, target.port, address=address, timeout=timeout)
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read(MAX_BODY_BYTES)
            return Response(
                answer.status,
                data.decode("utf-8", errors="replace")[:EXCERPT_CHARS],
                "",
                _ms_since(started),
            )
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            if not isinstance(exc, ConnectionRefusedError | socket.gaierror):
                break  # it answered or stalled: another address would get it twice
        finally:
            connection.close()
    return Response(None, "", error or "no address to connect to", _ms_since(started))


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
