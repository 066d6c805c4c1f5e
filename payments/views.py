import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from catalog import book_page, selectors
from catalog.models import Book
from catalog.selectors import CARD_DEFER
from core import ratelimit
from core.money import format_cents
from core.reader_pages import cache_for_readers
from library.models import Entitlement
from library.services import owns

from . import coupons, credits, refunds, services, webhooks
from .forms import AmountForm, CardForm, RefundForm
from .gateways import GatewayError
from .gateways.demo import DemoGateway
from .models import Order, Refund
from .royalties import royalty_for


def book_for_sale(request, slug) -> Book:
    """The listed book with its authors, from the book page's shared parts
    (catalog.book_page: one cache round trip while they are current, no query);
    404 when no such book is for sale."""
    try:
        parts = book_page.parts_for(request, slug)
    except Book.DoesNotExist as exc:
        raise Http404("No such book.") from exc
    if not parts.book.is_listed:
        raise Http404("No such book.")
    book = parts.book
    book.author_list = list(parts.authors)
    book.has_files = bool(parts.formats)  # none yet: the checkout sells a pre-order
    return book


def _get_order_for_user(request, public_id) -> Order:
    """The order if it is the logged-in reader's (or staff's); 404 for anyone else."""
    try:
        order = Order.objects.select_related("book", "buyer", "bundle", "coupon").get(
            public_id=public_id
        )
    except (Order.DoesNotExist, ValueError) as exc:
        raise Http404("No such order.") from exc
    if order.buyer_id != request.user.pk and not request.user.is_staff:
        raise Http404("No such order.")
    return order


def _payable_order(request, public_id) -> Order:
    """The signed-in reader's own order, with its book, for its payment page; 404 for
    anyone else's (staff too: only its buyer pays an order). Nothing else is joined:
    the buyer is the reader, and a coupon or bundle is read only by orders that have one."""
    try:
        order = services.payable_order(public_id, request.user)
    except ValueError as exc:
        raise Http404("No such order.") from exc
    if order is None:
        raise Http404("No such order.")
    return order


def _coupon_for(request, book, data):
    """The coupon the form carries (a coupon link's), checked for this book and
    reader: (coupon, its price range), (None, None) without one. A bad code is a
    clear form error (CheckoutError), never a 500."""
    code = data.get("coupon", "")
    if not code.strip():
        return None, None
    try:
        coupon = coupons.find(code, book=book)
        return coupon, services.coupon_bounds(coupon, book, request.user)
    except coupons.CouponError as exc:
        raise services.CheckoutError(str(exc)) from exc


def _checkout_page(request, book, form, *, status=200, **context):
    return render(
        request, "payments/checkout.html", {"book": book, "form": form, **context}, status=status
    )


@require_http_methods(["GET", "POST"])
@cache_for_readers(params=("amount",), personal=("coupon",))
def checkout(request, slug):
    """The summary for the amount chosen on the book page: book, amount, author earns
    (with the coupon of a coupon link, if any)."""
    book = book_for_sale(request, slug)
    data = request.POST if request.method == "POST" else request.GET
    if not request.user.is_authenticated:
        # Log in or sign up, then come back here with the chosen amount (and coupon) kept.
        query = {"amount": data.get("amount", "")[:20]}
        if data.get("coupon"):
            query["coupon"] = data.get("coupon", "")[: coupons.MAX_CODE_INPUT]
        return redirect_to_login(f"{reverse('payments:checkout', args=[slug])}?{urlencode(query)}")
    if owns(request.user, book):
        return render(request, "payments/already_owned.html", {"book": book})
    try:
        coupon, bounds = _coupon_for(request, book, data)
    except services.CheckoutError as exc:
        form = AmountForm(None, book=book)
        messages.error(request, f"{exc} Nothing was charged.")
        return _checkout_page(request, book, form, status=400)
    form = AmountForm(data or None, book=book, bounds=bounds)
    if not form.is_valid():
        return _checkout_page(
            request, book, form, status=400 if form.is_bound else 200, coupon=coupon
        )
    amount = form.cleaned_data["amount"]
    return render(
        request,
        "payments/checkout.html",
        {
            "book": book,
            "form": form,
            "amount": amount,
            "author_earns": royalty_for(amount),
            "coupon": coupon,
            "coupon_label": coupons.describe(coupon) if coupon else "",
            "checkout_token": uuid.uuid4(),
            "credit_checkout_token": uuid.uuid4(),  # the other form places another order
            "refund_days": settings.REFUND_WINDOW_DAYS,
        },
    )


def redirect_to_payment(order):
    """A new order goes on to its payment page; one already settled, to its page."""
    if order.status != Order.Status.PENDING:
        return redirect(order)
    return redirect("payments:pay_order", public_id=order.public_id)


def _checkout_token(request) -> uuid.UUID | None:
    """The posted page's checkout token (one order per page), or None if it is not one."""
    try:
        return uuid.UUID(request.POST.get("checkout_token", ""))
    except ValueError:
        return None


