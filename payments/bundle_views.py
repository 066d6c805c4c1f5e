"""The public bundle page, its checkout, and the refund of a bundle purchase.

Thin: the offer comes from ``payments.bundle_purchases``, the split from
``payments.bundle_pricing``, the listing rule from ``catalog.bundles``.
"""

import json
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog import bundles
from catalog.models import Bundle

from . import bundle_cart, bundle_purchases, cart_payments, coupons, refunds, services
from .bundle_pricing import earnings_by_author
from .forms import BundleAmountForm, CardForm, RefundForm
from .gateways import GatewayError
from .models import Payment
from .views import _say_refund_outcome


def _coupon(request, bundle, data):
    """The bundle's coupon the request carries (a coupon link's ?coupon=), or None;
    a bad one is an error message shown on the page, and the page goes on without it."""
    code = data.get("coupon", "")
    if not code.strip():
        return None
    try:
        coupon = coupons.find(code, bundle=bundle)
    except coupons.CouponError as exc:
        messages.error(request, str(exc))
        return None
    problem = coupons.reader_problem(coupon, request.user)
    if problem:
        messages.error(request, problem)
        return None
    return coupon


def _offer(request, slug, *, buying=False) -> bundle_purchases.Offer:
    """The bundle at ``slug`` as this reader would buy it; 404 unless listed.

    ``buying``: a bundle whose authors all consented but one of whose books was
    retired since the page was shown is not a 404 at checkout: the checkout says
    why it cannot be bought (and charges nothing)."""
    try:
        bundle = bundles.with_books(Bundle.objects.filter(slug=slug)).get()
    except Bundle.DoesNotExist as exc:
        raise Http404("No such bundle.") from exc
    if bundles.missing_consents(bundle) or not (buying or bundles.is_listed(bundle)):
        raise Http404("No such bundle.")
    data = request.POST if request.method == "POST" else request.GET
    return bundle_purchases.offer_for(bundle, request.user, _coupon(request, bundle, data))


def _split_data(offer) -> str:
    """What static/js/bundle-pricing.js needs to redo the split live: each book's
    weight and its authors' shares (the royalty rule comes from data-rule)."""
    return json.dumps(
        [
            {
                "weight": weight,
                "authors": [
                    {"id": a.author_id, "share": a.royalty_share} for a in book.authorships.all()
                ],
            }
            for book, weight in zip(offer.books, offer.weights, strict=True)
        ]
    )


def _version(offer) -> str:
    """The books the page asked to pay for: a page from before the reader got one of
    them (another tab) is refused instead of charging a split they did not see."""
    return ",".join(str(book.pk) for book in offer.books)


