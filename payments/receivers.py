"""Payments' answers to the catalog's signals (the catalog does not import payments)."""

import uuid

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from catalog.signals import book_page_shown

from . import cart, coupons
from .pricing import price_range
from .royalties import royalty_for


@receiver(book_page_shown, dispatch_uid="payments.book_page_pricing")
def book_page_pricing(sender, book, user=None, coupon_code="", **kwargs) -> dict:
    """The buy box: the price slider's bounds and what the author earns at the suggested
    price; with a coupon link, the coupon's range (or why the coupon does not apply)."""
    bounds = price_range(book)
    coupon, coupon_error = None, ""
    if coupon_code:
        try:
            coupon = coupons.find(coupon_code, book=book)
            coupon_error = coupons.reader_problem(coupon, user)
        except coupons.CouponError as exc:
            coupon_error = str(exc)
        if coupon is not None and not coupon_error:
            bounds = coupons.coupon_range(bounds, coupon)
        else:
            coupon = None
    return {
        "bounds": bounds,
        "coupon": coupon,
        "coupon_label": coupons.describe(coupon) if coupon else "",
        "coupon_error": coupon_error,
        "suggested_royalty_cents": royalty_for(bounds.suggested),
        # Called by the template only where a form that places an order is shown
        # (to a signed-in reader with credits): never in the anonymous cached page.
        "new_checkout_token": lambda: str(uuid.uuid4()),
    }


@receiver(user_logged_in, dispatch_uid="payments.merge_cart")
def merge_cart_at_login(sender, request, user, **kwargs) -> None:
    """The visitor's cart joins the account's: nothing chosen before login is lost."""
    if request is not None and hasattr(request, "session"):
        cart.merge_into(user, request.session)