@login_required
@require_POST
def pay(request, slug):
    """Place the order for this checkout page and send the reader to pay."""
    book = book_for_sale(request, slug)
    try:
        coupon, bounds = _coupon_for(request, book, request.POST)
    except services.CheckoutError as exc:
        messages.error(request, f"{exc} Nothing was charged.")
        return _checkout_page(request, book, AmountForm(None, book=book), status=400)
    form = AmountForm(request.POST, book=book, bounds=bounds)
    token = _checkout_token(request)
    if not form.is_valid() or token is None:
        return _checkout_page(request, book, form, status=400)
    try:
        order = services.place_order(
            buyer=request.user,
            book=book,
            amount_cents=form.cleaned_data["amount"],
            checkout_token=token,
            coupon=coupon,
        )
    except services.AlreadyOwned:
        return render(request, "payments/already_owned.html", {"book": book})
    except services.CheckoutError as exc:
        form.add_error("amount", str(exc))
        return render(request, "payments/checkout.html", {"book": book, "form": form}, status=400)
    if order.is_paid:
        messages.success(request, f"“{book.title}” is in your library.")
        return redirect("library:index")
    return redirect_to_payment(order)


@login_required
@require_http_methods(["GET", "POST"])
def pay_order(request, public_id):
    """The payment page of one order: the demo card form, or Stripe's Payment Element."""
    order = _payable_order(request, public_id)
    if order.bundle_sale:  # a bundle is refunded as one line, all its books together
        return redirect("payments:bundle_refund", sale=order.bundle_sale)
    if order.status != Order.Status.PENDING:
        return redirect(order)
    if order.payment_id:  # a cart's line is paid with its cart, never alone
        return redirect(order.payment)
    if order.coupon_id:  # ran out since the checkout: no card page (Stripe would charge)
        problem = coupons.availability_problem(order.coupon) or coupons.reader_problem(
            order.coupon, order.buyer
        )
        if problem:
            services.mark_failed(order_id=order.pk, reason=f"{problem} Nothing was charged.")
            messages.error(request, f"{problem} Nothing was charged.")
            return redirect(order.book)
    # Another tab paid first: take no card here. (A demo card posted is checked under
    # the locks that charge it: services.pay_with_test_card.)
    card_posted = request.method == "POST" and order.gateway == DemoGateway.name
    if not card_posted and services.refuse_if_owned(order):
        messages.info(request, services.OWNED_NOTHING_CHARGED)
        return redirect("library:index")
    try:
        session = services.start_payment(order)
    except GatewayError as exc:
        messages.error(request, str(exc))
        return redirect(order.book or "payments:credits")
    context = {"order": order, "book": order.book, "author_earns": order.royalty_cents}
    if session.page == "stripe":
        context.update(
            client_secret=session.client_secret,
            publishable_key=settings.STRIPE_PUBLISHABLE_KEY,
            return_url=request.build_absolute_uri(order.get_absolute_url()),
        )
        return render(request, "payments/pay_stripe.html", context)

    form = CardForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        succeeded, message = services.pay_with_test_card(
            order, card_number=form.cleaned_data["card_number"], reference=session.reference
        )
        if succeeded:
            if order.book_id is None:
                messages.success(request, f"Thank you! {order.title}: the credits are yours.")
                return redirect("payments:credits")
            if order.status != Order.Status.PAID:  # another tab paid first, a moment ago
                messages.info(
                    request,
                    f"You own “{order.book.title}” already: this payment is refunded in full.",
                )
                return redirect(order)
            messages.success(request, f"Thank you! “{order.book.title}” is in your library.")
            return redirect("library:index")
        if order.status == Order.Status.EXPIRED:  # owned by now: closed, nothing charged
            messages.info(request, message)
            return redirect("library:index")
        order.refresh_from_db()
        return render(
            request,
            "payments/payment_failed.html",
            {**context, "order": order, "message": message, "retry_token": uuid.uuid4()},
            status=402,
        )
    return render(request, "payments/pay_demo.html", {**context, "form": form})


@login_required
@require_POST
def retry(request, public_id):
    """Retry a declined or unfinished order ("Try again") in one click: a new order for
    the same book and amount, straight to its payment page."""
    order = _get_order_for_user(request, public_id)
    if order.buyer_id != request.user.pk:
        raise Http404("No such order.")
    if order.bundle_sale:  # a bundle is refunded as one line, all its books together
        return redirect("payments:bundle_refund", sale=order.bundle_sale)
    token = _checkout_token(request)
    if token is None:
        message = (
            "This “Try again” button is out of date: reload the order page and press it again."
        )
        return render(request, "400.html", {"message": message}, status=400)
    try:
        new_order = services.retry_order(order=order, checkout_token=token)
    except services.AlreadyOwned:
        return render(request, "payments/already_owned.html", {"book": order.book})
    except services.CheckoutError as exc:
        messages.error(request, str(exc))
        return redirect(order)
    return redirect_to_payment(new_order)


