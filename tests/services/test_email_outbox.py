"""The e-mail outbox against a real SMTP server: retries, exactly once, only after commit.

The tests that need a real worker (PostgreSQL + Redis) say so by using
``celery_worker_process``/``start_celery_worker``; the others run Celery eagerly
in-process and work everywhere, SQLite included.
"""

import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from core import mail, outbox
from core.models import EmailDelivery
from core.tasks import deliver_email, requeue_stuck_emails, retry_countdown
from tests.services.conftest import task_outcome, wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class Rollback(Exception):
    pass


def queue(key: str, to: str = "reader@example.com", subject: str = "Hello"):
    delivery, created = mail.queue_email(
        key=key, to=to, subject=subject, body=f"{subject}, in text.", html=f"<p>{subject}</p>"
    )
    assert created
    return delivery


def sent(key: str) -> EmailDelivery | None:
    return EmailDelivery.objects.filter(key=key, status=EmailDelivery.Status.SENT).first()


# --- With a real worker ---------------------------------------------------------


def test_a_refused_e_mail_is_retried_with_backoff_by_the_worker_and_arrives_exactly_once(
    smtp_server, celery_worker_process
):
    smtp_server.fail_next(2, "451 4.3.0 Try again later")

    queue("test:retry", to="patient@example.com", subject="Third time lucky")

    [received] = smtp_server.wait_for(1, timeout=15)
    assert (received.recipients, received.subject) == (["patient@example.com"], "Third time lucky")
    assert smtp_server.refused == 2
    delivery = wait_until(lambda: sent("test:retry"), message="the row to be marked sent")
    assert (delivery.attempts, delivery.last_error) == (3, "")
    log = celery_worker_process.log()
    # EMAIL_RETRY_BASE_SECONDS=0.2 in the worker: 0.2 s, then twice that.
    assert "Retry in 0.2s: SMTPDataError(451" in log
    assert "Retry in 0.4s: SMTPDataError(451" in log
    time.sleep(0.5)
    assert len(smtp_server.messages) == 1


def test_two_workers_handed_the_same_delivery_send_it_once(smtp_server, start_celery_worker):
    first, second = start_celery_worker(wait=False), start_celery_worker(wait=False)
    first.wait_ready()
    second.wait_ready()
    # A slow server keeps the first sender mid-send while the second one tries.
    smtp_server.reply_delay = 0.5
    delivery = EmailDelivery.objects.create(
        key="test:twice", to="once@example.com", subject="Once", body="Only once."
    )

    tasks = [deliver_email.delay(delivery.pk).id for _ in range(2)]

    outcomes = [task_outcome(task, first, second, timeout=15) for task in tasks]
    # Each worker took one task (prefetch 1, acks late): they really raced.
    assert {worker.name for worker, _ in outcomes} == {first.name, second.name}
    assert sorted(value for _, value in outcomes) == ["'sent'", "'skipped'"]
    assert [m.recipients for m in smtp_server.messages] == [["once@example.com"]]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 1)


# --- In-process (eager Celery), on any database ---------------------------------


def test_a_refused_e_mail_stays_queued_with_its_claim_released_for_the_retry(smtp_server):
    smtp_server.fail_next(1)

    # Eager Celery (make run) has no worker to retry later: the request must not fail,
    # and the row waits for requeue_stuck_emails. The worker test above covers retries.
    queue("test:eager-retry")

    delivery = EmailDelivery.objects.get(key="test:eager-retry")
    assert (delivery.status, delivery.attempts, delivery.claimed_at) == ("queued", 1, None)
    assert "451" in delivery.last_error and smtp_server.messages == []
    assert deliver_email.delay(delivery.pk).get() == "sent"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")
    assert len(smtp_server.messages) == 1


def test_an_e_mail_still_refused_at_the_last_retry_is_marked_failed(smtp_server):
    delivery = EmailDelivery.objects.create(
        key="test:hopeless", to="x@example.com", subject="S", body="B"
    )
    smtp_server.fail_next(1, "451 4.7.1 Greylisted")

    assert (
        deliver_email.apply(args=[delivery.pk], retries=deliver_email.max_retries).get() == "failed"
    )

    delivery.refresh_from_db()
    assert (delivery.status, delivery.claimed_at) == ("failed", None)
    assert "Greylisted" in delivery.last_error and smtp_server.messages == []
    assert deliver_email.delay(delivery.pk).get() == "skipped"


def test_the_backoff_doubles_from_four_seconds_up_to_ten_minutes(settings, monkeypatch):
    monkeypatch.delenv("EMAIL_RETRY_BASE_SECONDS", raising=False)
    assert [retry_countdown(n) for n in range(9)] == [4, 8, 16, 32, 64, 128, 256, 512, 600]
    settings.EMAIL_RETRY_BASE_SECONDS = 0.1
    assert retry_countdown(2) == pytest.approx(0.4)


