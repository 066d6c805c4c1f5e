"""Count the bare floor's queries the way bench/drive.py counts a product page's
(one warm-up request, then one through the test Client with CaptureQueriesContext).

Run in its own process (the product's settings are loaded in drive.py's):
``DJANGO_SETTINGS_MODULE=bench.bare.settings python -m bench.bare.queries``
prints one JSON line: status, first (warm-up count), queries, ms.
"""

import json
import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.bare.settings")
django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def main():
    client = Client(headers={"host": "127.0.0.1", "X-Forwarded-Proto": "https"})
    with CaptureQueriesContext(connection) as first:
        client.get("/bench/floor/")
    durations = []

    def timed(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            durations.append((time.perf_counter() - start) * 1000)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
        response = client.get("/bench/floor/")
    print(
        json.dumps(
            {
                "status": response.status_code,
                "first": len(first.captured_queries),
                "queries": len(captured.captured_queries),
                "ms": round(sum(durations), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
