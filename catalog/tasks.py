"""Celery tasks of the catalog."""

from celery import shared_task

from . import manuscript, stats


@shared_task(acks_late=True)
def run_build(build_id: int):
    """Render (and maybe publish) a manuscript; the build row says how it went."""
    return manuscript.run_build(build_id).status


@shared_task(acks_late=True)
def fail_stale_builds():
    """Celery beat, every 10 minutes: builds whose worker died fail, retryable."""
    return manuscript.fail_stale_builds()


@shared_task(acks_late=True)
def flush_book_views():
    """Celery beat, every 5 minutes: the book pages' view counters into BookDailyStats."""
    return stats.flush_views()


@shared_task(acks_late=True)
def purge_deleted_chapters():
    """Celery beat, daily: chapters in the trash past their restore period go for good."""
    return manuscript.purge_deleted_chapters()
