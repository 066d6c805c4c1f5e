"""Run calls at the same instant, as two tabs or two workers would."""

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections


def at_once(*calls, timeout: float = 60):
    """Run the calls in threads released together by a barrier; their results, in
    order (the first exception is raised). Each thread closes its own database
    connection when done, so a PostgreSQL test database can be dropped after."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait(timeout=timeout)
            return call()
        finally:
            close_old_connections()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls, timeout=timeout))
