"""The gift and team licence pages, as a buyer, a recipient and a stranger use them."""

import csv
import io
import re
import uuid
from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import EmailDelivery
from library.models import Entitlement
from library.services import owns
from payments import cart_payments, team_licences
from payments.models import Gift, Order, TeamLicence
from tests.factories import BookFactory, UserFactory, listed_bundle
from tests.payments.conftest import DECLINED, VISA

pytestmark = pytest.mark.django_db


@pytest.fixture
def book():
    return BookFactory(
        slug="gifted",
        title="Gifted",
        minimum_price_cents=999,
        suggested_price_cents=1999,
        team_licences=True,
        team_seat_discount_percent=20,
    )


@pytest.fixture
def giver(client):
    user = UserFactory(email="giver@example.com")
    client.force_login(user)
    return user


def gift_post(client, book, **overrides):
    page = client.get(reverse("payments:gift_checkout", args=[book.slug]), {"amount": "19.99"})
    assert page.status_code == 200
    data = {
        "amount": "19.99",
        "recipient_email": "friend@example.com",
        "message": "Enjoy <b>this</b>!",
        "deliver_on": "",
        "card_number": VISA,
        "expiry": "12/34",
        "cvc": "123",
        "checkout_token": str(page.context["checkout_token"]),
        **overrides,
    }
    return client.post(reverse("payments:gift_checkout", args=[book.slug]), data)


def claim_url_in(mail) -> str:
    return re.search(r"https?://\S+(/gift/[0-9a-f-]+/)", mail.body).group(1)


def test_the_book_page_offers_a_gift_and_a_team_licence(client, book):
    page = client.get(book.get_absolute_url()).content.decode()
    assert reverse("payments:gift_checkout", args=[book.slug]) in page
    assert reverse("payments:licence_checkout", args=[book.slug]) in page


def test_a_gift_is_bought_on_one_page_and_its_buyer_sees_it_unclaimed(client, giver, book):
    response = gift_post(client, book)
    gift = Gift.objects.get()
    assert response.status_code == 302 and response.url == gift.get_absolute_url()
    page = client.get(gift.get_absolute_url()).content.decode()
    assert "Sent, not claimed yet" in page and "friend@example.com" in page
    assert "Refund this gift" in page


def test_a_double_submit_charges_once(client, giver, book):
    page = client.get(reverse("payments:gift_checkout", args=[book.slug]), {"amount": "19.99"})
    token = str(page.context["checkout_token"])
    gift_post(client, book, checkout_token=token)
    gift_post(client, book, checkout_token=token)
    assert Order.objects.count() == 1 and Gift.objects.count() == 1


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("recipient_email", "nope", "valid email"),
        ("deliver_on", "2000-01-01", "in the past"),
        ("amount", "1.00", "minimum"),
        ("card_number", DECLINED, "declined"),
    ],
)
def test_bad_input_is_a_clear_message_and_nothing_is_charged(
    client, giver, book, field, value, message
):
    response = gift_post(client, book, **{field: value})
    assert response.status_code in (400, 402)
    assert message in response.content.decode().lower()
    assert not Order.objects.filter(status="paid").exists()


def test_the_recipient_claims_without_an_account_and_lands_signed_in(client, giver, book):
    gift_post(client, book)
    mail = EmailDelivery.objects.get(key__startswith="gift-claim:")
    claim = claim_url_in(mail)
    assert "19.99" not in mail.body  # the recipient never sees what was paid
    visitor = Client()
    page = visitor.get(claim)
    assert "Enjoy &lt;b&gt;this&lt;/b&gt;!" in page.content.decode()  # escaped
    assert "19.99" not in page.content.decode()
    response = visitor.post(claim)
    assert response.status_code == 302 and "/accounts/link/" in response.url
    visitor.post(response.url)  # the one-time sign-in link's confirmation
    library = visitor.get(reverse("library:index"))
    assert "Gifted" in library.content.decode()
    friend = Entitlement.objects.get(book=book).user
    assert friend.email == "friend@example.com"
    # The library's "Receipt" link: where the book came from, never the price.
    receipt = visitor.get(reverse("payments:order", args=[Order.objects.get().public_id]))
    assert receipt.status_code == 200
    assert "A gift from" in receipt.content.decode() and "19.99" not in receipt.content.decode()
    second = Client().post(claim)
    assert second.status_code == 409 and "claimed already" in second.content.decode()


def test_a_stranger_sees_no_gift_page(client, giver, book):
    gift_post(client, book)
    gift = Gift.objects.get()
    stranger = Client()
    stranger.force_login(UserFactory())
    assert stranger.get(gift.get_absolute_url()).status_code == 404
    assert stranger.post(reverse("payments:gift_refund", args=[gift.public_id])).status_code == 404


