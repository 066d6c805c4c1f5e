"""The admin's refund queue: held requests first, decided in bulk, each once, logged."""

import uuid
from collections import Counter

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.urls import reverse

from payments import refund_queue, refunds, services
from payments.gateways.demo import DemoGateway
from payments.models import LedgerTransaction, Order, Refund, RefundAction
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import BookFactory, UserFactory

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:payments_refund_changelist")


def paid_order(buyer, amount=2000, title=None):
    book = BookFactory(minimum_price_cents=99, **({"title": title} if title else {}))
    order = services.place_order(
        buyer=buyer, book=book, amount_cents=amount, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=order.pk, amount_cents=amount)
    return Order.objects.get(pk=order.pk)


@pytest.fixture
def admin_user():
    return UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def serial_refunder(settings):
    """A reader with two refunds made (auto-approved) and, past the limit of two,
    two more held for review."""
    settings.REFUND_AUTO_LIMIT = 2
    reader = UserFactory(email="serial@example.com")
    for amount in (1500, 2500):
        refunds.request_refund(order_id=paid_order(reader, amount).pk, user=reader)
        refunds.execute_refund(refund_id=Refund.objects.latest("pk").pk)
    held = [
        refunds.request_refund(order_id=paid_order(reader, 499, title=title).pk, user=reader)
        for title in ("Held Book One", "Held Book Two")
    ]
    assert [r.status for r in held] == ["requested", "requested"]
    return reader, held


@pytest.fixture
def gateway_calls(monkeypatch):
    """Every refund the demo gateway is asked to make, by idempotency key."""
    calls = Counter()
    real = DemoGateway.refund

    def counting(self, *, idempotency_key, **kwargs):
        calls[idempotency_key] += 1
        return real(self, idempotency_key=idempotency_key, **kwargs)

    monkeypatch.setattr(DemoGateway, "refund", counting)
    return calls


def decide(client, action, refunds_, **extra):
    """The confirmation page's POST: the selected requests and the reason."""
    return client.post(
        QUEUE,
        {"action": action, "_selected_action": [r.pk for r in refunds_], "confirm": "1", **extra},
        follow=True,
    )


def test_the_queue_opens_on_the_requests_waiting_for_review(admin_client, serial_refunder):
    _, held = serial_refunder
    Refund.objects.filter(pk=held[0].pk).update(reason="Wrong edition, I wanted the PDF")

    page = admin_client.get(QUEUE).content.decode()

    assert "Refund requests waiting for review" in page
    assert page.count('name="_selected_action"') == 2  # the two held, not the two refunded
    assert "Held Book One" in page and "Held Book Two" in page
    assert "serial@example.com" in page and "$4.99" in page
    assert "Wrong edition, I wanted the PDF" in page
    assert "2 refunds · $40.00" in page  # what the reader had refunded before
    assert "Refund limit: 2 refunds in 90 days, auto-approve limit 2" in page
    assert "¢" not in page and ">499<" not in page
    everything = admin_client.get(QUEUE, {"status": "all"}).content.decode()
    assert everything.count('name="_selected_action"') == 4


def test_the_rule_that_held_a_refund_is_stored_with_it(serial_refunder):
    _, held = serial_refunder
    assert Refund.objects.get(pk=held[0].pk).held_by.startswith("Refund limit: 2 refunds")
    assert Refund.objects.filter(auto_approved=True, held_by="").count() == 2


def test_bulk_approve_refunds_each_request_once_even_when_posted_twice(
    admin_client, admin_user, serial_refunder, gateway_calls
):
    _, held = serial_refunder
    asking = admin_client.post(
        QUEUE, {"action": "approve", "_selected_action": [r.pk for r in held]}
    )
    assert "Approve and refund" in asking.content.decode() and "$9.98 in all" in (
        asking.content.decode()
    )
    assert Refund.objects.filter(status="requested").count() == 2  # nothing decided yet

    tampered = admin_client.post(
        QUEUE, {"action": "approve", "_selected_action": ["x1"], "confirm": "1"}
    )
    assert tampered.status_code == 400  # a bad id is no 500, and decides nothing
    assert admin_client.get(QUEUE, {"status": "bogus"}).status_code == 302  # Django's ?e=1
    first = decide(admin_client, "approve", held, note="Known reader, fine.")
    second = decide(admin_client, "approve", held, note="Known reader, fine.")

    assert "2 request(s) approved and refunded." in first.content.decode()
    assert "2 selected request(s) were not waiting for review" in second.content.decode()
    for refund in held:
        refund.refresh_from_db()
        assert (refund.status, refund.decided_by) == ("refunded", admin_user)
        assert gateway_calls[f"order-{refund.order.public_id}-refund"] == 1
        assert LedgerTransaction.objects.filter(order=refund.order, kind="refund").count() == 1
        assert list(refund.actions.filter(action="approved").values_list("actor", "note")) == [
            (admin_user.pk, "Known reader, fine.")
        ]


