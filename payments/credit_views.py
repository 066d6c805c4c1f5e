"""The reader's credits: balance and history, packs, the Reader Membership, and
buying a book with a credit. Thin views over payments/credits.py and memberships.py."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.reader_pages import cache_for_readers

from . import credit_purchases, credits, membership_billing, memberships, services
from .gateways import GatewayError, get_gateway
from .views import book_for_sale, redirect_to_payment


def _token(request) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.POST.get("checkout_token", ""))
    except ValueError:
        return None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@cache_for_readers(params=("page",))  # first: a hit loads no user
@login_required
def credits_page(request):
    packs = [
        {"credits": n, "price_cents": price, "per_credit_cents": price // n}
        for n, price in settings.CREDIT_PACKS.items()
    ]
    plans = [
        {"name": name, "label": name.capitalize(), **terms}
        for name, terms in settings.MEMBERSHIP_PLANS.items()
    ]
    page = Paginator(credits.history(request.user), 20).get_page(request.GET.get("page"))
    return render(
        request,
        "payments/credits.html",
        {
            "balance": credits.balance(request.user),
            "membership": memberships.membership_of(request.user),
            "packs": packs,
            "plans": plans,
            "page": page,
            "checkout_token": uuid.uuid4(),
            "rollover_cap": settings.MEMBERSHIP_ROLLOVER_CAP,
            "refund_days": settings.REFUND_WINDOW_DAYS,
        },
    )


@login_required
@require_POST
def buy_pack(request):
    token, size = _token(request), _int(request.POST.get("credits"))
    if token is None or size is None:
        messages.error(request, "Choose a credit pack.")
        return redirect("payments:credits")
    try:
        order = services.place_pack_order(buyer=request.user, credits=size, checkout_token=token)
    except services.CheckoutError as exc:
        messages.error(request, str(exc))
        return redirect("payments:credits")
    return redirect_to_payment(order)


@login_required
@require_POST
def join_membership(request):
    plan_name, token = request.POST.get("plan", ""), _token(request)
    if plan_name not in settings.MEMBERSHIP_PLANS or token is None:
        messages.error(request, "Choose a monthly or an annual membership.")
        return redirect("payments:credits")
    if membership_billing.pays_by_subscription():
        return redirect(f"{reverse('payments:membership_stripe')}?plan={plan_name}")
    try:
        order = membership_billing.start(
            user=request.user, plan_name=plan_name, checkout_token=token
        )
    except memberships.MembershipError as exc:
        messages.error(request, str(exc))
        return redirect("payments:credits")
    return redirect_to_payment(order)


@login_required
def membership_stripe(request):
    """Stripe: save a card with the Payment Element (a SetupIntent), then subscribe."""
    plan_name = request.GET.get("plan", "")
    if plan_name not in settings.MEMBERSHIP_PLANS or not membership_billing.pays_by_subscription():
        return redirect("payments:credits")
    current = memberships.membership_of(request.user)
    if current is not None and current.is_active:
        messages.info(request, "You are a member already.")
        return redirect("payments:credits")
    gateway = get_gateway("stripe")
    try:
        customer = gateway.create_customer(email=request.user.email, user_id=request.user.pk)
        session = gateway.setup_card(customer=customer)
    except GatewayError as exc:
        messages.error(request, str(exc))
        return redirect("payments:credits")
    return render(
        request,
        "payments/membership_stripe.html",
        {
            "plan": {"name": plan_name, **settings.MEMBERSHIP_PLANS[plan_name]},
            "client_secret": session.client_secret,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "return_url": request.build_absolute_uri(
                f"{reverse('payments:membership_stripe_done')}?plan={plan_name}"
            ),
        },
    )


@login_required
def membership_stripe_done(request):
    """Stripe.js comes back here with the confirmed SetupIntent: subscribe with its card."""
    plan_name = request.GET.get("plan", "")
    setup_intent = request.GET.get("setup_intent", "")
    if plan_name not in settings.MEMBERSHIP_PLANS or not setup_intent.startswith("seti_"):
        messages.error(request, "That card set-up did not finish; please try again.")
        return redirect("payments:credits")
    try:
        payment_method = get_gateway("stripe").setup_payment_method(setup_intent)
        if not payment_method:
            raise memberships.MembershipError("Your card was not saved; please try again.")
        membership_billing.start_stripe(
            user=request.user, plan_name=plan_name, payment_method=payment_method
        )
    except (GatewayError, memberships.MembershipError) as exc:
        messages.error(request, str(exc))
        return redirect("payments:credits")
    messages.success(
        request, "Welcome! Your credits arrive as soon as Stripe confirms the first payment."
    )
    return redirect("payments:credits")


@login_required
@require_POST
def cancel_membership(request):
    try:
        membership = memberships.cancel(user=request.user)
    except memberships.MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Your membership ends on {membership.current_period_end:%B %-d, %Y}; "
            "your credits stay yours.",
        )
    return redirect("payments:credits")


@login_required
@require_POST
def resume_membership(request):
    try:
        memberships.resume(user=request.user)
    except memberships.MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Your membership renews as before.")
    return redirect("payments:credits")


@login_required
@require_POST
def buy_with_credit(request, slug):
    book = book_for_sale(request, slug)
    token = _token(request)
    if token is None:
        messages.error(request, "That page was out of date; please try again.")
        return redirect(book)
    try:
        order = credit_purchases.buy_with_credit(
            buyer=request.user, book=book, checkout_token=token
        )
    except credits.CreditError as exc:
        messages.error(request, str(exc))
        return redirect(book)
    if order.book_id != book.pk or not order.paid_with_credit:  # another checkout's token
        return redirect(order)
    messages.success(request, f"“{book.title}” is in your library, bought with 1 credit.")
    return redirect("library:index")
