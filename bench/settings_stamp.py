"""The product's settings, with the "new version" e-mail fan-out routed to a queue
nobody consumes, so bench/stamp.py measures the worker stamping and nothing else."""

from storefront.settings import *  # noqa: F403

_IDLE = {"queue": "bench-stamp-idle"}
CELERY_TASK_ROUTES = {
    "library.tasks.announce_release": _IDLE,
    "library.tasks.queue_release_emails": _IDLE,
    "core.tasks.deliver_email": _IDLE,
}
