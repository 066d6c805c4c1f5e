"""Gunicorn hooks of the bare floor: what storefront/gunicorn.py does for the product
(load the URLconf, then ``gc.freeze`` what the worker holds), without importing the
``storefront`` package (its ``__init__`` loads the Celery app)."""

import gc


def post_worker_init(worker):
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 — imports the view and the model now
    gc.freeze()
