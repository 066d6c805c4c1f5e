"""Stripe's Payment Element on the cart page itself (issue 21), deferred-intent flow.

The cart page mounts the Element with the cart's amount and currency, before any
PaymentIntent exists. On submit its script (static/js/stripe-cart.js) calls
``elements.submit()``, then POSTs the page's own form here (e-mail for a guest, the
lines' ``version``, the page's ``checkout_token``, CSRF); this places the cart's
payment and its PaymentIntent with the same code as the no-JS checkout
(``cart_payments``), and answers ``{client_secret, return_url}`` for
``stripe.confirmPayment``. One page token, one payment, one PaymentIntent: a double
submit gets the same client secret. Fulfilment stays with the webhook.

Errors are RFC 9457 problems (``application/problem+json``) the script shows;
nothing is placed when one is returned.
"""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_POST

from accounts.services import account_for_email
from core import ratelimit

from . import cart, cart_payments, services
from .cart_views import checkout_token, line_choices, remember_guest_payment
from .forms import CheckoutEmailForm
from .gateways import GatewayError


def _problem(status: int, title: str, detail: str, **extra) -> JsonResponse:
    return JsonResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        status=status,
        content_type="application/problem+json",
    )


def _session(payment):
    """The payment's PaymentIntent. Two submits at the same instant both ask Stripe
    (an idempotency key in use answers an error; localstripe makes a second intent):
    the one whose intent is not linked resumes the one that is."""
    try:
        return cart_payments.start_payment(payment)
    except GatewayError:
        payment.refresh_from_db(fields=["gateway_reference"])
        if not payment.gateway_reference:
            raise
        return cart_payments.start_payment(payment)


@require_POST
def intent(request):
    """The cart's PaymentIntent, placed once per cart page: its client secret."""
    if settings.PAYMENT_GATEWAY != "stripe":
        return _problem(
            400, "No Stripe here", "This store takes cards on the cart page's own form."
        )
    contents = cart.contents(request)
    token = checkout_token(request)
    if token is None:
        return _problem(400, "Out of date", "This page is out of date: reload the cart.")
    if request.POST.get("version") != contents.version:
        return _problem(
            409,
            "Your cart changed",
            "Your cart changed since this page was shown (another tab?). "
            "Nothing was charged: reload the cart and pay again.",
        )
    if not contents.payable:
        return _problem(400, "Not payable", "Fix the lines marked in your cart first.")
    guest = not request.user.is_authenticated
    if guest:
        form = CheckoutEmailForm(request.POST)
        if not form.is_valid():
            return _problem(
                400,
                "Check the form",
                " ".join(form.errors.get("email", [])),
                errors={name: list(errors) for name, errors in form.errors.items()},
            )
        email = form.cleaned_data["email"]
        if not ratelimit.consume(request, "guest_checkout", account=email.lower()).allowed:
            return _problem(429, "Too many attempts", "Too many attempts: try again later.")
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
        session = _session(payment)
    except services.CheckoutError as exc:
        return _problem(400, "Not payable", f"{exc} Nothing was charged.")
    except GatewayError as exc:
        return _problem(502, "Payment service unavailable", str(exc))
    if guest:
        remember_guest_payment(request, payment)
    return JsonResponse(
        {
            "client_secret": session.client_secret,
            "return_url": request.build_absolute_uri(payment.get_absolute_url()),
        }
    )
