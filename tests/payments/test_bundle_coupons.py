"""Bundle coupons end to end: the maker creates them on the bundle's coupons screen
(its other authors see them), and a bundle added to the cart from a coupon link keeps
its coupon through checkout: one use per sale, royalties on the price paid."""

import pytest
from django.urls import reverse

from payments.ledger import audit
from payments.models import Coupon, CouponRedemption, Order, Payment
from payments.royalties import royalty_for
from tests.factories import AuthorFactory, BookFactory, UserFactory, listed_bundle
from tests.payments.test_cart import CART, cart_form, pay_cart
from tests.payments.test_coupons import bundle_coupon

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle():
    other_author = AuthorFactory()
    books = [
        BookFactory(minimum_price_cents=999, suggested_price_cents=1999),
        BookFactory(minimum_price_cents=999, suggested_price_cents=999, authors=[other_author]),
    ]
    return listed_bundle(books, minimum_cents=2000, suggested_cents=2500)


def coupons_url(bundle):
    return reverse("payments:bundle_coupons", args=[bundle.slug])


def test_the_maker_creates_a_bundle_coupon_and_sees_its_uses(client, bundle):
    maker = bundle.created_by.user
    client.force_login(maker)
    assert (
        reverse("payments:bundle_coupons", args=[bundle.slug])
        in client.get(reverse("catalog:bundle_list")).content.decode()
    )
    response = client.post(
        coupons_url(bundle), {"code": "bundle-half", "kind": "percent", "percent": "50"}
    )
    assert response.status_code == 302
    coupon = Coupon.objects.get()
    assert (coupon.code, coupon.bundle, coupon.book) == ("BUNDLE-HALF", bundle, None)
    page = client.get(coupons_url(bundle)).content.decode()
    assert f"{bundle.get_absolute_url()}?coupon=BUNDLE-HALF" in page
    assert (
        client.post(
            coupons_url(bundle), {"code": "bundle-half", "kind": "percent", "percent": "5"}
        ).status_code
        == 400
    )
    bad = client.post(coupons_url(bundle), {"code": "a b!", "kind": "percent", "percent": "5"})
    assert bad.status_code == 400 and Coupon.objects.count() == 1


def test_only_the_maker_creates_other_authors_only_see_and_strangers_get_nothing(client, bundle):
    bundle_coupon(bundle)
    other_author = bundle.items.order_by("position", "id").last().book.authorships.get().author
    client.force_login(other_author.user)
    page = client.get(coupons_url(bundle))
    assert page.status_code == 200 and "HALF" in page.content.decode()
    assert 'name="code"' not in page.content.decode()
    refused = client.post(coupons_url(bundle), {"code": "MINE", "kind": "percent", "percent": "9"})
    assert refused.status_code == 403
    client.force_login(AuthorFactory().user)
    assert client.get(coupons_url(bundle)).status_code == 404
    client.force_login(UserFactory())  # not an author at all
    assert client.get(coupons_url(bundle)).status_code == 403
    assert Coupon.objects.count() == 1


def test_a_bundle_added_to_the_cart_from_a_coupon_link_keeps_its_coupon(client, bundle):
    coupon = bundle_coupon(bundle, max_uses=5)
    reader = UserFactory()
    client.force_login(reader)
    add = reverse("payments:bundle_cart_add", args=[bundle.slug])
    assert client.get(add, {"amount": "10", "coupon": "half"})["Location"] == CART
    page = client.get(CART)
    [line] = page.context["contents"].bundle_lines
    assert line.offer.coupon == coupon and not line.error
    assert 'data-testid="bundle-line-coupon">HALF<' in page.content.decode()

    pay_cart(client)

    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents) == ("paid", 1000)
    orders = list(Order.objects.filter(payment=payment))
    assert len(orders) == 2 and all(o.coupon_id == coupon.pk for o in orders)
    assert all(o.royalty_cents == royalty_for(o.amount_cents) for o in orders)
    assert CouponRedemption.objects.get().amount_cents == 1000  # one use for the sale
    coupon.refresh_from_db()
    assert coupon.uses == 1
    assert audit().ok, audit().problems


def test_without_the_coupon_the_same_amount_is_refused_in_the_cart(client, bundle):
    client.force_login(UserFactory())
    add = reverse("payments:bundle_cart_add", args=[bundle.slug])
    response = client.get(add, {"amount": "10"})
    assert response["Location"] != CART
    assert not client.get(CART).context["contents"].bundle_lines


def test_a_bundle_line_whose_coupon_ran_out_goes_back_to_its_own_price(client, bundle):
    coupon = bundle_coupon(bundle, max_uses=1)
    client.force_login(UserFactory())
    client.get(
        reverse("payments:bundle_cart_add", args=[bundle.slug]), {"amount": "10", "coupon": "HALF"}
    )
    form = cart_form(client)
    Coupon.objects.filter(pk=coupon.pk).update(uses=1)
    page = client.get(CART)
    [line] = page.context["contents"].bundle_lines
    assert line.offer.coupon is None and line.error  # $10 is below the bundle's own minimum
    assert "used up" in page.content.decode()
    assert pay_cart(client, form).status_code in (400, 409)
    assert not Payment.objects.filter(status="paid").exists()