@require_GET
def bundle_page(request, slug):
    offer = _offer(request, slug)
    form = BundleAmountForm(request.GET if "amount" in request.GET else None, offer=offer)
    amount = offer.bounds.suggested
    if form.is_bound and form.is_valid():
        amount = form.cleaned_data["amount"]
    parts = offer.parts(amount) if offer.books else []
    return render(
        request,
        "catalog/bundle_detail.html",
        {
            "bundle": offer.bundle,
            "offer": offer,
            "form": form,
            "amount": amount,
            "parts": parts,
            "earnings": earnings_by_author(parts),
            "earnings_total": sum(part.royalty_cents for part in parts),
            "split_json": _split_data(offer) if offer.books else "[]",
            "owned_ids": {book.pk for book in offer.owned},
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


def _checkout_page(request, offer, form, *, status=200, card_form=None, token=None):
    amount = form.cleaned_data.get("amount") if form.is_valid() else None
    parts = offer.parts(amount) if amount is not None else []
    return render(
        request,
        "catalog/bundle_checkout.html",
        {
            "bundle": offer.bundle,
            "offer": offer,
            "form": form,
            "amount": amount,
            "parts": parts,
            "earnings": earnings_by_author(parts),
            "card_form": card_form or CardForm(),
            "demo_card": settings.PAYMENT_GATEWAY == "demo",
            "checkout_token": token or uuid.uuid4(),
            "version": _version(offer),
            "refund_days": settings.REFUND_WINDOW_DAYS,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def bundle_checkout(request, slug):
    """GET: the summary for the chosen amount (what each book and author gets) and
    the card fields. POST: one payment for the books the reader does not own."""
    offer = _offer(request, slug, buying=True)
    problems = bundles.listing_problems(offer.bundle)
    if problems:
        messages.error(
            request, f"This bundle cannot be bought now: {' '.join(problems)} Nothing was charged."
        )
        return render(
            request,
            "catalog/bundle_checkout.html",
            {"bundle": offer.bundle, "unavailable": True},
            status=409,
        )
    if not offer.books:
        messages.info(request, "You own every book of this bundle already.")
        return redirect("library:index")
    data = request.POST if request.method == "POST" else request.GET
    form = BundleAmountForm(data, offer=offer)
    if not form.is_valid():
        return _checkout_page(request, offer, form, status=400)
    if request.method == "GET":
        return _checkout_page(request, offer, form)
    token = _token(request)
    if token is None or request.POST.get("version") != _version(offer):
        messages.error(
            request,
            "The books you would pay for changed since this page was shown (another tab?). "
            "Nothing was charged: check the new summary and pay again.",
        )
        return _checkout_page(request, offer, form, status=409)
    demo = settings.PAYMENT_GATEWAY == "demo"
    card_form = CardForm(request.POST) if demo else None
    if demo and not card_form.is_valid():
        return _checkout_page(request, offer, form, status=400, card_form=card_form, token=token)
    try:
        payment = bundle_purchases.place_bundle_payment(
            buyer=request.user,
            bundle_id=offer.bundle.pk,
            amount_cents=form.cleaned_data["amount"],
            checkout_token=token,
            coupon=offer.coupon,
        )
        session = cart_payments.start_payment(payment)
    except services.CheckoutError as exc:
        messages.error(request, f"{exc} Nothing was charged.")
        return _checkout_page(request, offer, form, status=400)
    except GatewayError as exc:
        messages.error(request, str(exc))
        return _checkout_page(request, offer, form, status=502)
    if session.page == "stripe":
        return redirect(payment)
    if payment.status != Payment.Status.PAID:
        succeeded, message = cart_payments.pay_with_test_card(
            payment, card_number=card_form.cleaned_data["card_number"], reference=session.reference
        )
        if not succeeded:
            messages.error(request, f"{message} Nothing was charged.")
            return _checkout_page(
                request, offer, form, status=402, card_form=card_form, token=token
            )
    messages.success(
        request, f"Thank you! The books of “{offer.bundle.title}” are in your library."
    )
    return redirect("library:index")


def _token(request) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.POST.get("checkout_token", ""))
    except ValueError:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def bundle_refund(request, sale):
    """Click 1 (GET): what refunding the bundle does. Click 2 (POST): refund every
    book of it. Only the buyer's own purchase; another's is a 404."""
    orders = list(bundle_purchases.orders_of_sale(request.user, sale).order_by("pk"))
    if not orders:
        raise Http404("No such bundle purchase.")
    form = RefundForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            results = bundle_purchases.refund_sale(
                buyer=request.user, sale=sale, reason=form.cleaned_data["reason"]
            )
        except refunds.RefundError as exc:
            messages.error(request, str(exc))
            return redirect(orders[0])
        for result in results:
            _say_refund_outcome(request, result.refund.order, result)
        return redirect(orders[0])
    refusal = None
    if all(refunds.refund_refusal(order, request.user) for order in orders):
        refusal = refunds.refund_refusal(orders[0], request.user)
    return render(
        request,
        "catalog/bundle_refund.html",
        {
            "bundle": orders[0].bundle,
            "orders": orders,
            "total": sum(o.amount_cents for o in orders),
            "form": form,
            "refusal": refusal,
        },
        status=400 if request.method == "POST" else 200,
    )


# A GET, as the book page's "Add to cart" (payments.cart_views.add): idempotent (the
# line is set to this amount), moves no money, lands on the cart page, where paying
# takes a POST with its CSRF token.
@require_GET
@never_cache
def add_to_cart(request, slug):
    """ "Add to cart" on the bundle page, at the amount on its slider."""
    offer = _offer(request, slug)
    form = BundleAmountForm(request.GET, offer=offer)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("amount", ["Enter an amount."])))
        return redirect(offer.bundle)
    try:
        bundle_cart.add(request, offer, form.cleaned_data["amount"])
    except bundle_cart.BundleCartError as exc:
        messages.error(request, str(exc))
        return redirect(offer.bundle)
    messages.success(request, f"“{offer.bundle.title}” is in your cart.")
    return redirect("payments:cart")


@require_POST
def remove_from_cart(request):
    value = request.POST.get("bundle", "")
    if value.isascii() and value.isdigit() and len(value) < 12:
        bundle_cart.remove(request.session, [int(value)])
        messages.success(request, "Removed from your cart.")
    else:
        messages.error(request, "That bundle is not in your cart: nothing was changed.")
    return redirect("payments:cart")