def _retry_context(request, order) -> dict:
    """What a declined or unfinished book order's page offers: "Try again" in one
    click, or the library if the reader owns the book by now."""
    if (
        order.buyer_id != request.user.pk
        or order.product != Order.Product.BOOK
        or order.status not in services.RETRYABLE
    ):
        return {}
    if owns(request.user, order.book):
        return {"owned_now": True}
    return {"retry_token": uuid.uuid4()}


@login_required
def order_detail(request, public_id):
    """The order's status and printable receipt; refreshes itself while a payment is pending.
    The reader a gift or a team seat went to gets a note of where it came from instead
    (the library links here): never the price."""
    received = _received_order(request, public_id)
    if received is not None:
        return render(request, "payments/received.html", {"order": received})
    order = _get_order_for_user(request, public_id)
    return render(
        request,
        "payments/order_detail.html",
        {
            "order": order,
            "book": order.book,
            "pre_order": order.is_paid and order.book_id and not selectors.has_files(order.book),
            **_retry_context(request, order),
            "refund_deadline": refunds.refund_deadline(order),
            "can_refund": refunds.refund_refusal(order, request.user) is None
            and not Refund.objects.filter(order=order)
            .exclude(status=Refund.Status.DENIED)
            .exists(),
            "refund": Refund.objects.filter(order=order).first(),
            "ledger": order.ledger_transactions.prefetch_related("entries__author")
            if request.user.is_staff
            else None,
        },
    )


def _received_order(request, public_id) -> Order | None:
    """The gift or seat order that put a book in this reader's library, or None."""
    if not request.user.is_authenticated:
        return None
    held = Entitlement.objects.filter(user=request.user, order_ref=public_id).exists()
    if not held:
        return None
    order = (
        Order.objects.select_related("book", "gift__buyer", "team_licence__manager")
        .filter(public_id=public_id)
        .exclude(buyer=request.user)
        .first()
    )
    return order if order is not None and order.for_someone_else else None


@cache_for_readers(params=("page",))  # first: a hit loads no user
@login_required
def order_list(request):
    # The list shows each book's title only: not its long texts (pitch, about, sample).
    orders = (
        Order.objects.filter(buyer=request.user)
        .select_related("book")
        .defer(*(f"book__{name}" for name in CARD_DEFER))
        .order_by("-created_at")
    )
    page = Paginator(orders, 25).get_page(request.GET.get("page"))
    return render(request, "payments/order_list.html", {"page": page})


@csrf_exempt
@require_POST
def stripe_webhook(request):
    result = webhooks.handle_stripe(request.body, request.headers.get("Stripe-Signature"))
    return HttpResponse(result.outcome, status=result.status, content_type="text/plain")


@login_required
@require_http_methods(["GET", "POST"])
@ratelimit.limit("refund", account=lambda request: request.user.pk)
def refund(request, public_id):
    """Click 1 (GET): what a refund does, with an optional reason. Click 2 (POST): do it."""
    order = _get_order_for_user(request, public_id)
    if order.buyer_id != request.user.pk:
        raise Http404("No such order.")
    if order.bundle_sale:  # a bundle is refunded as one line, all its books together
        return redirect("payments:bundle_refund", sale=order.bundle_sale)
    existing = Refund.objects.filter(order=order).first()
    if existing is not None and existing.status != Refund.Status.DENIED:
        return redirect(order)
    refusal = refunds.refund_refusal(order, request.user)
    if refusal:
        return render(
            request,
            "payments/refund_refused.html",
            {"order": order, "message": refusal},
            status=400 if request.method == "POST" else 200,
        )
    form = RefundForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            result = refunds.refund_order(
                order_id=order.pk, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except refunds.RefundError as exc:
            return render(
                request,
                "payments/refund_refused.html",
                {"order": order, "message": str(exc)},
                status=400,
            )
        _say_refund_outcome(request, order, result)
        return redirect(order)
    return render(
        request,
        "payments/refund_confirm.html",
        {
            "order": order,
            "book": order.book,
            "form": form,
            "deadline": refunds.refund_deadline(order),
            **dict(zip(("unused_credits", "unused_cents"), credits.unused(order), strict=True)),
        },
    )


def _say_refund_outcome(request, order, result) -> None:
    Outcome = refunds.Outcome
    if result.outcome == Outcome.REFUNDED:
        messages.success(
            request,
            "Refunded: the credit is back in your account."
            if order.paid_with_credit
            else f"Refunded: {format_cents(result.refund.amount_cents)} is on its way back to you.",
        )
    elif result.outcome == Outcome.IN_REVIEW:
        messages.info(
            request,
            "Your refund request is waiting for a quick check by our team. We will e-mail you.",
        )
    elif result.outcome == Outcome.SETTLE_BY_HAND:
        messages.error(
            request,
            "Part of this payment was already refunded; our team will settle the rest by hand.",
        )
    elif result.outcome == Outcome.RETRYING:
        messages.error(
            request,
            "The payment provider could not make the refund right now. We will retry it; nothing is lost.",
        )
