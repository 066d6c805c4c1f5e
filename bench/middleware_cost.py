"""What each middleware of the product costs a request, measured in-process.

The product floor ÷ bare floor ratio (bench/report.py) says what the whole stack,
settings and URLconf cost; this says which part. The floor page (bench/floor_urls.py)
is served through Django's WSGI handler in this process, ``REQUESTS`` times with
the full MIDDLEWARE and once more without each middleware in turn, anonymous and
signed in; the difference is that middleware's cost per request, in microseconds
of this process's CPU time (no network, no gunicorn, no other process counted).

    python -m bench.middleware_cost      # under bench/run's environment (bench.settings_floor)
"""

import io
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_floor")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.test import override_settings  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_MIDDLEWARE_REQUESTS", "1500"))
ROUNDS = 3  # the best of: other processes only ever add time


def _environ(cookie: str) -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/bench/floor/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "443",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_COOKIE": cookie,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
    }


class NotServed(Exception):
    """The page does not work without this middleware: its cost is not separable."""


def _per_request_us(middleware: list[str], cookie: str) -> float:
    with override_settings(MIDDLEWARE=middleware):
        handler = WSGIHandler()

        def start_response(status, headers):
            if not status.startswith("200"):
                raise NotServed(status)

        environ = _environ(cookie)
        for _ in range(50):  # warm: imports, template and URL caches, the connection
            b"".join(handler({**environ, "wsgi.input": io.BytesIO()}, start_response))
        best = float("inf")
        for _ in range(ROUNDS):
            start = time.process_time()
            for _ in range(REQUESTS):
                b"".join(handler({**environ, "wsgi.input": io.BytesIO()}, start_response))
            best = min(best, (time.process_time() - start) / REQUESTS * 1e6)
        return best


def measure(cookie_for_user: str = "") -> list[tuple[str, float, float]]:
    """(middleware, µs anonymous, µs signed in) for each, and the full stack first."""
    full = list(settings.MIDDLEWARE)
    anonymous, signed_in = _per_request_us(full, ""), _per_request_us(full, cookie_for_user)
    rows = [("whole stack", anonymous, signed_in)]
    for name in full:
        without = [m for m in full if m != name]
        try:
            rows.append(
                (
                    name,
                    anonymous - _per_request_us(without, ""),
                    signed_in - _per_request_us(without, cookie_for_user),
                )
            )
        except NotServed:
            rows.append((f"{name} (the page needs it)", None, None))
    return rows


def text(rows) -> str:
    lines = [
        f"In-process CPU time of the floor page through Django's WSGI handler (best of {ROUNDS} × "
        f"{REQUESTS} requests): the whole stack, then what removing each middleware saves.",
        "",
        "| middleware | µs per request, anonymous | µs per request, signed in |",
        "|---|--:|--:|",
    ]
    lines += [
        f"| `{name}` | {'-' if a is None else f'{a:.0f}'} | {'-' if s is None else f'{s:.0f}'} |"
        for name, a, s in rows
    ]
    return "\n".join(lines)


def main() -> str:
    from bench.drive import login_cookie
    from bench.seed import HEAVY_READER_EMAIL

    reader = get_user_model().objects.get(email=HEAVY_READER_EMAIL)
    return text(measure(login_cookie(reader)))


if __name__ == "__main__":
    print(main())
