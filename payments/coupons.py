"""Coupon codes: an author's promotion that lowers one book's or bundle's price range.

- A code is case-insensitive (stored upper-cased): letters, digits, ``-`` and ``_``,
  3 to 32 characters. It is unique per book and per bundle, not globally: two
  authors may both run "LAUNCH", and a code for another book finds nothing.
- A coupon lowers the minimum and the suggested price (percentage off, amount off,
  or a fixed price, including free); the top of the slider stays. The reader still
  pays what they want at or above the coupon's minimum, and the author earns
  ``royalty_for`` of what was paid, like any sale.
- The invalid band (above free, below the lowest paid price, MIN_PAID_PRICE_CENTS):
  a coupon never makes a price the royalty rule refuses. A coupon price in the band
  rounds **up to the lowest paid price** (never down to free: a free copy is the
  author's explicit choice, a fixed price of $0 or 100% off). For a bundle the
  floor is the bundle's lowest valid minimum (every book's part at least the lowest paid price,
  catalog.bundles.lowest_minimum), and below it the price rounds up to it; a
  bundle is never free (a bundle sale is a payment): a free coupon for a bundle
  sells it at that floor.
- Uses are counted when an order is **paid**, not when it is placed, under the
  coupon's row lock (``redeem``): one redemption per paid sale (a bundle sale is
  one), and its reader may not use a one-per-reader coupon again. A refund does
  not give the use back.
- At payment time a coupon that has expired, is used up or was used by this
  reader meanwhile refuses the order before any card is charged
  (``check_before_charge``, under the same lock, in the same transaction as the
  demo charge). A payment the gateway captured already (a Stripe webhook) is
  honoured: the reader was shown that price; the redemption is marked
  ``over_limit`` so the author sees it.
"""

import re
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from core.money import MIN_PAID_PRICE_CENTS, format_cents

from .models import Coupon, CouponRedemption, Order
from .pricing import PriceRange

CODE_PATTERN = re.compile(r"^[A-Z0-9_-]{3,32}$")
MAX_CODE_INPUT = 64


class CouponError(Exception):
    """Why a coupon cannot be used; fit to show to the reader."""


def normalised(code: str) -> str:
    """The stored form of a typed code: trimmed, upper-cased; "" when it cannot be one."""
    code = (code or "")[:MAX_CODE_INPUT].strip().upper()
    return code if CODE_PATTERN.match(code) else ""


def find(code: str, *, book=None, bundle=None) -> Coupon:
    """The coupon ``code`` of this book (or bundle); CouponError when there is none,
    or it cannot be used now (not started, ended, used up)."""
    clean = normalised(code)
    if not clean:
        raise CouponError("That is not a coupon code: use letters, digits, - and _.")
    owner = {"book": book} if book is not None else {"bundle": bundle}
    coupon = Coupon.objects.filter(code=clean, **owner).first()
    if coupon is None:
        what = "book" if book is not None else "bundle"
        raise CouponError(f"There is no coupon {clean} for this {what}.")
    problem = availability_problem(coupon)
    if problem:
        raise CouponError(problem)
    return coupon


def availability_problem(coupon: Coupon, *, now=None) -> str:
    """Why nobody can use the coupon now ("" when it runs)."""
    now = now or timezone.now()
    if coupon.starts_at > now:
        return f"The coupon {coupon.code} starts on {coupon.starts_at:%Y-%m-%d}."
    if coupon.ends_at is not None and coupon.ends_at <= now:
        return f"The coupon {coupon.code} has expired."
    if coupon.max_uses is not None and coupon.uses >= coupon.max_uses:
        return f"The coupon {coupon.code} has been used up."
    return ""


def reader_problem(coupon: Coupon, reader) -> str:
    """Why this reader cannot use the coupon ("" when they can)."""
    if (
        coupon.one_per_reader
        and reader is not None
        and reader.is_authenticated
        and CouponRedemption.objects.filter(coupon=coupon, reader=reader).exists()
    ):
        return f"You have used the coupon {coupon.code} already."
    return ""


def discounted(
    coupon: Coupon, cents: int, *, floor: int = MIN_PAID_PRICE_CENTS, free: bool = True
) -> int:
    """``cents`` under the coupon, never in the invalid band: a price between 1¢
    and ``floor - 1`` rounds up to ``floor`` (the lowest paid price for a book); so does $0 when
    ``free`` is False (a bundle)."""
    if coupon.kind == Coupon.Kind.PERCENT:
        # The discount rounds down, the price up: the author never gets less than shown.
        price = cents - cents * coupon.value // 100
    elif coupon.kind == Coupon.Kind.AMOUNT:
        price = max(0, cents - coupon.value)
    else:
        price = coupon.value
    price = min(price, cents) if coupon.kind != Coupon.Kind.FIXED else price
    if 0 < price < floor or (price == 0 and not free):
        price = floor
    return price


