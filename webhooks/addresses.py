"""Where a webhook may go (SSRF): public addresses only, checked after resolving.

Every address a host resolves to is checked and the request is then made to a
checked address (``transport``), never by resolving the name again: a DNS answer
that changes between the check and the connection (rebinding) cannot steer a
request inside. Loopback is allowed only with ``WEBHOOKS_ALLOW_LOOPBACK`` (true
under DEBUG and in tests), and only then may a URL be plain http.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class RefusedURL(ValueError):
    """The URL may not receive webhooks; the message says why, for the author."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query
    addresses: tuple[str, ...]  # checked; connect to these, in order


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (tests replace this to fake DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def refusal(address: str, *, allow_loopback: bool) -> str | None:
    """Why a request may not go to ``address``, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified or ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


def check_url(url: str, *, allow_loopback: bool | None = None) -> Target:
    """Parse, resolve and check ``url``; raise RefusedURL with the reason."""
    if allow_loopback is None:
        allow_loopback = settings.WEBHOOKS_ALLOW_LOOPBACK
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedURL("That is not a valid URL.") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RefusedURL("Enter an https:// URL.")
    if parts.username is not None or parts.password is not None:
        raise RefusedURL("Put no user name or password in the URL; use the signature instead.")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise RefusedURL(f"{host} could not be resolved.") from exc
    if not addresses:
        raise RefusedURL(f"{host} could not be resolved.")
    for address in addresses:
        reason = refusal(address, allow_loopback=allow_loopback)
        if reason:
            raise RefusedURL(
                f"{host} points to {reason} ({address}); webhooks go to public addresses only."
            )
    loopback_only = all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)
    if parts.scheme == "http" and not loopback_only:
        raise RefusedURL("Enter an https:// URL.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(parts.scheme, host, port, path, tuple(addresses))
