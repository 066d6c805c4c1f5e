"""The product's settings, with the send tasks routed to a queue nobody consumes,
so bench/fanout.py measures the fan-out and not the SMTP round-trips."""

from storefront.settings import *  # noqa: F403

CELERY_TASK_ROUTES = {"core.tasks.deliver_email": {"queue": "bench-fanout-deliver"}}
