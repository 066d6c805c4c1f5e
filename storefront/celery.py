"""The Celery application.

The broker is Redis from ``REDIS_URL``. Without it (the embedded default),
``CELERY_TASK_ALWAYS_EAGER`` in settings runs every task in-process, so
``make run`` needs no worker.

Request ids (core/logs.py): a task published while a request is served
carries the request's id in a message header; the worker binds it while the task
runs, so the task's log lines (and the tasks it publishes) name that request. A
task with no request behind it (Celery beat) gets an id of its own.
"""

import os

from celery import Celery, signals

from core.logs import (
    adopt_handlers,
    bind_request_id,
    clean_request_id,
    get_request_id,
    new_request_id,
    unbind_request_id,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings")

app = Celery("storefront")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Tasks that may wait behind a burst of sales: a launch's receipts go out while the
# new owners' stamped copies are made on the bulk queue (a download asking for a copy
# not made yet stamps it itself: library.stamping.copy_for_download).
BULK_TASKS = frozenset(
    {
        "library.tasks.stamp_for_reader",
        "library.tasks.restamp_release",
        "library.tasks.stamp_chunk",
    }
)


def bulk_queue(default_queue: str) -> str:
    return f"{default_queue}.bulk"


def route_task(name, args, kwargs, options, task=None, **kw):
    """CELERY_TASK_ROUTES: the bulk tasks to ``<default queue>.bulk``, read when the task
    is sent (a test's own default queue gets its own bulk queue)."""
    if name in BULK_TASKS:
        return {"queue": bulk_queue(app.conf.task_default_queue)}
    return None


REQUEST_ID_HEADER = "request_id"
_bound: dict[str, object] = {}  # task id -> context token, from prerun to postrun


@signals.before_task_publish.connect
def _carry_request_id(headers=None, **kwargs):
    request_id = get_request_id()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@signals.task_prerun.connect
def _bind_task_request_id(task_id=None, task=None, **kwargs):
    # An eager task runs inside the request: it keeps the request's id.
    request_id = (
        clean_request_id(task.request.get(REQUEST_ID_HEADER))
        or get_request_id()
        or new_request_id()
    )
    _bound[task_id] = bind_request_id(request_id)


@signals.task_postrun.connect
def _unbind_task_request_id(task_id=None, **kwargs):
    token = _bound.pop(task_id, None)
    if token is not None:
        unbind_request_id(token)


@signals.task_prerun.connect
@signals.task_postrun.connect
def _connections_as_around_a_request(task=None, **kwargs):
    """A task on a worker uses the database as a request does: ``close_old_connections``
    before and after, as Django's request_started and request_finished do (settings:
    CELERY_DB_REUSE_MAX). An eager task runs inside its caller's request or test, whose
    connection is not the task's to close."""
    if task is not None and not getattr(task.request, "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _worker_logs_like_the_web(logger=None, **kwargs):
    """The worker installs its own log handlers; give them our format and request ids."""
    from django.conf import settings

    adopt_handlers(logger, getattr(settings, "LOG_FORMAT", "text"))
