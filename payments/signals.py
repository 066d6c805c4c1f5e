"""Signals payments sends for higher apps (webhooks) to act on.

Each is sent inside the transaction of the state change it announces, once per
change (the service refuses a replay before it gets here): a receiver writes
rows that commit or roll back with the change (an outbox row, never a network
call) and schedules any work with ``transaction.on_commit``. Payments imports no
receiver.
"""

from django.dispatch import Signal

# A book order became paid: its sale is in the ledger and the book granted.
# Not sent for credit packs, memberships or a payment for a book the reader owned.
# Arguments: sender=Order, order=Order.
sale_completed = Signal()

# A paid book order was refunded: the sale's reversal is in the ledger.
# Arguments: sender=Order, order=Order, refund=Refund.
refund_completed = Signal()

# An admin marked a payout sent.
# Arguments: sender=Payout, payout=Payout.
payout_sent = Signal()
