"""A signed-in reader buys a bundle that includes a book they own: the page offers
the rest, shows live what each author earns, and they pay only for the rest."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from catalog import bundles
from library.models import Entitlement
from payments import bundle_pricing, services
from payments.models import Order, Payment
from tests.e2e.helpers import log_in, pay_with, slide_to
from tests.factories import PASSWORD, AuthorFactory, BookFactory, UserFactory, listed_bundle

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reader_who_owns_one_book_completes_the_bundle(live_server, page):
    owned = BookFactory(title="Owned Already", suggested_price_cents=2499)
    solo = BookFactory(title="Solo Title", suggested_price_cents=1999)
    duo = BookFactory(
        title="Duo Title", suggested_price_cents=999, authors=[AuthorFactory(), AuthorFactory()]
    )
    bundle = listed_bundle(
        [owned, solo, duo], minimum_cents=2000, suggested_cents=3500, title="The Trio"
    )
    reader = UserFactory(email="bundle.reader@example.com")
    first = services.place_order(
        buyer=reader, book=owned, amount_cents=2499, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=first.pk, amount_cents=2499)

    log_in(page, live_server.url, reader.email, PASSWORD)
    page.goto(live_server.url + bundle.get_absolute_url())
    expect(page.get_by_role("heading", name="Complete the bundle")).to_be_visible()
    expect(page.get_by_test_id("complete-note")).to_contain_text("you pay only for the other 2")

    # Live, in the browser: what each author earns at $15.00 for the two other books.
    slide_to(page, "15.00")
    rest = [solo, duo]
    parts = bundle_pricing.book_parts(rest, [bundles.weight(b) for b in rest], 1500)
    for author, cents in bundle_pricing.earnings_by_author(parts):
        expect(page.locator(f'[data-author-id="{author.pk}"]')).to_have_text(
            f"${cents // 100}.{cents % 100:02d}"
        )
    total = sum(part.royalty_cents for part in parts)
    expect(page.locator("[data-author-earns]")).to_have_text(f"${total // 100}.{total % 100:02d}")

    page.get_by_role("button", name="Buy now").click()
    expect(page.get_by_test_id("amount")).to_have_text("$15.00")
    expect(page.get_by_test_id("bundle-part")).to_have_count(2)
    pay_with(page, "4242 4242 4242 4242")

    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    for title in ("Owned Already", "Solo Title", "Duo Title"):
        expect(page.locator(".library-list")).to_contain_text(title)
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents) == ("paid", 1500)
    assert sorted(o.book.title for o in payment.orders.all()) == ["Duo Title", "Solo Title"]
    assert Order.objects.filter(buyer=reader, book=owned).count() == 1  # never charged again
    assert Entitlement.objects.active().filter(user=reader).count() == 3

    # The bundle page now says they own it all.
    page.goto(live_server.url + bundle.get_absolute_url())
    expect(page.get_by_role("heading", name="In your library")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Your library"))).to_be_visible()
