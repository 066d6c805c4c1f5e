"""Signed-in readers' pages are served from the cache on a repeat view
(core/reader_pages.py), never to anyone else, and every change shows at once."""

import re
import uuid

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from core.pagecache import bump_generation
from core.reader_pages import forget_reader, generation_key
from payments import credits
from tests.factories import AuthorFactory, BookFactory, UserFactory
from tests.library.test_library import buy, publish

pytestmark = pytest.mark.django_db

TOKENS = re.compile(r'name="(csrfmiddlewaretoken|checkout_token)" value="[^"]+"')


def neutral(html: str) -> str:
    """The page without its per-response values (CSRF and one-time tokens)."""
    return TOKENS.sub(r'name="\1" value=""', html)


@pytest.fixture
def book():
    book = BookFactory(title="Cached Stories", authors=[AuthorFactory()])
    publish(book, "1.0")
    return book


@pytest.fixture
def reader(client):
    reader = UserFactory(name="Ada")
    client.force_login(reader)
    return reader


def pages(book):
    return [
        book.get_absolute_url(),
        reverse("payments:checkout", args=[book.slug]) + "?amount=19.50",
        reverse("payments:orders"),
        reverse("payments:credits"),
        reverse("account"),
        reverse("library:index"),
    ]


def get(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response


@pytest.mark.parametrize("index", range(6))
def test_a_repeat_view_is_the_same_page_with_no_query(
    client, reader, book, django_assert_num_queries, index
):
    credits.grant_credits(user=reader, credits=2)  # the credit forms carry one-time tokens
    url = pages(book)[index]
    fresh = get(client, url)
    assert fresh["X-Page-Cache"] == "miss"

    with django_assert_num_queries(0):
        hit = get(client, url)
    assert hit["X-Page-Cache"] == "hit"
    assert neutral(hit.content.decode()) == neutral(fresh.content.decode())
    assert "private" in hit["Cache-Control"] and "Cookie" in hit["Vary"]
    assert b"@@reader-page" not in hit.content


def test_tokens_are_this_browsers_and_fresh_on_every_hit(client, reader, book):
    credits.grant_credits(user=reader, credits=2)
    url = pages(book)[1]
    get(client, url)
    first, second = get(client, url).content.decode(), get(client, url).content.decode()
    one_time = re.compile(r'name="checkout_token" value="([^"]+)"')
    assert len(one_time.findall(first)) == 2
    assert not set(one_time.findall(first)) & set(one_time.findall(second))
    for value in one_time.findall(first):
        uuid.UUID(value)
    # The CSRF token is valid for this browser: a POST with it is accepted.
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', first).group(1)
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    response = strict.post(
        reverse("payments:pay", args=[book.slug]),
        {"csrfmiddlewaretoken": csrf, "amount": "19.50", "checkout_token": str(uuid.uuid4())},
    )
    assert response.status_code == 302


def test_two_readers_never_see_each_others_page(client, reader, book):
    get(client, reverse("account"))
    other = Client()
    other.force_login(UserFactory(name="Grace", email="grace@example.com"))
    get(other, reverse("account"))
    html = get(other, reverse("account")).content.decode()
    assert "grace@example.com" in html and reader.email not in html


def test_two_sessions_of_one_reader_keep_their_own_carts(client, reader, book):
    url = pages(book)[0]
    get(client, url)
    phone = Client()
    phone.force_login(reader)
    get(phone, url)
    phone.get(reverse("payments:cart_add", args=[book.slug]) + "?amount=19.50")
    assert 'data-testid="cart-link"' in get(phone, url).content.decode()
    # The laptop's session has no cart; its page says so, cached or not.
    assert 'data-testid="cart-link"' not in get(client, url).content.decode()


def test_a_logged_out_browser_never_gets_the_signed_in_page(client, reader, book):
    url = reverse("payments:orders")
    get(client, url)
    cookie = client.cookies["sessionid"].value
    client.post(reverse("account_logout"))
    assert client.get(url).status_code == 302
    stale = Client()
    stale.cookies["sessionid"] = cookie  # the old cookie: its session is gone
    assert stale.get(url).status_code == 302


def test_messages_are_shown_once_and_never_cached(client, reader, book):
    url = book.get_absolute_url()
    cached(client, url)
    # A refused "Add to cart" link: the error is for the book page it returns to.
    response = client.get(reverse("payments:cart_add", args=[book.slug]) + "?amount=abc")
    assert response.status_code == 302
    shown = get(client, url)
    assert "Enter" in shown.content.decode() and "X-Page-Cache" not in shown
    assert shown.content.decode().count('class="message') == 1
    again = get(client, url)
    assert 'class="message' not in again.content.decode()


def test_staff_pages_are_not_cached(client, book):
    client.force_login(UserFactory(is_staff=True))
    get(client, reverse("account"))
    assert "X-Page-Cache" not in get(client, reverse("account"))


def test_a_coupon_link_is_never_cached(client, reader, book):
    url = pages(book)[0] + "?coupon=NOPE"
    get(client, url)
    assert "X-Page-Cache" not in get(client, url)


# --- Invalidation: every source shows on the next GET --------------------------


def cached(client, url) -> str:
    """The page, after making sure a copy of it is in the cache."""
    get(client, url)
    response = get(client, url)
    assert response["X-Page-Cache"] == "hit"
    return response.content.decode()


def test_a_purchase_shows_on_every_page(client, reader, book):
    assert "Your library is empty" in cached(client, reverse("library:index"))
    assert "No orders yet" in cached(client, reverse("payments:orders"))
    book_page = cached(client, pages(book)[0])
    buy(reader, book)  # the demo card's payment, as a webhook or the pay view books it
    assert "Cached Stories" in get(client, reverse("library:index")).content.decode()
    assert "Cached Stories" in get(client, reverse("payments:orders")).content.decode()
    assert get(client, pages(book)[0]).content.decode() != book_page


def test_paying_with_the_demo_card_shows_at_once(client, reader, book):
    assert "No orders yet" in cached(client, reverse("payments:orders"))
    response = client.post(
        reverse("payments:pay", args=[book.slug]),
        {"amount": "19.50", "checkout_token": str(uuid.uuid4())},
    )
    assert response.status_code == 302
    assert "No orders yet" not in get(client, reverse("payments:orders")).content.decode()


def test_a_refund_and_an_admin_refund_show_at_once(client, reader, book):
    from payments import refunds

    order = buy(reader, book)
    assert "Cached Stories" in cached(client, reverse("library:index"))
    refund = refunds.request_refund(order_id=order.pk, user=reader)
    refunds.approve_and_execute(refund_id=refund.pk, admin=UserFactory(is_staff=True))
    assert "Cached Stories" not in get(client, reverse("library:index")).content.decode()


def test_a_credit_grant_shows_at_once(client, reader, book):
    before = cached(client, reverse("payments:credits"))
    credits.grant_credits(user=reader, credits=3)
    assert get(client, reverse("payments:credits")).content.decode() != before
    assert (
        'data-testid="account-credits"><strong>3 credits'
        in get(client, reverse("account")).content.decode()
    )


def test_adding_to_the_cart_with_a_link_shows_in_the_header(client, reader, book):
    url = reverse("payments:orders")
    assert 'data-testid="cart-link"' not in cached(client, url)
    client.get(reverse("payments:cart_add", args=[book.slug]) + "?amount=19.50")
    assert 'data-testid="cart-link"' in get(client, url).content.decode()


def test_a_name_change_shows_in_the_header(client, reader, book):
    assert "Ada" in cached(client, reverse("payments:orders"))
    reader.name = "Augusta"
    reader.save()
    assert "Augusta" in get(client, reverse("payments:orders")).content.decode()


def test_a_new_release_shows_at_once(client, reader, book):
    buy(reader, book)
    assert "Version 1.0" in cached(client, reverse("library:index"))
    publish(book, "2.0")
    assert "Version 2.0" in get(client, reverse("library:index")).content.decode()


def test_a_revoked_entitlement_shows_at_once(client, reader, book):
    from library import services as library

    buy(reader, book)
    assert "Cached Stories" in cached(client, reverse("library:index"))
    library.revoke_entitlement(user=reader, book=book)
    assert "Cached Stories" not in get(client, reverse("library:index")).content.decode()


def test_a_post_of_the_reader_forgets_their_pages(client, reader, book):
    before = cache.get(generation_key(reader.pk))
    client.post(reverse("library:preferences"), {})
    assert cache.get(generation_key(reader.pk)) != before


def generation(user) -> int | None:
    return cache.get(generation_key(user.pk))


def test_rows_of_others_forget_their_readers(reader, book):
    """API keys, gifts (buyer and recipient), catalog: what other actors change."""
    from api.keys import create_key, revoke_key

    seen = generation(reader)
    key, _token = create_key(user=reader, name="CI", scopes=["read_sales"])
    assert generation(reader) != seen
    seen = generation(reader)
    revoke_key(user=reader, key_id=key.pk)
    assert generation(reader) != seen


def test_a_catalog_change_or_a_forgotten_reader_is_a_miss(client, reader, book):
    url = reverse("account")
    cached(client, url)
    bump_generation()  # any catalog change
    assert get(client, url)["X-Page-Cache"] == "miss"
    forget_reader(reader.pk)
    assert get(client, url)["X-Page-Cache"] == "miss"


def test_a_gift_claimed_by_its_recipient_shows_on_both_readers_pages(client, reader, book):
    from payments import cart_payments, gifts

    payment = gifts.place_book_gift(
        buyer=reader,
        book=book,
        amount_cents=1999,
        details=gifts.GiftDetails(
            recipient_email="friend@example.com", message="", deliver_on=None
        ),
        checkout_token=uuid.uuid4(),
    )
    cart_payments.mark_payment_paid(payment_id=payment.pk, amount_cents=payment.amount_cents)
    friend = UserFactory(email="friend@example.com")
    friends = Client()
    friends.force_login(friend)
    assert "Cached Stories" not in cached(friends, reverse("library:index"))
    cached(client, reverse("payments:orders"))
    seen = generation(reader)
    gifts.claim(token=payment.gifts.get().claim_token, user=friend)  # the recipient's claim
    assert generation(reader) != seen  # the buyer's orders page is rendered afresh
    assert get(client, reverse("payments:orders"))["X-Page-Cache"] == "miss"
    assert "Cached Stories" in get(friends, reverse("library:index")).content.decode()


def test_removing_a_cart_line_shows_in_the_header(client, reader, book):
    url = reverse("payments:orders")
    client.get(reverse("payments:cart_add", args=[book.slug]) + "?amount=19.50", follow=True)
    assert 'data-testid="cart-link"' in cached(client, url)
    client.post(reverse("payments:cart_update"), {"book": book.pk, "remove": "1"})
    assert 'data-testid="cart-link"' not in get(client, url).content.decode()
