"""A receipt sent by a real Celery worker logs the id of the request that paid the order."""

import uuid

import pytest
from django.urls import reverse

from payments.models import Order
from tests.factories import BookFactory, UserFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_the_worker_s_receipt_log_names_the_request_that_paid(
    client, smtp_server, celery_worker_process
):
    reader = UserFactory()
    client.force_login(reader)
    book = BookFactory(slug="the-book", minimum_price_cents=999)
    client.post(
        reverse("payments:pay", args=[book.slug]),
        {"amount": "19.50", "checkout_token": str(uuid.uuid4())},
    )
    order = Order.objects.get(buyer=reader)

    response = client.post(
        reverse("payments:pay_order", args=[order.public_id]),
        {"card_number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"},
        HTTP_X_REQUEST_ID="pay-req-0042",
    )

    assert response.status_code == 302 and response["X-Request-ID"] == "pay-req-0042"
    smtp_server.wait_for(1, timeout=15)
    log = celery_worker_process.wait_for_log(f"sent: receipt:order-{order.pk}", timeout=10)
    [line] = [line for line in log.splitlines() if f"sent: receipt:order-{order.pk}" in line]
    assert "[pay-req-0042]" in line
