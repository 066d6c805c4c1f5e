import uuid

import pytest
from django.urls import reverse

from payments import services
from payments.models import Order, Refund
from tests.factories import BookFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_order():
    order = services.place_order(
        buyer=UserFactory(), book=BookFactory(), amount_cents=2000, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=order.pk, amount_cents=2000)
    return Order.objects.get(pk=order.pk)


def test_admins_filter_orders_and_see_their_ledger(client, paid_order):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    listing = client.get(
        reverse("admin:payments_order_changelist"), {"status__exact": "paid", "gateway": "demo"}
    )
    assert listing.status_code == 200 and paid_order.book.title in listing.content.decode()

    detail = client.get(
        reverse("admin:payments_order_change", args=[paid_order.pk])
    ).content.decode()
    assert "Sale" in detail and "+$16.00" in detail and "+$4.00" in detail and "-$20.00" in detail
    assert "¢" not in detail


def test_orders_cannot_be_edited_or_deleted_by_hand(client, paid_order):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    client.post(
        reverse("admin:payments_order_change", args=[paid_order.pk]), {"status": "refunded"}
    )
    assert (
        client.get(reverse("admin:payments_order_delete", args=[paid_order.pk])).status_code == 403
    )
    paid_order.refresh_from_db()
    assert paid_order.status == "paid"


def test_readers_cannot_open_the_admin(client, paid_order):
    client.force_login(UserFactory())
    response = client.get(reverse("admin:payments_order_change", args=[paid_order.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_every_payments_admin_page_reads_money_in_dollars(client, paid_order):
    """Every list and one row's page of each payments model: no bare cents."""
    from django.apps import apps
    from django.core.management import call_command

    from payments import refunds

    call_command("seed_demo", "--quiet-accounts")  # packs, credits, sales
    refunds.refund_order(order_id=paid_order.pk, actor=paid_order.buyer)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for model in apps.get_app_config("payments").get_models():
        name = model._meta.model_name
        try:
            listing = client.get(
                reverse(f"admin:payments_{name}_changelist"),
                {"status": "all"} if model is Refund else {},
            )
        except Exception:  # noqa: S112  (not registered: LedgerDaily)
            continue
        assert listing.status_code == 200, name
        assert "¢" not in listing.content.decode(), name
        assert ">2000<" not in listing.content.decode(), name  # paid_order's $20.00
        row = model.objects.order_by("pk").first()
        if row is None:
            continue
        page = client.get(reverse(f"admin:payments_{name}_change", args=[row.pk]))
        assert page.status_code == 200, name
        assert "¢" not in page.content.decode(), name
        assert ">2000<" not in page.content.decode(), name
