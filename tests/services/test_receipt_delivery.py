"""A purchase's receipt goes out through a real Celery worker to a real SMTP server."""

import time
import uuid

import pytest

from core.models import EmailDelivery
from core.tasks import deliver_email
from payments import services
from tests.factories import BookFactory, UserFactory
from tests.services.conftest import wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_paid_order_s_receipt_reaches_the_buyer_once_even_when_the_payment_is_replayed(
    smtp_server, celery_worker_process
):
    buyer = UserFactory(email="buyer@example.com")
    book = BookFactory(title="The Quiet Harbour", minimum_price_cents=999)
    order = services.place_order(
        buyer=buyer, book=book, amount_cents=1950, checkout_token=uuid.uuid4()
    )

    assert services.mark_paid(order_id=order.pk, amount_cents=1950) is True

    [received] = smtp_server.wait_for(1, timeout=15)
    assert received.recipients == ["buyer@example.com"]
    assert received.mail_from == "books@localhost"
    assert received.subject == "Your receipt for The Quiet Harbour"
    for part in (received.text, received.html):
        assert "$19.50" in part and "$15.60" in part and "Author earns" in part
        assert str(order.public_id) in part
    delivery = wait_until(
        lambda: EmailDelivery.objects.filter(
            key=f"receipt:order-{order.pk}", status=EmailDelivery.Status.SENT
        ).first(),
        message="the receipt's outbox row to be marked sent",
    )
    assert (delivery.to, delivery.attempts, delivery.last_error) == ("buyer@example.com", 1, "")
    assert delivery.sent_at is not None

    # The gateway replays its "paid" event: nothing changes, nothing is queued.
    assert services.mark_paid(order_id=order.pk, amount_cents=1950) is False
    assert EmailDelivery.objects.count() == 1
    # Even a redelivered task for the receipt sends nothing. The worker runs its queue
    # in order, so once this task is done, anything queued before it is done too.
    redelivered = deliver_email.delay(delivery.pk)
    assert celery_worker_process.task_outcome(redelivered.id) == "'skipped'"
    time.sleep(0.5)  # and nothing straggles in late
    assert len(smtp_server.messages) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 1)
