"""Credits in the account page and checkout (the balance itself comes from the
context processor payments.context_processors.payments)."""

import uuid

from django import template

from payments import credits, memberships

register = template.Library()


@register.simple_tag
def new_checkout_token() -> str:
    """A fresh token for a form that places an order: a double submit finds one order."""
    return str(uuid.uuid4())


@register.simple_tag
def credit_summary(user) -> dict:
    """Balance, membership and the latest movements, for the account page."""
    return {
        "balance": credits.balance(user),
        "membership": memberships.membership_of(user),
        "recent": list(credits.history(user)[:5]),
    }
