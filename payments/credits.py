"""Reader credits: a ledger of credits, each carrying the cash it was bought with.

One credit buys any one book that is not free. Credits arrive in lots (a pack,
a membership period, a grant); a lot of N credits bought for C cents gives its
credits cash values that sum to exactly C (``_next_value``). Spending takes
the oldest lot first (FIFO), and the book's royalties are the usual rule in
payments/royalties.py applied to that cash value, so the money ledger stays
exact to the cent:

    pack bought      processor -C        credits +C
    book on credit   credits -v          authors +royalty(v) split, platform rest
    book refunded    the exact reversal  (and the credit goes back to its lot)
    pack refunded    processor +u        credits -u   (u = its unused value)
    credits expired  credits -v          platform +v

A reader's balance is the sum of their CreditEntry rows, never a counter. Every
movement locks the reader's row first, so two tabs spending the last credit
serialise: one wins, the other is refused.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

from catalog.selectors import CARD_DEFER
from core.compiled import CompiledQuery

from . import ledger
from .models import CreditEntry, CreditLot, Order

CREDIT_GATEWAY = "credit"


class CreditError(Exception):
    """Why credits cannot be used or refunded; the message is fit to show."""


@dataclass(frozen=True)
class LotBalance:
    lot: CreditLot
    credits: int  # unused credits left in the lot
    value_cents: int  # their cash value

    def next_value(self) -> int:
        """The cash value of the next credit taken from the lot: an even share,
        the last credit taking the remainder (so the lot's values sum to its cash)."""
        if self.credits <= 1:
            return self.value_cents
        return self.value_cents // self.credits

    def value_of_next(self, count: int) -> int:
        """The cash value of the next ``count`` credits, taken one by one as spending would."""
        total, rest = 0, self
        for _ in range(count):
            one = rest.next_value()
            total += one
            rest = LotBalance(rest.lot, rest.credits - 1, rest.value_cents - one)
        return total


def balance(user) -> int:
    """The reader's credits: the sum of their credit ledger."""
    if not getattr(user, "is_authenticated", False):
        return 0
    rows = _BALANCE.rows(user.pk)
    return int(rows[0][0]) if rows else 0


def _balance_of(user_id):
    entries = CreditEntry.objects.filter(owner_id=user_id).order_by()
    return entries.values("owner_id").annotate(n=Sum("credits")).values_list("n")


_BALANCE = CompiledQuery(_balance_of, arity=1)  # in the header of every signed-in page


def history(user):
    # Lists show each book's title only: not its long texts (pitch, about, sample).
    return (
        CreditEntry.objects.filter(owner=user)
        .select_related("lot", "order__book")
        .defer(*(f"order__book__{name}" for name in CARD_DEFER))
    )


def lot_balances(user, *, source=None) -> list[LotBalance]:
    """Lots with unused credits, oldest first."""
    lots = (
        CreditLot.objects.filter(Q(source=source) if source else Q(), owner=user)
        .annotate(
            left=Coalesce(Sum("entries__credits"), 0),
            value=Coalesce(Sum("entries__value_cents"), 0),
        )
        .filter(left__gt=0)
        .order_by("created_at", "id")
    )
    return [LotBalance(lot, lot.left, lot.value) for lot in lots]


def _reader_lock_query(user_id):
    # Only the id is read: the lock is the point, not the row (a user has many columns).
    readers = get_user_model().objects.select_for_update().filter(pk=user_id)
    return readers.values_list("pk", flat=True).order_by("pk")[:1]


_READER_LOCK = CompiledQuery(_reader_lock_query, arity=1)  # twice per purchase


def lock_reader(user):
    """Serialise every credit movement of one reader (the row lock is the mutex)."""
    _READER_LOCK.rows(user.pk)


# --- Getting credits --------------------------------------------------------------


def add_lot(order: Order) -> CreditLot:
    """A paid pack or membership order becomes credits, once (called by mark_paid
    in its transaction). The cash moves from the processor to the readers' credits."""
    existing = CreditLot.objects.filter(order=order).first()
    if existing is not None:
        return existing
    lock_reader(order.buyer)
    membership = order.product == Order.Product.MEMBERSHIP
    lot = CreditLot.objects.create(
        owner=order.buyer,
        source=CreditLot.Source.MEMBERSHIP if membership else CreditLot.Source.PACK,
        order=order,
        credits=order.credits,
        cash_cents=order.amount_cents,
        created_at=order.paid_at,
    )
    CreditEntry.objects.create(
        owner=order.buyer,
        lot=lot,
        kind=CreditEntry.Kind.GRANTED if membership else CreditEntry.Kind.BOUGHT,
        credits=order.credits,
        value_cents=order.amount_cents,
        order=order,
        created_at=order.paid_at,
    )
    ledger.record_credit_purchase(order)
    if membership:
        _expire_over_cap(order.buyer)
    return lot


def grant_credits(*, user, credits: int) -> CreditLot:
    """Credits given by the store (support, promotions): no cash, so no royalties
    beyond what the rule gives for $0 (nothing)."""
    if credits < 1:
        raise CreditError("Grant at least one credit.")
    with transaction.atomic():
        lock_reader(user)
        lot = CreditLot.objects.create(
            owner=user, source=CreditLot.Source.GRANT, credits=credits, cash_cents=0
        )
        CreditEntry.objects.create(
            owner=user, lot=lot, kind=CreditEntry.Kind.GRANTED, credits=credits, value_cents=0
        )
    return lot


def _expire_over_cap(user) -> int:
    """Membership credits beyond the rollover cap expire, oldest first."""
    lots = lot_balances(user, source=CreditLot.Source.MEMBERSHIP)
    over = sum(b.credits for b in lots) - settings.MEMBERSHIP_ROLLOVER_CAP
    expired = 0
    for lot_balance in lots:
        if over <= 0:
            break
        take = min(over, lot_balance.credits)
        value = lot_balance.value_of_next(take)
        CreditEntry.objects.create(
            owner=user,
            lot=lot_balance.lot,
            kind=CreditEntry.Kind.EXPIRED,
            credits=-take,
            value_cents=-value,
        )
        if value:
            ledger.record_credit_expiry(value, memo=f"{take} credits of lot {lot_balance.lot.pk}")
        over -= take
        expired += take
    return expired


def return_credit(order: Order) -> CreditEntry | None:
    """A book bought with a credit was refunded: the credit, with its value, goes
    back to the lot it came from (once)."""
    spent = CreditEntry.objects.filter(order=order, kind=CreditEntry.Kind.SPENT).first()
    if spent is None:
        return None
    lock_reader(order.buyer)
    entry, _ = CreditEntry.objects.get_or_create(
        order=order,
        kind=CreditEntry.Kind.RETURNED,
        defaults={
            "owner": order.buyer,
            "lot": spent.lot,
            "credits": 1,
            "value_cents": -spent.value_cents,
        },
    )
    return entry


# --- Refunding a pack or a membership period -----------------------------------------


def unused(order: Order) -> tuple[int, int]:
    """(credits, cash value) still unused in the lot the order bought."""
    lot = getattr(order, "credit_lot", None) if order.pk else None
    if lot is None:
        return 0, 0
    sums = lot.entries.aggregate(
        n=Coalesce(Sum("credits"), 0), value=Coalesce(Sum("value_cents"), 0)
    )
    return sums["n"], sums["value"]


def withdraw_for_refund(order: Order) -> int:
    """Take the lot's unused credits out of the reader's balance for a refund (so
    they cannot be spent while the money goes back). Returns their cash value;
    once per order (a second call returns the first's value)."""
    lock_reader(order.buyer)
    done = CreditEntry.objects.filter(order=order, kind=CreditEntry.Kind.REFUNDED).first()
    restored = CreditEntry.objects.filter(order=order, kind=CreditEntry.Kind.RESTORED).exists()
    if done is not None and not restored:
        return -done.value_cents
    credits, value = unused(order)
    if credits <= 0:
        raise CreditError("Every credit of this purchase is spent: there is nothing to refund.")
    if done is not None:  # taken once and given back when the refund was denied
        raise CreditError("This purchase's refund was denied; write to us if you disagree.")
    CreditEntry.objects.create(
        owner=order.buyer,
        lot=order.credit_lot,
        kind=CreditEntry.Kind.REFUNDED,
        credits=-credits,
        value_cents=-value,
        order=order,
    )
    return value


def restore_after_denied_refund(order: Order) -> None:
    """A refund of unused credits was denied: the credits come back, once."""
    lock_reader(order.buyer)
    taken = CreditEntry.objects.filter(order=order, kind=CreditEntry.Kind.REFUNDED).first()
    if taken is None:
        return
    CreditEntry.objects.get_or_create(
        order=order,
        kind=CreditEntry.Kind.RESTORED,
        defaults={
            "owner": order.buyer,
            "lot": taken.lot,
            "credits": -taken.credits,
            "value_cents": -taken.value_cents,
        },
    )
