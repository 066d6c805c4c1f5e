"""The author's webhook pages: add an endpoint, see its secret, rotate it, read the
delivery log and resend; someone else's endpoints and deliveries are 404."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import AuthorFactory, UserFactory
from webhooks import tasks
from webhooks.models import Attempt, Delivery, Endpoint, Event, new_event_id

from .conftest import add_endpoint, buy, endpoint_url

pytestmark = pytest.mark.django_db


def test_an_author_adds_an_endpoint_and_sees_its_secret(client, author, receiver):
    response = client.post(
        reverse("webhooks:endpoints"),
        {
            "url": receiver.url,
            "description": "Spreadsheet",
            "event_types": ["sale.completed", "refund.completed"],
        },
    )
    endpoint = Endpoint.objects.get(author=author)
    assert response.status_code == 302 and response["Location"] == endpoint_url(endpoint)
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.event_types == ["refund.completed", "sale.completed"]
    page = client.get(endpoint_url(endpoint)).content.decode()
    assert endpoint.secret in page
    assert receiver.url in client.get(reverse("webhooks:endpoints")).content.decode()


def test_bad_input_is_a_form_error_and_adds_nothing(client, author, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    for data, error in [
        ({"url": "https://127.0.0.1/x", "event_types": ["sale.completed"]}, "loopback"),
        ({"url": "https://10.0.0.1/x", "event_types": ["sale.completed"]}, "private address"),
        ({"url": "not a url", "event_types": ["sale.completed"]}, "Enter a valid URL"),
        (
            {"url": "https://93.184.216.34/x", "event_types": ["gift.claimed"]},
            "not one of the available",
        ),
        ({"url": "https://93.184.216.34/x"}, "Pick at least one event"),
    ]:
        response = client.post(reverse("webhooks:endpoints"), data)
        assert response.status_code == 200
        assert error in response.content.decode()
    assert not Endpoint.objects.exists()


def test_rotating_shows_the_new_secret_and_keeps_the_old_one_signing(client, author, receiver):
    endpoint = add_endpoint(author, receiver)
    old = endpoint.secret
    client.post(reverse("webhooks:rotate", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    page = client.get(endpoint_url(endpoint)).content.decode()
    assert endpoint.secret in page and "previous secret also signs" in page


def test_editing_an_endpoint_changes_its_events(client, author, receiver):
    endpoint = add_endpoint(author, receiver)
    client.post(endpoint_url(endpoint), {"url": receiver.url, "event_types": ["payout.sent"]})
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["payout.sent"]


@pytest.mark.django_db(transaction=True)
def test_the_delivery_log_shows_answers_and_the_next_retry_and_resends(client, seller, receiver):
    author, book = seller
    endpoint = add_endpoint(author, receiver)
    receiver.statuses = [503]
    buy(client, book)
    tasks.send_due_webhooks()
    client.force_login(author.user)

    page = client.get(endpoint_url(endpoint)).content.decode()
    assert "HTTP 503" in page and "maintenance" in page and "Next try" in page
    row = Delivery.objects.get()
    resend = reverse("webhooks:resend", args=[endpoint.pk, row.pk])
    assert resend not in page  # pending: it will be retried anyway

    Delivery.objects.filter(pk=row.pk).update(status="failed", next_attempt_at=None)
    assert resend in client.get(endpoint_url(endpoint)).content.decode()
    assert client.post(resend).status_code == 302
    client.post(resend)  # a double click
    tasks.send_due_webhooks()
    row.refresh_from_db()
    assert row.status == "succeeded" and row.attempts == 2
    assert "HTTP 200" in client.get(endpoint_url(endpoint)).content.decode()


def test_someone_elses_endpoint_and_delivery_are_404(client, author, receiver):
    mine = add_endpoint(author, receiver)
    theirs = add_endpoint(AuthorFactory(), receiver)
    event = Event.objects.create(author=theirs.author, type="sale.completed", key="x", payload={})
    their_delivery = Delivery.objects.create(
        event=event, endpoint=theirs, status="failed", retry_until=timezone.now()
    )
    assert client.get(endpoint_url(theirs)).status_code == 404
    assert client.post(reverse("webhooks:delete", args=[theirs.pk])).status_code == 404
    # their delivery under my endpoint's URL
    assert (
        client.post(reverse("webhooks:resend", args=[mine.pk, their_delivery.pk])).status_code
        == 404
    )
    their_delivery.refresh_from_db()
    assert their_delivery.status == "failed"
    assert Endpoint.objects.filter(pk=theirs.pk).exists()


def test_disabling_and_enabling(client, author, receiver):
    endpoint = add_endpoint(author, receiver)
    client.post(reverse("webhooks:set_enabled", args=[endpoint.pk]), {"enabled": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "Disabled" in client.get(endpoint_url(endpoint)).content.decode()
    client.post(reverse("webhooks:set_enabled", args=[endpoint.pk]), {"enabled": "1"})
    endpoint.refresh_from_db()
    assert endpoint.enabled


def _log_with(endpoint, count):
    for _ in range(count):
        event = Event.objects.create(
            author=endpoint.author, type="sale.completed", key=new_event_id(), payload={}
        )
        row = Delivery.objects.create(
            event=event, endpoint=endpoint, status="failed", attempts=2, retry_until=timezone.now()
        )
        for number in (1, 2):
            Attempt.objects.create(delivery=row, number=number, at=timezone.now(), status_code=500)


def test_the_log_page_costs_the_same_queries_with_1_or_25_deliveries(client, author, receiver):
    endpoint = add_endpoint(author, receiver)
    _log_with(endpoint, 1)
    client.get(endpoint_url(endpoint))  # warm the user cache
    with CaptureQueriesContext(connection) as one:
        assert client.get(endpoint_url(endpoint)).status_code == 200
    _log_with(endpoint, 24)
    with CaptureQueriesContext(connection) as many:
        assert client.get(endpoint_url(endpoint)).content.decode().count("HTTP 500") == 50
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


def test_the_account_page_links_authors_to_their_webhooks(client, author):
    assert reverse("webhooks:endpoints") in client.get(reverse("account")).content.decode()


def test_a_reader_without_an_author_profile_gets_404(client):
    client.force_login(UserFactory())
    assert client.get(reverse("webhooks:endpoints")).status_code == 404
