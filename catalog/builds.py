"""Starting a manuscript build: the row from ``manuscript``, then its Celery task.

Its own module because ``tasks`` imports ``manuscript`` (a task calls the service), so
the service cannot queue the task itself without an import cycle.
"""

from django.db import transaction

from . import manuscript
from .models import Book, Build
from .tasks import run_build


def request_build(*, book: Book, kind: str, user=None, version: str = "", notes: str = "") -> Build:
    """Queue a build; the Celery task starts after commit (a rolled-back build never runs)."""
    build = manuscript.new_build(book=book, kind=kind, user=user, version=version, notes=notes)
    transaction.on_commit(lambda: run_build.delay(build.pk), robust=True)
    return build
