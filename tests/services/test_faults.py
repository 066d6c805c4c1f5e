"""Money under faults: nothing lost, nothing doubled, the ledger clean after each.

1. The database connection drops in the middle of fulfilment: the webhook answers
   503 (Stripe retries), everything rolls back, the replayed event fulfils once.
2. The Celery worker is SIGKILLed in the middle of a fan-out: the broker hands its
   unacknowledged tasks to a new worker, every reader gets the e-mail once.
3. SMTP refuses (421) and recovers: the receipt arrives once, after the retries.
4. The gateway times out on a refund: the order stays paid and the refund
   retryable; the retry refunds once at the gateway and reverses the ledger once.
"""

import pytest
from django.db import connection

from library.models import Entitlement
from payments import ledger, services
from payments.ledger import audit
from payments.models import LedgerTransaction, Order, WebhookEvent
from storefront.models import EmailDelivery
from tests.conftest import require
from tests.factories import BookFactory, UserFactory
from tests.payments import conftest as payments_fixtures
from tests.payments.conftest import event_payload, post_event, stripe_order

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

# localstripe and PAYMENT_GATEWAY=stripe, as the payments tests have them.
localstripe = payments_fixtures.localstripe
stripe_settings = payments_fixtures.stripe_settings


def assert_ledger_clean():
    report = audit()
    assert report.ok, report.problems


@pytest.fixture
def postgres():
    require(connection.vendor == "postgresql", "killing a session needs PostgreSQL")


# 1. The database connection drops in the middle of fulfilment ---------------------------


def kill_this_session():
    """Terminate this thread's database session from a second connection, as a
    server restart, a failover or a cut network would; wait until it is gone."""
    pid = connection.connection.info.backend_pid
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
            assert cursor.fetchone() == (True,)
    finally:
        other.close()


def killing_the_session_after(module, name):
    real = getattr(module, name)

    def then_kill(*args, **kwargs):
        result = real(*args, **kwargs)
        kill_this_session()
        return result

    return then_kill


@pytest.mark.parametrize(
    "when, module, name",
    [
        ("after the ledger is written", ledger, "record_sale"),
        ("after the receipt is queued, just before the commit", services, "_queue_receipt"),
    ],
)
def test_a_connection_dropped_mid_fulfilment_rolls_back_and_the_replayed_webhook_fulfils_once(
    postgres, client, stripe_settings, localstripe, monkeypatch, when, module, name
):
    order = stripe_order(UserFactory(), BookFactory(), 1950)
    intent = localstripe.confirm(order.gateway_reference, "pm_card_visa")
    payload = event_payload(intent, event_id="evt_fulfilment_interrupted")
    monkeypatch.setattr(module, name, killing_the_session_after(module, name))

    response = post_event(client, payload)

    # Not a silent 200: Stripe retries anything else.
    assert (response.status_code, response.content) == (503, b"database unavailable, retry")
    order.refresh_from_db()
    assert (order.status, order.paid_at) == ("pending", None)
    assert not LedgerTransaction.objects.exists()
    assert not Entitlement.objects.exists()
    assert not EmailDelivery.objects.exists()
    assert not WebhookEvent.objects.exists()  # else the retry would be ignored as a replay
    assert order.book.__class__.objects.get(pk=order.book_id).sales_count == 0
    assert_ledger_clean()

    monkeypatch.undo()
    retried = post_event(client, payload)
    replayed = post_event(client, payload)

    assert (retried.status_code, retried.content) == (200, b"order paid")
    assert (replayed.status_code, replayed.content) == (200, b"replay ignored")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert LedgerTransaction.objects.filter(order=order, kind="sale").count() == 1
    assert Entitlement.objects.get(user=order.buyer, book=order.book).is_active
    assert list(EmailDelivery.objects.values_list("key", "status")) == [
        (f"receipt:order-{order.pk}", "sent")
    ]
    assert WebhookEvent.objects.get().outcome == "order paid"
    assert order.book.__class__.objects.get(pk=order.book_id).sales_count == 1
    assert_ledger_clean()