def test_the_same_delivery_enqueued_twice_is_sent_once(smtp_server):
    delivery = queue("test:again")
    assert len(smtp_server.messages) == 1

    assert deliver_email.delay(delivery.pk).get() == "skipped"

    assert len(smtp_server.messages) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 1)


def test_asking_twice_for_the_same_e_mail_queues_and_sends_it_once(smtp_server):
    _, created = mail.queue_email(key="test:same-key", to="a@example.com", subject="S", body="B")
    _, again = mail.queue_email(key="test:same-key", to="a@example.com", subject="S", body="B")

    assert (created, again) == (True, False)
    assert len(smtp_server.messages) == 1


def test_a_delivery_claimed_by_a_live_worker_is_skipped_but_a_stale_claim_is_taken_over(
    smtp_server,
):
    delivery = EmailDelivery.objects.create(
        key="test:claimed", to="x@example.com", subject="S", body="B", claimed_at=timezone.now()
    )
    assert deliver_email.delay(delivery.pk).get() == "skipped"
    assert smtp_server.messages == []

    stale = timezone.now() - outbox.CLAIM_TIMEOUT - timedelta(seconds=1)
    EmailDelivery.objects.filter(pk=delivery.pk).update(claimed_at=stale)
    assert deliver_email.delay(delivery.pk).get() == "sent"
    assert len(smtp_server.messages) == 1


def test_an_e_mail_queued_in_a_rolled_back_transaction_is_never_sent(smtp_server):
    with pytest.raises(Rollback), transaction.atomic():
        queue("test:rolled-back")
        raise Rollback

    assert smtp_server.messages == []
    assert not EmailDelivery.objects.exists()


def test_only_the_committed_part_of_a_transaction_sends_its_e_mail(smtp_server):
    with transaction.atomic():
        queue("test:kept", to="kept@example.com")
        with pytest.raises(Rollback), transaction.atomic():
            queue("test:undone", to="undone@example.com")
            raise Rollback
        # Nothing goes out before the commit, even with eager Celery.
        assert smtp_server.messages == []

    assert [m.recipients for m in smtp_server.messages] == [["kept@example.com"]]
    assert list(EmailDelivery.objects.values_list("key", flat=True)) == ["test:kept"]


def test_a_permanent_refusal_gives_up_at_once(smtp_server):
    delivery = EmailDelivery.objects.create(
        key="test:nobody", to="nobody@example.com", subject="S", body="B"
    )
    smtp_server.fail_next(1, "550 5.1.1 No such user")

    assert deliver_email.apply(args=[delivery.pk]).get() == "failed"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (
        "failed",
        1,
    ) and "No such user" in delivery.last_error


def test_the_sweeper_sends_queued_e_mails_nobody_is_sending(smtp_server):
    smtp_server.fail_next(1)
    queue("test:swept")
    EmailDelivery.objects.filter(key="test:swept").update(
        created_at=timezone.now() - timedelta(minutes=30)
    )

    assert requeue_stuck_emails() == 1

    assert EmailDelivery.objects.get(key="test:swept").status == "sent"
    assert len(smtp_server.messages) == 1
    assert requeue_stuck_emails() == 0


# --- The worker's database connection ---------------------------------------------


def _worker_backends() -> set[tuple]:
    """The server processes of this test database's other clients: the worker's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return set(cursor.fetchall())


def _send(key: str) -> None:
    queue(key)
    wait_until(lambda: sent(key), message=f"{key} to be sent")


def test_a_worker_keeps_its_database_connection_from_one_task_to_the_next(
    smtp_server, start_celery_worker
):
    # Celery's Django fixup closed it around every task: each receipt opened a new
    # server process. Now a task ends as a request does (CONN_MAX_AGE keeps it).
    start_celery_worker(env={"CONN_MAX_AGE": "60"})
    before = _worker_backends()
    _send("test:first")
    first = _worker_backends() - before
    assert len(first) == 1, "the worker's connection outlives its task"
    _send("test:second")
    _send("test:third")
    assert first <= _worker_backends(), "the same server process served the later tasks"


def test_a_worker_whose_connection_the_server_dropped_reconnects_for_the_next_task(
    smtp_server, start_celery_worker
):
    start_celery_worker(env={"CONN_MAX_AGE": "60"})
    before = _worker_backends()
    _send("test:before the restart")
    [(pid, _started)] = _worker_backends() - before
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_until(lambda: pid not in {p for p, _ in _worker_backends()}, message="the backend gone")

    _send("test:after the restart")  # checked before reuse (CONN_HEALTH_CHECKS): no error

    assert len(smtp_server.messages) == 2
    assert EmailDelivery.objects.get(key="test:after the restart").attempts == 1


def test_with_conn_max_age_0_a_worker_closes_its_connection_after_each_task(
    smtp_server, start_celery_worker
):
    start_celery_worker(env={"CONN_MAX_AGE": "0"})
    before = _worker_backends()
    _send("test:closed after")
    wait_until(lambda: not (_worker_backends() - before), message="the connection closed")
