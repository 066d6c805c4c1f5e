"""Team licence pages: buying seats, the manager's licence page (invite, see who
claimed, move an unused seat, refund the unused ones), and a reader's seat claim.

Thin: forms parse, ``payments.team_licences`` decides. A licence page is its
manager's only (404 for anyone else); the seat claim page shows the book, never
what was paid."""

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
from core import ratelimit

from . import cart_payments, refunds, team_licences
from .forms import CardForm, GiftAddressForm, InviteForm, TeamLicenceForm
from .gateways import GatewayError
from .models import Payment, TeamLicence
from .royalties import royalty_for
from .views import book_for_sale


@login_required
@require_http_methods(["GET", "POST"])
def licence_checkout(request, slug):
    book = book_for_sale(request, slug)
    price = team_licences.seat_price(book)
    if price is None:
        raise Http404("Team licences are not offered for this book.")
    posted = request.method == "POST"
    form = TeamLicenceForm(request.POST if posted else request.GET or None)
    demo = settings.PAYMENT_GATEWAY == "demo"
    card_form = CardForm(request.POST if posted else None) if demo else None
    try:
        token = uuid.UUID(request.POST.get("checkout_token", "")) if posted else uuid.uuid4()
    except ValueError:
        token = None
    context = {
        "book": book,
        "form": form,
        "card_form": card_form,
        "seat_price": price,
        "seat_royalty": royalty_for(price),
        "checkout_token": token or uuid.uuid4(),
        "refund_days": settings.REFUND_WINDOW_DAYS,
    }
    if not posted:
        return render(request, "payments/licence_checkout.html", context)
    valid = [f.is_valid() for f in (form, card_form) if f is not None]
    if not all(valid) or token is None:
        return render(request, "payments/licence_checkout.html", context, status=400)
    try:
        payment = team_licences.place_licence(
            manager=request.user, book=book, seats=form.cleaned_data["seats"], checkout_token=token
        )
        session = cart_payments.start_payment(payment)
    except team_licences.LicenceError as exc:
        messages.error(request, f"{exc} Nothing was charged.")
        return render(request, "payments/licence_checkout.html", context, status=400)
    except GatewayError as exc:
        messages.error(request, str(exc))
        return render(request, "payments/licence_checkout.html", context, status=502)
    if session.page == "stripe":
        return redirect(payment)
    if payment.status != Payment.Status.PAID:
        succeeded, message = cart_payments.pay_with_test_card(
            payment, card_number=card_form.cleaned_data["card_number"], reference=session.reference
        )
        if not succeeded:
            messages.error(request, f"{message} Nothing was charged.")
            return render(request, "payments/licence_checkout.html", context, status=402)
    messages.success(request, "Thank you! Invite your readers below.")
    return redirect(payment.team_licence)


def _get_licence_for_manager(request, public_id) -> TeamLicence:
    licence = (
        TeamLicence.objects.select_related("book", "payment")
        .filter(public_id=public_id, manager=request.user)
        .first()
    )
    if licence is None:
        raise Http404("No such licence.")
    return licence


@login_required
def licence_page(request, public_id):
    licence = _get_licence_for_manager(request, public_id)
    seats = team_licences.seats_of(licence)
    return render(
        request,
        "payments/licence_page.html",
        {
            "licence": licence,
            "seats": seats,
            "free_seats": sum(1 for s in seats if not s.email and not s.closed_at),
            "invite_form": InviteForm(),
            # What refund_refusal asks per seat, from the rows loaded already (no query per seat).
            "refundable": any(
                not seat.used and seat.order.status == "paid" and refunds.within_window(seat.order)
                for seat in seats
            ),
        },
    )


@login_required
@require_POST
def licence_invite(request, public_id):
    licence = _get_licence_for_manager(request, public_id)
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"{form.errors['addresses'][0]} Nobody was invited.")
        return redirect(licence)
    free = licence.seats.filter(email="", closed_at__isnull=True).count()
    try:
        addresses = team_licences.clean_addresses(
            form.cleaned_data["addresses"], limit=max(free, 1)
        )
        invited = team_licences.invite(
            licence_id=licence.pk, manager=request.user, addresses=addresses
        )
    except team_licences.LicenceError as exc:
        messages.error(request, f"{exc} Nobody was invited.")
        return redirect(licence)
    messages.success(request, f"Invited {len(invited)} reader{'s' if len(invited) != 1 else ''}.")
    return redirect(licence)


@login_required
@require_POST
def seat_reassign(request, public_id, seat_id):
    licence = _get_licence_for_manager(request, public_id)
    form = GiftAddressForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a valid e-mail address: the seat did not move.")
        return redirect(licence)
    try:
        seat = team_licences.reassign(
            seat_id=seat_id, manager=request.user, email=form.cleaned_data["recipient_email"]
        )
        messages.success(request, f"The seat now goes to {seat.email}.")
    except team_licences.LicenceError as exc:
        messages.error(request, str(exc))
    return redirect(licence)


@login_required
@require_POST
def licence_refund(request, public_id):
    licence = _get_licence_for_manager(request, public_id)
    try:
        results = team_licences.refund_unused(licence_id=licence.pk, manager=request.user)
        messages.success(
            request, f"Refunded {len(results)} unused seat{'s' if len(results) != 1 else ''}."
        )
    except refunds.RefundError as exc:
        messages.error(request, str(exc))
    return redirect(licence)


@require_http_methods(["GET", "POST"])
def seat_claim(request, token):
    """A reader's seat: signed in, into this account; otherwise into the account of
    the invited address (created if need be), then a one-time sign-in link."""
    seat = team_licences.seat_for_token(token)
    if seat is None:
        return render(request, "payments/seat_claim.html", {"gone": True}, status=404)
    context = {"seat": seat, "book": seat.licence.book}
    if request.method == "GET":
        return render(request, "payments/seat_claim.html", context)
    if not ratelimit.consume(request, "gift_claim", account=str(token)).allowed:
        return ratelimit.too_many_requests(request)
    user = request.user if request.user.is_authenticated else None
    if user is None:
        user, _created = account_for_email(seat.email)
    try:
        team_licences.claim_seat(token=token, user=user)
    except team_licences.LicenceError as exc:
        context["error"] = str(exc)
        return render(request, "payments/seat_claim.html", context, status=409)
    if request.user.is_authenticated:
        messages.success(request, f"“{seat.licence.book.title}” is in your library.")
        return redirect("library:index")
    return redirect(login_link_url(user, next_url=reverse("library:index")))
