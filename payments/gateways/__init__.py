"""Payment gateways behind one small interface (see base.py).

``get_gateway()`` returns the one named by ``PAYMENT_GATEWAY``; orders remember
the gateway they were paid with, so ``get_gateway(order.gateway)`` finds it again.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import Gateway, GatewayError, PaymentSession, PaymentStart, PaymentState, RefundOutcome


def demo_gateway_allowed() -> bool:
    """Whether the demo gateway may "take payments" here: ``make run`` (DEBUG) or a
    store declared a demo (DEMO_STORE). Elsewhere `check --deploy` fails on it
    (payments/checks.py) and demo memberships are not renewed for free."""
    return settings.DEBUG or settings.DEMO_STORE


def get_gateway(name: str | None = None) -> Gateway:
    name = name or settings.PAYMENT_GATEWAY
    if name == "demo":
        from .demo import DemoGateway

        return DemoGateway()
    if name == "stripe":
        from .stripe import StripeGateway

        return StripeGateway()
    raise ImproperlyConfigured(f"Unknown PAYMENT_GATEWAY {name!r}: use 'demo' or 'stripe'.")


__all__ = [
    "Gateway",
    "GatewayError",
    "PaymentSession",
    "PaymentStart",
    "PaymentState",
    "RefundOutcome",
    "demo_gateway_allowed",
    "get_gateway",
]
