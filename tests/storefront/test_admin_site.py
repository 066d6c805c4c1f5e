"""The admin never answers a 500 to an empty ``_to_field`` or to adding an outbox row."""

import pytest
from django.contrib import admin
from django.urls import reverse

from core.models import EmailDelivery
from payments.models import PayoutAccount
from storefront.admin_site import EmptyToFieldIsAbsent, StoreAdminSite
from tests.factories import AuthorFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_an_empty_to_field_is_read_as_absent(staff_client):
    author = AuthorFactory()
    account = PayoutAccount.objects.create(author=author, paypal_email="payouts@example.com")
    for name in ("change", "delete"):
        url = reverse(f"admin:payments_payoutaccount_{name}", args=[account.pk])
        assert staff_client.get(url, {"_to_field": ""}).status_code == 200


def test_every_registered_admin_is_covered():
    assert isinstance(admin.site, StoreAdminSite)
    uncovered = [
        str(model_admin)
        for model_admin in admin.site._registry.values()
        if not isinstance(model_admin, EmptyToFieldIsAbsent)
    ]
    assert uncovered == []


def test_outbox_rows_are_not_made_by_hand(staff_client):
    response = staff_client.get(reverse(f"admin:{EmailDelivery._meta.app_label}_emaildelivery_add"))
    assert response.status_code == 403
    assert not EmailDelivery.objects.exists()
