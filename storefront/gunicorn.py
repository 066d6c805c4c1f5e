"""Gunicorn hooks, for production (docs/deploy.md) and bench/run:
``gunicorn --config python:storefront.gunicorn storefront.wsgi``.

The garbage collector's full collections walk every object the process holds.
A worker holds ~170,000 of them once Django, the URLconf and every view module
are imported; a full collection then takes ~100 ms and lands on whichever
request allocated last, every few dozen requests (the earnings dashboard's p99
was that pause). Those objects live as long as the worker, so once they are
loaded we move them out of the collector's sight (``gc.freeze``); collections
then walk only what requests create (~5 ms).
"""

import gc


def post_worker_init(worker):
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 — imports every view, form and model now
    gc.freeze()
