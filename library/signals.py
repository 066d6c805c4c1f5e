"""Signals the library sends, for its own receivers and for higher apps.

Sent after the transaction that made the change commits (never for a change that
rolled back), once per change: a grant that finds the book already owned sends nothing.
"""

from django.dispatch import Signal

# A reader got a book (a purchase, a claimed gift, a refund reversed).
# Arguments: sender=Entitlement, user_id=int, book=Book, order_ref=UUID | None.
entitlement_granted = Signal()

# A reader lost a book (a refund, or they removed it from their library).
# Arguments: sender=Entitlement, user_id=int, book=Book.
entitlement_revoked = Signal()
