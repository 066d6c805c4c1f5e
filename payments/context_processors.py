"""What every page may show of payments, without other apps loading its template tags.

The royalty rule's numbers (so no template types the rate again) and the reader's
credit balance. The balance is a callable the template calls only where it
shows it, so a page that does not show it costs no query; an anonymous reader
has none (0, no query), so a page cached for every anonymous reader holds
nothing of one reader's.
"""

from functools import cache

from . import credits
from .royalties import rule_texts


def payments(request):
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        balance = cache(lambda: credits.balance(user))
    else:
        balance = 0
    return {"royalty_rule": rule_texts(), "credit_balance": balance}
