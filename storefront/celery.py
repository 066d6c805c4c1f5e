"""The Celery application.

The broker is Redis from ``REDIS_URL``. Without it (the embedded default),
``CELERY_TASK_ALWAYS_EAGER`` in settings runs every task in-process, so
``make run`` needs no worker.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings")

app = Celery("storefront")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
