"""What every page may show of payments, without other apps loading its template tags.

The royalty rule's numbers (so no template types the rate again) and the reader's
credit balance and summary (the account page). Each is a callable the template calls only where it
shows it, so a page that does not show it costs no query; an anonymous reader
has none (0, no query), so a page cached for every anonymous reader holds
nothing of one reader's.
"""

from functools import cache

from . import cart, credits, memberships
from .royalties import rule_texts


def payments(request):
    # Built only by a page that states the rule (its JSON and examples: ~15 µs).
    royalty_rule = cache(rule_texts)
    user = getattr(request, "user", None)
    # The header's cart count is kept in the session: no query (payments/cart.py).
    cart_count = cart.count(request)
    if user is None or not user.is_authenticated:
        return {
            "royalty_rule": royalty_rule,
            "credit_balance": 0,
            "credit_summary": None,
            "cart_count": cart_count,
        }
    return {
        "royalty_rule": royalty_rule,
        "cart_count": cart_count,
        "credit_balance": cache(lambda: credits.balance(user)),
        "credit_summary": cache(lambda: _credit_summary(user)),
    }


def _credit_summary(user) -> dict:
    """Balance, membership and the latest movements, for the account page."""
    return {
        "balance": credits.balance(user),
        "membership": memberships.membership_of(user),
        "recent": list(credits.history(user)[:5]),
    }