def test_the_buyer_changes_the_address_and_refunds_through_the_page(client, giver, book):
    later = (timezone.now().astimezone(UTC) + timedelta(days=5)).date().isoformat()
    gift_post(client, book, deliver_on=later)
    gift = Gift.objects.get()
    assert gift.status == Gift.Status.SCHEDULED
    client.post(
        reverse("payments:gift_address", args=[gift.public_id]),
        {"recipient_email": "other@example.com"},
    )
    gift.refresh_from_db()
    assert gift.recipient_email == "other@example.com"
    assert not EmailDelivery.objects.filter(key__startswith="gift-claim:").exists()  # not its day
    client.post(reverse("payments:gift_refund", args=[gift.public_id]))
    gift.refresh_from_db()
    assert gift.status == Gift.Status.REFUNDED


def test_a_manager_buys_seats_invites_and_a_reader_claims(client, giver, book):
    page = client.get(reverse("payments:licence_checkout", args=[book.slug]))
    assert "$15.99" in page.content.decode()  # $19.99 less 20%
    response = client.post(
        reverse("payments:licence_checkout", args=[book.slug]),
        {
            "seats": "3",
            "card_number": VISA,
            "expiry": "12/34",
            "cvc": "123",
            "checkout_token": str(page.context["checkout_token"]),
        },
    )
    licence = TeamLicence.objects.get()
    assert response.url == licence.get_absolute_url()
    too_many = client.post(
        reverse("payments:licence_invite", args=[licence.public_id]),
        {"addresses": "\n".join(f"r{i}@example.com" for i in range(10_000))},
        follow=True,
    )
    assert "Nobody was invited" in too_many.content.decode()
    client.post(
        reverse("payments:licence_invite", args=[licence.public_id]),
        {"addresses": "a@example.com, b@example.com"},
    )
    mail = EmailDelivery.objects.filter(key__startswith="seat-invite:").first()
    claim = re.search(r"https?://\S+(/seat/[0-9a-f-]+/)", mail.body).group(1)
    reader = UserFactory(email=mail.to)
    reader_client = Client()
    reader_client.force_login(reader)
    assert reader_client.post(claim).status_code == 302
    assert owns(reader, book)
    page = client.get(licence.get_absolute_url()).content.decode()
    assert page.count("<td>Claimed</td>") == 1 and page.count("<td>Invited</td>") == 1
    stranger = Client()
    stranger.force_login(UserFactory())
    assert stranger.get(licence.get_absolute_url()).status_code == 404


def test_the_licence_page_costs_the_same_queries_for_3_or_30_seats(client, giver, book):
    counts = []
    for seats in (3, 30):
        payment = team_licences.place_licence(
            manager=giver, book=book, seats=seats, checkout_token=uuid.uuid4()
        )
        cart_payments.mark_payment_paid(payment_id=payment.pk, amount_cents=payment.amount_cents)
        licence = payment.team_licence
        team_licences.invite(
            licence_id=licence.pk, manager=giver, addresses=["a@example.com", "b@example.com"]
        )
        seat = licence.seats.get(email="a@example.com")
        team_licences.claim_seat(token=seat.claim_token, user=UserFactory())
        client.get(licence.get_absolute_url())  # warm: the session's own first reads
        with CaptureQueriesContext(connection) as queries:
            assert client.get(licence.get_absolute_url()).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_a_whole_bundle_is_given_from_its_page(client, giver):
    one = BookFactory(title="One", minimum_price_cents=999, suggested_price_cents=1999)
    two = BookFactory(title="Two", minimum_price_cents=999, suggested_price_cents=1999)
    bundle = listed_bundle([one, two], minimum_cents=2000, suggested_cents=3000, slug="pair")
    assert (
        reverse("payments:bundle_gift", args=["pair"])
        in client.get(reverse("payments:bundle", args=["pair"])).content.decode()
    )
    url = reverse("payments:bundle_gift", args=["pair"])
    page = client.get(url, {"amount": "30.00"})
    assert page.status_code == 200 and bundle.title in page.content.decode()
    response = client.post(
        url,
        {
            "amount": "30.00",
            "recipient_email": "friend@example.com",
            "card_number": VISA,
            "expiry": "12/34",
            "cvc": "123",
            "checkout_token": str(page.context["checkout_token"]),
        },
    )
    gift = Gift.objects.get()
    assert response.url == gift.get_absolute_url() and gift.title == bundle.title
    assert sorted(gift.orders.values_list("amount_cents", flat=True)) == [1500, 1500]
    assert client.post(url, {"amount": "5.00"}).status_code == 400  # below the minimum


def test_the_author_sees_gift_and_team_seat_sales_in_the_dashboard_and_csv(client, giver, book):
    gift_post(client, book)
    payment = team_licences.place_licence(
        manager=giver, book=book, seats=2, checkout_token=uuid.uuid4()
    )
    cart_payments.mark_payment_paid(payment_id=payment.pk, amount_cents=payment.amount_cents)
    author = Client()
    author.force_login(book.authorships.first().author.user)
    html = author.get(reverse("payments:earnings"), {"range": "all"}).content.decode()
    assert html.count("<td>gift</td>") == 1 and html.count("<td>team seat</td>") == 2
    response = author.get(reverse("payments:earnings_csv"), {"range": "all"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][-1] == "sold_as"
    assert sorted(row[-1] for row in rows[1:]) == ["gift", "team seat", "team seat"]
    assert sorted(row[3] for row in rows[1:]) == ["15.99", "15.99", "19.99"]
