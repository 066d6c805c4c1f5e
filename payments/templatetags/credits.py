"""Credits in catalog and account pages, without those apps importing payments."""

import uuid

from django import template

from payments import credits, memberships

register = template.Library()


@register.simple_tag(takes_context=True)
def credit_balance(context) -> int:
    """The logged-in reader's credits (0, without a query, for anonymous visitors)."""
    request = context.get("request")
    return credits.balance(request.user) if request is not None else 0


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
