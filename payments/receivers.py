"""Payments' answers to the catalog's signals (the catalog does not import payments)."""

import uuid

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from catalog.signals import book_page_shown

from . import cart
from .pricing import price_range
from .royalties import royalty_for


@receiver(book_page_shown, dispatch_uid="payments.book_page_pricing")
def book_page_pricing(sender, book, user=None, **kwargs) -> dict:
    """The buy box: the price slider's bounds and what the author earns at the suggested price."""
    bounds = price_range(book)
    return {
        "bounds": bounds,
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
