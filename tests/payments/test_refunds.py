import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from library.models import Entitlement
from payments import refunds, services
from payments.ledger import audit
from payments.models import LedgerEntry, LedgerTransaction, Order, Refund, RefundAction
from tests.factories import BookFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client):
    user = UserFactory()
    client.force_login(user)
    return user


def paid_order(buyer, amount=2000, paid_ago=None):
    book = (
        BookFactory(minimum_price_cents=0, suggested_price_cents=0)
        if amount == 0
        else BookFactory()
    )
    order = services.place_order(
        buyer=buyer, book=book, amount_cents=amount, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=order.pk, amount_cents=amount)
    if paid_ago is not None:  # as if it had been paid then
        paid_at = timezone.now() - paid_ago
        Order.objects.filter(pk=order.pk).update(paid_at=paid_at)
        Entitlement.objects.filter(order_ref=order.public_id).update(
            refundable_until=paid_at + timedelta(days=60)
        )
    return Order.objects.get(pk=order.pk)


def refund_url(order):
    return reverse("payments:refund", args=[order.public_id])


def test_two_clicks_refund_everything_and_take_the_book_back(
    client, reader, django_capture_on_commit_callbacks, mailoutbox
):
    order = paid_order(reader, 1950)

    # Click 1: what happens.
    page = client.get(refund_url(order)).content.decode()
    assert (
        "All of the $19.50 you paid goes back" in page and "The book leaves your library." in page
    )
    # Click 2: do it.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(refund_url(order), {"reason": "Not for me"})

    assert response["Location"] == order.get_absolute_url()
    order.refresh_from_db()
    assert order.status == "refunded"
    refund = order.refund
    assert (refund.status, refund.amount_cents, refund.reason, refund.auto_approved) == (
        "refunded",
        1950,
        "Not for me",
        True,
    )
    assert refund.gateway_refund_id == f"demo_re_order-{order.public_id}-refund"
    assert not Entitlement.objects.get(user=reader).is_active
    sale = LedgerTransaction.objects.get(order=order, kind="sale")
    reversal = LedgerTransaction.objects.get(order=order, kind="refund")
    assert reversal.reverses == sale
    assert sorted(e.amount_cents for e in reversal.entries.all()) == sorted(
        -e.amount_cents for e in sale.entries.all()
    )
    assert audit().ok
    assert [m.subject for m in mailoutbox][-1] == f"Your refund for {order.book.title}"
    status = client.get(order.get_absolute_url()).content.decode()
    assert "Refund: <strong>Refunded</strong>" in status


def test_a_double_click_refunds_once(client, reader):
    order = paid_order(reader)
    client.post(refund_url(order))
    client.post(refund_url(order))
    refunds.execute_refund(refund_id=order.refund.pk)
    refunds.complete_refund(order_id=order.pk, gateway_refund_id="re_from_webhook")

    assert LedgerTransaction.objects.filter(order=order, kind="refund").count() == 1
    assert Refund.objects.count() == 1
    assert audit().ok


def test_the_window_closes_to_the_second(client, reader, settings):
    inside = paid_order(reader, paid_ago=timedelta(days=59, hours=23))
    outside = paid_order(reader, paid_ago=timedelta(days=60, seconds=1))

    client.post(refund_url(inside))
    inside.refresh_from_db()
    assert inside.status == "refunded"

    page = client.get(refund_url(outside)).content.decode()
    assert "refund window closed" in page and "Confirm refund" not in page
    response = client.post(refund_url(outside))
    assert response.status_code == 400 and "refund window closed" in response.content.decode()
    outside.refresh_from_db()
    assert outside.status == "paid" and not Refund.objects.filter(order=outside).exists()


def test_the_button_disappears_after_the_window(client, reader):
    fresh = paid_order(reader)
    old = paid_order(reader, paid_ago=timedelta(days=61))

    assert refund_url(fresh) in client.get(fresh.get_absolute_url()).content.decode()
    assert refund_url(old) not in client.get(old.get_absolute_url()).content.decode()
    library = client.get(reverse("library:index")).content.decode()
    assert refund_url(fresh) in library and refund_url(old) not in library


def test_past_the_abuse_limit_refunds_wait_for_an_admin(
    client, reader, settings, django_capture_on_commit_callbacks, mailoutbox
):
    settings.REFUND_AUTO_LIMIT = 2
    orders = [paid_order(reader) for _ in range(3)]
    for order in orders:
        client.post(refund_url(order))

    statuses = [Refund.objects.get(order=o).status for o in orders]
    assert statuses == ["refunded", "refunded", "requested"]
    held = Refund.objects.get(order=orders[2])
    assert not held.auto_approved
    assert Order.objects.get(pk=orders[2].pk).status == "paid"

    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    history = client.get(reverse("admin:payments_refund_change", args=[held.pk])).content.decode()
    assert history.count(orders[0].book.title) >= 1 and "Requested (manual review)" in history
    client.post(
        reverse("admin:payments_refund_changelist"),
        {"action": "approve", "_selected_action": [held.pk], "confirm": "1"},
    )
    held.refresh_from_db()
    assert held.status == "refunded"
    assert RefundAction.objects.filter(refund=held, actor=admin, action="approved").exists()