def coupon_range(
    bounds: PriceRange, coupon: Coupon, *, floor: int = MIN_PAID_PRICE_CENTS, free: bool = True
) -> PriceRange:
    """The price range under the coupon: a lower minimum and suggested price, the same
    top. Never above the range without it (a coupon is never a price rise)."""
    if bounds.is_free:
        return bounds
    minimum = min(bounds.minimum, discounted(coupon, bounds.minimum, floor=floor, free=free))
    suggested = min(bounds.suggested, discounted(coupon, bounds.suggested, floor=floor, free=free))
    return PriceRange(minimum=minimum, suggested=max(minimum, suggested), maximum=bounds.maximum)


def describe(coupon: Coupon) -> str:
    """ "20% off", "$5.00 off", "a price of $4.99", "free": what it does, for pages."""
    if coupon.kind == Coupon.Kind.PERCENT:
        return f"{coupon.value}% off"
    if coupon.kind == Coupon.Kind.AMOUNT:
        return f"{format_cents(coupon.value)} off"
    return "free" if coupon.value == 0 else f"a price of {format_cents(coupon.value)}"


@dataclass(frozen=True)
class Usage:
    """A coupon's redemptions and the revenue they brought (the author's list)."""

    coupon: Coupon
    redemptions: int
    revenue_cents: int


def sale_key(order: Order) -> str:
    return f"bundle:{order.bundle_sale}" if order.bundle_sale else str(order.public_id)


def _locked(coupon_id: int) -> Coupon:
    return Coupon.objects.select_for_update().get(pk=coupon_id)


def check_before_charge(orders: list[Order]) -> None:
    """Before a card is charged for ``orders`` (inside the caller's transaction, so
    the lock is held until the payment is booked): lock each coupon they use and
    refuse with CouponError when it ran out, expired, or this reader used it
    meanwhile. A sale already redeemed (a replay) passes."""
    sales: dict[str, Order] = {}
    for order in orders:
        if order.coupon_id:
            sales.setdefault(sale_key(order), order)
    needed: dict[int, int] = {}
    readers: dict[int, set] = {}
    for key, order in sorted(sales.items(), key=lambda item: item[1].coupon_id):
        coupon = _locked(order.coupon_id)  # in coupon id order: no deadlock between carts
        if CouponRedemption.objects.filter(sale_key=key).exists():
            continue
        needed[coupon.pk] = needed.get(coupon.pk, 0) + 1
        now = timezone.now()
        if coupon.starts_at > now or (coupon.ends_at is not None and coupon.ends_at <= now):
            raise CouponError(availability_problem(coupon) + " Nothing was charged.")
        if coupon.max_uses is not None and coupon.uses + needed[coupon.pk] > coupon.max_uses:
            raise CouponError(f"The coupon {coupon.code} has been used up. Nothing was charged.")
        seen = readers.setdefault(coupon.pk, set())
        problem = reader_problem(coupon, order.buyer) or (
            f"You have used the coupon {coupon.code} already."
            if coupon.one_per_reader and order.buyer_id in seen
            else ""
        )
        if problem:
            raise CouponError(f"{problem} Nothing was charged.")
        seen.add(order.buyer_id)


def redeem(order: Order) -> CouponRedemption | None:
    """Record the coupon's use by this paid order, once per sale (inside mark_paid's
    transaction). A use beyond the limit or the dates is honoured (the money is
    captured already; the reader was shown that price) and marked ``over_limit``."""
    if not order.coupon_id:
        return None
    key = sale_key(order)
    coupon = _locked(order.coupon_id)
    existing = CouponRedemption.objects.filter(sale_key=key).first()
    if existing is not None:
        return existing
    amount = order.amount_cents
    if order.bundle_sale:
        amount = sum(
            Order.objects.filter(bundle_sale=order.bundle_sale, buyer=order.buyer).values_list(
                "amount_cents", flat=True
            )
        )
    over = bool(
        availability_problem(coupon, now=order.paid_at or timezone.now())
        or reader_problem(coupon, order.buyer)
    )
    redemption = CouponRedemption.objects.create(
        coupon=coupon,
        reader=order.buyer,
        sale_key=key,
        order=order,
        amount_cents=amount,
        over_limit=over,
    )
    Coupon.objects.filter(pk=coupon.pk).update(uses=coupon.uses + 1)
    return redemption


def usage_for(coupons) -> list[Usage]:
    """Each coupon with its redemptions and revenue, in one query."""
    rows = (
        CouponRedemption.objects.filter(coupon__in=coupons)
        .values("coupon_id")
        .annotate(n=Count("id"), revenue=Sum("amount_cents"))
    )
    totals = {row["coupon_id"]: (row["n"], row["revenue"] or 0) for row in rows}
    return [Usage(c, *totals.get(c.pk, (0, 0))) for c in coupons]


@transaction.atomic
def create_coupon(*, by, book=None, bundle=None, **fields) -> Coupon:
    """A new coupon for the author's book or bundle (the form checked the fields)."""
    fields["code"] = normalised(fields["code"])
    return Coupon.objects.create(created_by=by, book=book, bundle=bundle, **fields)
