"""Gift pages: buying a book as a gift, the buyer's gift page (claimed? resend,
change the address, refund), and the recipient's claim page.

Thin: forms parse, ``payments.gifts`` decides. The buyer's pages load the gift for
that buyer only (404 for anyone else); the claim page shows what the gift is and
its message, never what was paid."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.login_links import login_link_url
from accounts.services import account_for_email
from catalog import bundles
from catalog.models import Bundle
from core import ratelimit

from . import bundle_purchases, cart_payments, gifts, refunds
from .cart_views import remember_guest_payment
from .forms import (
    AmountForm,
    BundleAmountForm,
    CardForm,
    CheckoutEmailForm,
    GiftAddressForm,
    GiftForm,
)
from .gateways import GatewayError
from .models import Gift, Payment
from .royalties import royalty_for
from .views import book_for_sale


def _token(request) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.POST.get("checkout_token", ""))
    except ValueError:
        return None


@require_http_methods(["GET", "POST"])
def gift_checkout(request, slug):
    """One page: the amount, who it is for, the message and day, and the card (and,
    for a visitor who is not signed in, their own e-mail address)."""
    book = book_for_sale(request, slug)

    def place(buyer, amount, details, token, guest):
        return gifts.place_book_gift(
            buyer=buyer,
            guest=guest,
            book=book,
            amount_cents=amount,
            details=details,
            checkout_token=token,
        )

    return _gift_page(
        request,
        title=book.title,
        back_url=book.get_absolute_url(),
        amount_form=lambda data: AmountForm(data, book=book),
        earns=royalty_for,
        place=place,
    )


@require_http_methods(["GET", "POST"])
def bundle_gift_checkout(request, slug):
    """A whole bundle as a gift (every book: what the giver owns does not matter)."""
    bundle = bundles.with_books(Bundle.objects.filter(slug=slug)).first()
    if bundle is None or not bundles.is_listed(bundle):
        raise Http404("No such bundle.")
    offer = bundle_purchases.offer_for(bundle, gifts.NOBODY)

    def place(buyer, amount, details, token, guest):
        return gifts.place_bundle_gift(
            buyer=buyer,
            guest=guest,
            bundle_id=bundle.pk,
            amount_cents=amount,
            details=details,
            checkout_token=token,
        )

    return _gift_page(
        request,
        title=bundle.title,
        back_url=bundle.get_absolute_url(),
        amount_form=lambda data: BundleAmountForm(data, offer=offer),
        earns=lambda cents: sum(part.royalty_cents for part in offer.parts(cents)),
        place=place,
    )


def _gift_page(request, *, title, back_url, amount_form, earns, place):
    posted = request.method == "POST"
    data = request.POST if posted else {"amount": request.GET.get("amount", "")}
    amount_form = amount_form(data)
    gift_form = GiftForm(request.POST if posted else None)
    demo = settings.PAYMENT_GATEWAY == "demo"
    card_form = CardForm(request.POST if posted else None) if demo else None
    guest = not request.user.is_authenticated
    email_form = CheckoutEmailForm(request.POST if posted else None) if guest else None
    token = _token(request) if posted else uuid.uuid4()
    context = {
        "title": title,
        "back_url": back_url,
        "action": request.path,
        "amount_form": amount_form,
        "gift_form": gift_form,
        "card_form": card_form,
        "email_form": email_form,
        "checkout_token": token or uuid.uuid4(),
        "refund_days": settings.REFUND_WINDOW_DAYS,
    }
    if amount_form.is_valid():
        context["author_earns"] = earns(amount_form.cleaned_data["amount"])
    if not posted:
        return render(request, "payments/gift_checkout.html", context)
    forms = (amount_form, gift_form, email_form, card_form)
    forms_ok = [f.is_valid() for f in forms if f is not None]
    if not all(forms_ok) or token is None:
        return render(request, "payments/gift_checkout.html", context, status=400)
    cleaned = gift_form.cleaned_data
    details = gifts.GiftDetails(
        recipient_email=cleaned["recipient_email"],
        message=cleaned["message"],
        deliver_on=cleaned["deliver_on"],
    )
    if guest:  # the one-page e-mail checkout, as the cart's (never revealing an account)
        email = email_form.cleaned_data["email"]
        if not ratelimit.consume(request, "guest_checkout", account=email.lower()).allowed:
            return ratelimit.too_many_requests(request)
        buyer, _created = account_for_email(email)
    else:
        buyer = request.user
    try:
        payment = place(buyer, amount_form.cleaned_data["amount"], details, token, guest)
        session = cart_payments.start_payment(payment)
    except gifts.GiftError as exc:
        messages.error(request, f"{exc} Nothing was charged.")
        return render(request, "payments/gift_checkout.html", context, status=400)
    except GatewayError as exc:
        messages.error(request, str(exc))
        return render(request, "payments/gift_checkout.html", context, status=502)
    if guest:  # the payment's page is theirs through this session (as the cart's)
        remember_guest_payment(request, payment)
    if session.page == "stripe":
        return redirect(payment)
    if payment.status != Payment.Status.PAID:
        succeeded, message = cart_payments.pay_with_test_card(
            payment, card_number=card_form.cleaned_data["card_number"], reference=session.reference
        )
        if not succeeded:
            messages.error(request, f"{message} Nothing was charged.")
            return render(request, "payments/gift_checkout.html", context, status=402)
    gift = payment.gifts.first()
    messages.success(request, f"Thank you! Your gift for {gift.recipient_email} is paid.")
    if guest:  # their gift's page needs signing in: the receipt carries the link
        return redirect(payment)
    return redirect(gift)


def _get_gift_for_buyer(request, public_id) -> Gift:
    gift = Gift.objects.filter(public_id=public_id, buyer=request.user).first()
    if gift is None:
        raise Http404("No such gift.")
    return gift


@login_required
def gift_list(request):
    return render(request, "payments/gift_list.html", {"gifts": list(gifts.gifts_of(request.user))})


@login_required
def gift_page(request, public_id):
    gift = _get_gift_for_buyer(request, public_id)
    orders = list(gift.orders.select_related("book").order_by("pk"))
    refundable = gift.status in (Gift.Status.SCHEDULED, Gift.Status.SENT) and any(
        refunds.refund_refusal(order, request.user) is None for order in orders
    )
    return render(
        request,
        "payments/gift_page.html",
        {
            "gift": gift,
            "orders": orders,
            "refundable": refundable,
            "refund_until": gifts.refund_until(gift),
            "address_form": GiftAddressForm(initial={"recipient_email": gift.recipient_email}),
        },
    )


@login_required
@require_POST
def gift_resend(request, public_id):
    gift = _get_gift_for_buyer(request, public_id)
    try:
        gifts.resend(gift_id=gift.pk, buyer=request.user)
        messages.success(request, f"Sent again to {gift.recipient_email}.")
    except gifts.GiftError as exc:
        messages.error(request, str(exc))
    return redirect(gift)


@login_required
@require_POST
def gift_address(request, public_id):
    gift = _get_gift_for_buyer(request, public_id)
    form = GiftAddressForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a valid e-mail address: nothing was changed.")
        return redirect(gift)
    try:
        gift = gifts.change_address(
            gift_id=gift.pk,
            buyer=request.user,
            recipient_email=form.cleaned_data["recipient_email"],
        )
        messages.success(request, f"The gift now goes to {gift.recipient_email}.")
    except gifts.GiftError as exc:
        messages.error(request, str(exc))
    return redirect(gift)


@login_required
@require_POST
def gift_refund(request, public_id):
    gift = _get_gift_for_buyer(request, public_id)
    try:
        gifts.refund(gift_id=gift.pk, buyer=request.user)
        messages.success(request, "The gift is refunded: its link no longer works.")
    except refunds.RefundError as exc:
        messages.error(request, str(exc))
    return redirect(gift)


@require_http_methods(["GET", "POST"])
def gift_claim(request, token):
    """The recipient's page: what the gift is, from whom, the message; one button.

    Signed in: the gift goes into this account. Not signed in: into the account of
    the address it was sent to (created if there is none, as the one-page checkout
    does), then a one-time sign-in link takes them to their library."""
    gift = gifts.gift_for_token(token)
    if gift is None:
        return render(request, "payments/gift_claim.html", {"gone": True}, status=404)
    context = {"gift": gift, "books": gifts.books_of(gift)}
    if gift.is_claimed:
        context["error"] = "This gift was claimed already."
        return render(request, "payments/gift_claim.html", context, status=409)
    if request.method == "GET":
        return render(request, "payments/gift_claim.html", context)
    if not ratelimit.consume(request, "gift_claim", account=str(token)).allowed:
        return ratelimit.too_many_requests(request)
    user = request.user if request.user.is_authenticated else None
    if user is None:
        user, _created = account_for_email(gift.recipient_email)
    try:
        gifts.claim(token=token, user=user)
    except gifts.AlreadyOwnsGift as exc:
        context.update(owned=True, error=str(exc), address_form=GiftAddressForm())
        return render(request, "payments/gift_claim.html", context, status=409)
    except gifts.GiftError as exc:
        context["error"] = str(exc)
        return render(request, "payments/gift_claim.html", context, status=409)
    if request.user.is_authenticated:
        messages.success(request, f"“{gift.title}” is in your library. Enjoy!")
        return redirect("library:index")
    return redirect(login_link_url(user, next_url=reverse("library:index")))


@require_POST
def gift_pass_on(request, token):
    """A recipient who owns the books sends the gift on (signed in: we know what they own)."""
    gift = gifts.gift_for_token(token)
    if gift is None:
        raise Http404("No such gift.")
    form = GiftAddressForm(request.POST)
    context = {"gift": gift, "books": gifts.books_of(gift), "owned": True, "address_form": form}
    if not form.is_valid():
        return render(request, "payments/gift_claim.html", context, status=400)
    user = request.user if request.user.is_authenticated else None
    if user is None:
        user, _created = account_for_email(gift.recipient_email)
    try:
        gifts.pass_on(token=token, user=user, recipient_email=form.cleaned_data["recipient_email"])
    except gifts.GiftError as exc:
        context["error"] = str(exc)
        return render(request, "payments/gift_claim.html", context, status=409)
    context.update(passed_to=form.cleaned_data["recipient_email"], owned=False, gift=None)
    return render(request, "payments/gift_claim.html", context)