def test_admins_deny_with_a_reason_that_is_emailed(
    client, reader, settings, django_capture_on_commit_callbacks, mailoutbox
):
    settings.REFUND_AUTO_LIMIT = 0
    order = paid_order(reader)
    client.post(refund_url(order))
    refund = order.refund
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:payments_refund_changelist"),
            {
                "action": "deny",
                "_selected_action": [refund.pk],
                "confirm": "1",
                "note": "You read the whole book three times.",
            },
        )

    refund.refresh_from_db()
    assert refund.status == "denied"
    assert "You read the whole book three times." in mailoutbox[-1].body
    assert Order.objects.get(pk=order.pk).status == "paid"


def test_a_gateway_error_leaves_the_order_paid_and_the_refund_retryable(
    client, reader, monkeypatch
):
    from payments.gateways import GatewayError
    from payments.gateways.demo import DemoGateway

    order = paid_order(reader)

    def broken(self, **kwargs):
        raise GatewayError("provider down")

    monkeypatch.setattr(DemoGateway, "refund", broken)
    client.post(refund_url(order))
    order.refresh_from_db()
    assert (
        order.status == "paid"
        and order.refund.status == "failed"
        and "provider down" in order.refund.last_error
    )
    assert Entitlement.objects.get(user=reader).is_active

    monkeypatch.undo()
    refunds.execute_refund(refund_id=order.refund.pk)
    order.refresh_from_db()
    assert order.status == "refunded" and audit().ok


def test_failed_refunds_are_retried_on_schedule_until_their_attempts_run_out(
    client, reader, monkeypatch
):
    from payments.gateways import GatewayError
    from payments.gateways.demo import DemoGateway
    from payments.tasks import retry_failed_refunds

    order = paid_order(reader)
    calls = []

    def broken(self, **kwargs):
        calls.append(kwargs["idempotency_key"])
        raise GatewayError("provider down")

    monkeypatch.setattr(DemoGateway, "refund", broken)
    client.post(refund_url(order))  # attempt 1
    assert retry_failed_refunds.delay().get() == 0  # attempt 2, still down
    assert refunds.retry_failed_refunds(max_attempts=2) == 0  # 2 made: not retried
    assert len(calls) == 2 and len(set(calls)) == 1  # one idempotency key

    monkeypatch.undo()
    assert refunds.retry_failed_refunds() == 1
    assert refunds.retry_failed_refunds() == 0  # nothing left; nothing refunded twice
    order.refresh_from_db()
    assert order.status == "refunded" and order.refund.attempts == 3 and audit().ok


def test_a_refund_whose_process_died_mid_call_is_retried_but_not_one_in_flight(reader):
    stuck, in_flight = paid_order(reader), paid_order(reader)
    for order, minutes in [(stuck, 11), (in_flight, 1)]:
        Refund.objects.create(
            order=order,
            amount_cents=order.amount_cents,
            status=Refund.Status.PROCESSING,
            attempts=1,
            processing_since=timezone.now() - timedelta(minutes=minutes),
        )

    assert refunds.retry_failed_refunds() == 1

    stuck.refresh_from_db(), in_flight.refresh_from_db()
    assert stuck.status == "refunded" and stuck.refund.attempts == 2
    assert in_flight.status == "paid" and in_flight.refund.status == "processing"
    assert RefundAction.objects.filter(refund=stuck.refund, action__contains="interrupted").exists()
    assert audit().ok


def test_admins_can_refund_outside_the_window(client, reader):
    order = paid_order(reader, paid_ago=timedelta(days=200))
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    client.post(
        reverse("admin:payments_order_changelist"),
        {"action": "refund_orders", "_selected_action": [order.pk]},
    )

    order.refresh_from_db()
    assert order.status == "refunded" and audit().ok


@pytest.mark.parametrize(
    "case", ["someone else's", "unpaid", "refunded already", "free", "tampered id"]
)
def test_bad_refund_requests_change_nothing(client, reader, case):
    if case == "someone else's":
        order = paid_order(UserFactory())
    elif case == "unpaid":
        order = services.place_order(
            buyer=reader, book=BookFactory(), amount_cents=2000, checkout_token=uuid.uuid4()
        )
    elif case == "refunded already":
        order = paid_order(reader)
        client.post(refund_url(order))
    elif case == "free":
        order = paid_order(reader, amount=0)
    else:
        response = client.post(reverse("payments:refund", args=[uuid.uuid4()]))
        assert response.status_code == 404
        return
    before = (LedgerEntry.objects.count(), Refund.objects.count())

    response = client.post(refund_url(order))

    assert response.status_code in (302, 400, 404)
    assert (LedgerEntry.objects.count(), Refund.objects.count()) == before
    if case == "free":
        assert "remove the book from your library" in response.content.decode()
