"""Marking a cart line as a gift (/cart/gift/): thin, the rules are in
``payments.cart_gifts`` (the mark) and ``cart_payments`` (the gift, when paid)."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from . import cart, cart_gifts, cart_views
from .forms import GiftForm
from .gift_details import GiftDetails, details_error, normalised


@require_POST
def mark(request):
    """Make a book line of the cart a gift (or change its details), or a normal line
    again ("not_gift"). Bad input: a clear message, nothing changed (400)."""
    value = request.POST.get("book", "")
    book_id = int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None
    lines = {line.book.pk: line for line in cart.contents(request).lines}
    if book_id not in lines:
        messages.error(request, "That book is not in your cart: nothing was changed.")
        return cart_views._page(request, status=400)
    title = lines[book_id].book.title
    if "not_gift" in request.POST:
        cart_gifts.unmark(request.session, [book_id])
        messages.success(request, f"“{title}” is for you again, not a gift.")
        return redirect("payments:cart")
    form = GiftForm(request.POST)
    if not form.is_valid():
        errors = " ".join(" ".join(errs) for errs in form.errors.values())
        messages.error(request, f"The gift of “{title}” was not saved: {errors}")
        return cart_views._page(request, status=400)
    details = normalised(GiftDetails(**form.cleaned_data))
    error = details_error(details)
    if error:
        messages.error(request, f"The gift of “{title}” was not saved: {error}")
        return cart_views._page(request, status=400)
    cart_gifts.mark(request.session, book_id, details)
    messages.success(request, f"“{title}” will be a gift for {details.recipient_email}.")
    return redirect("payments:cart")
