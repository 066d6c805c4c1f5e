"""The cart page (/cart/): its lines, and one payment for all of them on the page.

Thin: parse with a form, call ``payments.cart`` (the lines) or
``payments.cart_payments`` (the payment), render.
"""

import uuid

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.services import account_for_email
from core import ratelimit
from core.fields import PriceField

from . import bundle_cart, cart, cart_payments, coupons, guest_books, services
from .forms import AmountForm, CardForm, CheckoutEmailForm
from .gateways import GatewayError
from .models import Payment
from .views import book_for_sale

GUEST_PAYMENTS_KEY = "guest_payments"  # the cart payments this visitor made without signing in


def _page(
    request, *, status=200, card_form=None, checkout_token=None, contents=None, email_form=None
):
    contents = contents or cart.contents(request)
    for note in contents.notes:
        messages.info(request, note)
    return render(
        request,
        "payments/cart.html",
        {
            "contents": contents,
            "card_form": card_form or CardForm(),
            "email_form": email_form or CheckoutEmailForm(),
            "demo_card": settings.PAYMENT_GATEWAY == "demo",
            # Stripe's Payment Element on this page (payments.cart_intent_views)
            "stripe_element": settings.PAYMENT_GATEWAY == "stripe",
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "currency": contents.currency,
            "checkout_token": checkout_token or uuid.uuid4(),
            "refund_days": settings.REFUND_WINDOW_DAYS,
        },
        status=status,
    )


@require_GET
def cart_page(request):
    return _page(request)


# A GET, like a store's "add to cart" permalink: the button sits in the book
# page's price form, which anonymous visitors get from the whole-page cache, so it
# can carry no CSRF token (and only signed views skip the CSRF check). It is
# idempotent (the line is set to this amount), moves no money, and lands on the
# cart page, where paying takes a POST with its token; the session cookie is
# SameSite=Lax, so another site's images and scripts send none.
@require_GET
@never_cache
def add(request, slug):
    """ "Add to cart" on the book page: the amount on its slider, checked here."""
    book = book_for_sale(request, slug)
    coupon = None
    if request.GET.get("coupon", "").strip():  # a coupon link's hidden field
        try:
            coupon = coupons.find(request.GET["coupon"], book=book)
        except coupons.CouponError as exc:
            messages.error(request, str(exc))
            return redirect(book)
    form = AmountForm(request.GET, book=book, bounds=cart.line_bounds(book, coupon))
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("amount", ["Enter an amount."])))
        return redirect(book)
    try:
        cart.add(request, book, form.cleaned_data["amount"], coupon)
    except cart.CartError as exc:
        messages.error(request, str(exc))
        return redirect(book)
    messages.success(request, f"“{book.title}” is in your cart.")
    return redirect("payments:cart")


def _line_id(request) -> int | None:
    value = request.POST.get("book", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None


@require_POST
def update(request):
    """Change a line's amount, or remove it ("remove" button)."""
    book_id = _line_id(request)
    if book_id is None:
        messages.error(request, "That book is not in your cart: nothing was changed.")
        return _page(request, status=400)
    if "remove" in request.POST:
        cart.remove(request, [book_id])
        messages.success(request, "Removed from your cart.")
        return redirect("payments:cart")
    field = PriceField()
    try:
        cents = field.clean(request.POST.get("amount", ""))
        if cents is None:
            raise cart.CartError("Enter the amount you want to pay.")
        cart.change_amount(request, book_id, cents)
    except cart.CartError as exc:
        messages.error(request, str(exc))
        return _page(request, status=400)
    except ValidationError as exc:  # the price parser's
        messages.error(request, " ".join(exc.messages))
        return _page(request, status=400)
    messages.success(request, "Amount changed.")
    return redirect("payments:cart")


def checkout_token(request) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.POST.get("checkout_token", ""))
    except ValueError:
        return None