def test_two_posts_at_the_same_instant_refund_each_request_once(
    transactional_db, settings, gateway_calls
):
    """PostgreSQL: two tabs confirm the same bulk approval together; the refund's
    row lock lets one send each refund."""
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    settings.REFUND_AUTO_LIMIT = 0
    reader, admin = UserFactory(), UserFactory(is_staff=True, is_superuser=True)
    held = [refunds.request_refund(order_id=paid_order(reader).pk, user=reader) for _ in range(3)]
    tabs = [Client(), Client()]
    for tab in tabs:
        tab.force_login(admin)

    statuses = at_once(*(lambda t=t: decide(t, "approve", held).status_code for t in tabs))

    assert statuses == [200, 200]
    assert sorted(gateway_calls.values()) == [1, 1, 1]
    assert set(Refund.objects.values_list("status", flat=True)) == {"refunded"}
    assert LedgerTransaction.objects.filter(kind="refund").count() == 3
    assert RefundAction.objects.filter(action="approved").count() == 3


def test_denying_needs_a_reason_that_the_reader_reads(
    client, admin_client, serial_refunder, django_capture_on_commit_callbacks, mailoutbox
):
    reader, held = serial_refunder

    blank = decide(admin_client, "deny", held, note="   ")
    assert "This field is required." in blank.content.decode()
    assert Refund.objects.filter(status="requested").count() == 2
    with pytest.raises(refunds.RefundError):
        refund_queue.deny_many(refund_ids=[held[0].pk], admin=reader, note=" ")
    with pytest.raises(refunds.RefundError):
        refunds.deny_refund(refund_id=held[0].pk, admin=reader, note="")
    assert Refund.objects.filter(status="requested").count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        done = decide(admin_client, "deny", held, note="Four refunds in a month is too many.")
    assert "2 request(s) denied (the reason is e-mailed to the reader)." in done.content.decode()
    assert set(
        Refund.objects.filter(pk__in=[r.pk for r in held]).values_list("status", flat=True)
    ) == {"denied"}
    assert sum("Four refunds in a month is too many." in m.body for m in mailoutbox) == 2
    client.force_login(reader)
    receipt = client.get(held[0].order.get_absolute_url()).content.decode()
    assert "Four refunds in a month is too many." in receipt


def test_every_decision_is_logged_with_its_actor(admin_client, admin_user, serial_refunder):
    _, (approved, denied) = serial_refunder
    decide(admin_client, "approve", [approved], note="ok")
    decide(admin_client, "deny", [denied], note="No.")

    log = RefundAction.objects.filter(
        actor=admin_user, action__in=["approved", "denied"]
    ).values_list("refund", "action", "note")
    assert set(log) == {(approved.pk, "approved", "ok"), (denied.pk, "denied", "No.")}
    assert Refund.objects.get(pk=denied.pk).decided_by == admin_user
    # The log is readable in the admin, from the queue and on its own page.
    queue = admin_client.get(QUEUE, {"status": "denied"}).content.decode()
    assert "boss@example.com" in queue
    logged = admin_client.get(reverse("admin:payments_refundaction_changelist")).content.decode()
    assert "approved" in logged and "denied" in logged and "boss@example.com" in logged
    detail = admin_client.get(reverse("admin:payments_refund_change", args=[denied.pk]))
    assert "No." in detail.content.decode() and "boss@example.com" in detail.content.decode()


def test_readers_and_staff_without_the_right_cannot_decide(client, serial_refunder):
    reader, held = serial_refunder

    client.force_login(reader)
    assert client.get(QUEUE).status_code == 302
    response = client.post(
        QUEUE, {"action": "approve", "_selected_action": [held[0].pk], "confirm": "1"}
    )
    assert response.status_code == 302 and "/admin/login/" in response["Location"]

    client.force_login(UserFactory(is_staff=True))  # staff, no permission on refunds
    assert client.get(QUEUE).status_code == 403
    assert decide(client, "approve", held).status_code == 403

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_refund"))
    client.force_login(viewer)
    assert client.get(QUEUE).status_code == 200  # may read the queue, not decide
    decide(client, "approve", held)
    decide(client, "deny", held, note="no")
    assert Refund.objects.filter(status="requested").count() == 2
    assert not RefundAction.objects.filter(action__in=["approved", "denied"]).exists()


def test_admin_rows_read_as_sentences_and_money_in_dollars(admin_client):
    order = paid_order(UserFactory(email="ana@example.com"), 499, title="Deep Work")

    assert str(order) == f"Order #{order.pk} · Deep Work · ana@example.com · $4.99 · paid"
    for name in ["order", "ledgertransaction", "creditlot", "creditentry", "payout"]:
        page = admin_client.get(reverse(f"admin:payments_{name}_changelist")).content.decode()
        assert "¢" not in page, name
    orders = admin_client.get(reverse("admin:payments_order_changelist")).content.decode()
    assert "$4.99" in orders and ">499<" not in orders
    detail = admin_client.get(reverse("admin:payments_order_change", args=[order.pk]))
    assert "$4.99" in detail.content.decode() and ">499<" not in detail.content.decode()


def test_the_admin_index_names_each_section_once(admin_client):
    sections = [app["name"] for app in admin_client.get(reverse("admin:index")).context["app_list"]]
    assert len(sections) == len(set(sections)), sections
    assert "Users" in sections and "Sign-in e-mail addresses" in sections
