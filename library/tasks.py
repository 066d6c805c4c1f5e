"""Celery tasks of the library: load by id, call one function, retry in the task."""

from celery import shared_task

from core.tasks import deliver_email

from . import announcements, stamping


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def announce_release(release_id: int):
    """Fan a release's "new version" e-mail out to its owners, one task per chunk."""
    chunks = announcements.plan_announcement(release_id)
    for user_ids in chunks:
        queue_release_emails.delay(release_id, user_ids)
    return len(chunks)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def queue_release_emails(release_id: int, user_ids: list[int]):
    """Put one chunk's e-mails in the outbox and hand each to the sender task.
    Re-running it (a retry) finds the rows and sends nobody a second e-mail."""
    delivery_ids = announcements.queue_chunk(release_id, user_ids)
    for delivery_id in delivery_ids:
        deliver_email.delay(delivery_id)
    return len(delivery_ids)


@shared_task(acks_late=True)
def announce_missed_releases():
    """Celery beat: a published release whose "new version" fan-out never started
    is announced now (the fan-out is idempotent: nobody gets a second e-mail)."""
    missed = announcements.missed_releases()
    for release_id in missed:
        announce_release.delay(release_id)
    return len(missed)


# --- Buyer-stamped files (library/stamping.py) ---------------------------------------


@shared_task(
    bind=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5
)
def stamp_for_reader(self, user_id: int, book_id: int):
    """A new owner's stamped copies of the current release, right after the purchase."""
    return stamping.stamp_for_reader(user_id=user_id, book_id=book_id, task_id=self.request.id)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def restamp_release(release_id: int):
    """Every owner's stamped copies of a new release, one task per chunk of owners."""
    chunks = stamping.plan_release(release_id)
    for user_ids in chunks:
        stamp_chunk.delay(release_id, user_ids)
    return len(chunks)


@shared_task(
    bind=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5
)
def stamp_chunk(self, release_id: int, user_ids: list[int]):
    """One chunk of owners' copies. A redelivery (its worker was killed) keeps its task id,
    so it takes back its own claims at once and stamps only what is not ready."""
    return stamping.stamp_chunk(release_id, user_ids, task_id=self.request.id)


@shared_task(
    bind=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5
)
def stamp_file(self, row_id: int):
    """One copy a download asked for that was too large to stamp inside the request."""
    return stamping.stamp_row(row_id, task_id=self.request.id)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def remove_stamped_files(user_id: int, book_id: int):
    """A reader lost the book (refund, removal): their stamped copies go too."""
    return stamping.remove_for_reader(user_id=user_id, book_id=book_id)