@require_POST
def checkout(request):
    """Pay the whole cart as the page showed it: one payment, one order per line.
    A visitor who is not signed in types an e-mail address on the same form: the
    account behind it (new, or existing and never revealed) gets the books.

    Refused, with nothing charged, when the page is stale (the cart changed in
    another tab since), a line is not payable, or the form is wrong."""
    contents = cart.contents(request)
    token = checkout_token(request)
    if token is None:
        messages.error(
            request, "This page is out of date: nothing was charged. Pay from the cart below."
        )
        return _page(request, status=400, contents=contents)
    if request.POST.get("version") != contents.version:
        messages.error(
            request,
            "Your cart changed since this page was shown (another tab?). "
            "Nothing was charged: check the cart below and pay again.",
        )
        return _page(request, status=409, contents=contents)
    if not contents.payable:
        messages.error(request, "Fix the lines marked below first: nothing was charged.")
        return _page(request, status=400, contents=contents)
    guest = not request.user.is_authenticated
    email_form = CheckoutEmailForm(request.POST) if guest else None
    demo = settings.PAYMENT_GATEWAY == "demo"
    card_form = CardForm(request.POST) if demo else None
    forms_valid = [form.is_valid() for form in (email_form, card_form) if form is not None]
    if not all(forms_valid):
        return _page(
            request,
            status=400,
            card_form=card_form,
            email_form=email_form,
            checkout_token=token,
            contents=contents,
        )
    if guest:
        email = email_form.cleaned_data["email"]
        if not ratelimit.consume(request, "guest_checkout", account=email.lower()).allowed:
            return ratelimit.too_many_requests(request)
        buyer, created = account_for_email(email)
    else:
        buyer, created = request.user, False
    try:
        payment = cart_payments.place_cart_payment(
            buyer=buyer,
            lines=line_choices(contents, token),
            checkout_token=token,
            guest=guest,
            account_created=created,
        )
        session = cart_payments.start_payment(payment)
    except services.CheckoutError as exc:
        messages.error(request, f"{exc} Nothing was charged.")
        return _page(request, status=400, contents=contents)
    except GatewayError as exc:
        messages.error(request, str(exc))
        return _page(request, status=502, contents=contents)
    if guest:
        remember_guest_payment(request, payment)
    if session.page == "stripe":
        return redirect(payment)
    if payment.status != Payment.Status.PAID:
        succeeded, message = cart_payments.pay_with_test_card(
            payment, card_number=card_form.cleaned_data["card_number"], reference=session.reference
        )
        if not succeeded:
            messages.error(request, f"{message} Nothing was charged.")
            return _page(
                request,
                status=402,
                card_form=card_form,
                email_form=email_form,
                checkout_token=token,
                contents=contents,
            )
    return _paid(request, payment)


def line_choices(contents, token) -> list:
    """What the cart page showed, as the lines of its payment (coupons, gifts, bundles' books)."""
    lines = [
        cart_payments.LineChoice(
            line.book, line.amount_cents, coupon=line.coupon, gift=contents.gifts.get(line.book.pk)
        )
        for line in contents.lines
    ]
    return lines + bundle_cart.choices(contents.bundle_lines, token)


def remember_guest_payment(request, payment) -> None:
    """This browser may see the payment it made without signing in (the last 10)."""
    remembered = request.session.get(GUEST_PAYMENTS_KEY, [])[-9:]
    if str(payment.public_id) not in remembered:
        request.session[GUEST_PAYMENTS_KEY] = [*remembered, str(payment.public_id)]


def _paid(request, payment):
    bundle_cart.remove(request.session, payment.orders.values_list("bundle_id", flat=True))
    cart.forget(request, [order.book_id for order in payment.orders.all()])
    if not request.user.is_authenticated:
        # Never what the account owns (that would reveal it): the e-mail tells.
        return redirect(payment)
    paid = list(payment.orders.filter(status="paid", gift=None).select_related("book"))
    gifts = list(payment.gifts.order_by("pk"))
    for gift in gifts:
        messages.success(request, f"Your gift “{gift.title}” for {gift.recipient_email} is paid.")
    titles = ", ".join(f"“{order.book.title}”" for order in paid)
    if paid:
        messages.success(
            request, f"Thank you! {titles} {'is' if len(paid) == 1 else 'are'} in your library."
        )
    if len(paid) != payment.orders.filter(gift=None).count():
        messages.info(request, "A book you owned already was refunded in full: see your orders.")
    return redirect("library:index" if paid or not gifts else "payments:gifts")


def _get_payment_for_request(request, public_id) -> Payment:
    """The buyer's payment, or one this visitor made here without signing in; 404 else."""
    try:
        payment = Payment.objects.select_related("buyer").get(public_id=public_id)
    except Payment.DoesNotExist as exc:
        raise Http404("No such payment.") from exc
    if request.user.is_authenticated and payment.buyer_id == request.user.pk:
        return payment
    if payment.guest_checkout and str(public_id) in request.session.get(GUEST_PAYMENTS_KEY, []):
        return payment
    raise Http404("No such payment.")


def payment_page(request, public_id):
    """A cart payment: Stripe's Payment Element while pending, then its lines (for
    a guest: where the sign-in link went, nothing of what the account holds)."""
    payment = _get_payment_for_request(request, public_id)
    guest_view = payment.buyer_id != request.user.pk
    orders = [] if guest_view else list(payment.orders.select_related("book").order_by("pk"))
    context = {"payment": payment, "orders": orders, "guest_view": guest_view}
    if payment.status == Payment.Status.PENDING and payment.gateway == "stripe":
        try:
            session = cart_payments.start_payment(payment)
        except GatewayError as exc:
            messages.error(request, str(exc))
            return redirect("payments:cart")
        context.update(
            client_secret=session.client_secret,
            publishable_key=settings.STRIPE_PUBLISHABLE_KEY,
            return_url=request.build_absolute_uri(payment.get_absolute_url()),
        )
    elif payment.status == Payment.Status.PAID:
        cart.forget(request, list(payment.orders.values_list("book_id", flat=True)))
        if guest_view:  # the paid page is the guest's books (payments.guest_books)
            context["books"] = guest_books.books(payment)
    return render(request, "payments/cart_payment.html", context)
