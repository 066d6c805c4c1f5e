"""Bundles in the cart: a line is a bundle at the amount the reader chose.

Kept in the session (``{bundle id: cents}``) for everyone, signed in or not
(decision: no table; the session survives login, so the line is still there
after signing in at checkout, but it does not follow the reader to another
device as book lines do). Each time the cart is shown the line is checked
again: a bundle that is no longer listed (a book retired, an author's consent
withdrawn) or an amount outside what this reader would pay for it now keeps the
line with the reason and blocks checkout; a bundle the reader now owns whole
leaves with a note. At checkout the line becomes one order per book the reader
does not own, at its part of the amount (``LineChoice.bundle``), with the
bundle and one bundle-sale id, inside the cart's one payment.
"""

import uuid
from dataclasses import dataclass

from catalog import bundles
from catalog.models import Bundle

from . import bundle_purchases, coupons
from .cart_payments import LineChoice
from .models import Coupon

SESSION_KEY = "cart_bundles"
COUPONS_KEY = "cart_bundle_coupons"  # {bundle id: coupon id}: a coupon link's line keeps it
MAX_LINES = 10


class BundleCartError(Exception):
    """Why a bundle could not go in the cart; fit to show to the reader."""


@dataclass
class BundleLine:
    offer: bundle_purchases.Offer
    amount_cents: int
    error: str = ""

    @property
    def bundle(self) -> Bundle:
        return self.offer.bundle

    @property
    def authors_earn(self) -> int:
        return (
            0 if self.error else sum(p.royalty_cents for p in self.offer.parts(self.amount_cents))
        )


def _stored(session) -> dict[int, int]:
    return {int(pk): int(cents) for pk, cents in (session.get(SESSION_KEY) or {}).items()}


def _store(session, lines: dict[int, int]) -> None:
    if lines:
        session[SESSION_KEY] = {str(pk): cents for pk, cents in lines.items()}
    else:
        session.pop(SESSION_KEY, None)


def count(session) -> int:
    """How many bundle lines the header counts (no query)."""
    return len(session.get(SESSION_KEY) or {})


def add(request, offer: bundle_purchases.Offer, amount_cents: int) -> None:
    if not offer.books:
        raise BundleCartError("You own every book of this bundle already.")
    error = offer.amount_error(amount_cents)
    if error:
        raise BundleCartError(error)
    lines = _stored(request.session)
    if offer.bundle.pk not in lines and len(lines) >= MAX_LINES:
        raise BundleCartError(f"A cart holds at most {MAX_LINES} bundles.")
    lines[offer.bundle.pk] = amount_cents
    _store(request.session, lines)
    _store_coupon(request.session, offer.bundle.pk, offer.coupon)


def _stored_coupons(session) -> dict[int, int]:
    return {int(pk): int(cid) for pk, cid in (session.get(COUPONS_KEY) or {}).items()}


def _store_coupon(session, bundle_id: int, coupon) -> None:
    """The line's coupon (checked by the caller: the offer was priced with it)."""
    stored = {str(pk): cid for pk, cid in _stored_coupons(session).items()}
    if coupon is None:
        stored.pop(str(bundle_id), None)
    else:
        stored[str(bundle_id)] = coupon.pk
    if stored:
        session[COUPONS_KEY] = stored
    else:
        session.pop(COUPONS_KEY, None)


def remove(session, bundle_ids) -> None:
    lines = _stored(session)
    for pk in bundle_ids:
        lines.pop(pk, None)
        _store_coupon(session, pk, None)
    _store(session, lines)


def lines(request) -> tuple[list[BundleLine], list[str]]:
    """The cart's bundle lines, each checked again, and notes on lines that left."""
    stored = _stored(request.session)
    if not stored:
        return [], []
    found = {b.pk: b for b in bundles.with_books(Bundle.objects.filter(pk__in=stored))}
    line_coupons = _stored_coupons(request.session)
    coupon_rows = Coupon.objects.in_bulk(set(line_coupons.values())) if line_coupons else {}
    result, notes, gone = [], [], [pk for pk in stored if pk not in found]
    for pk, cents in stored.items():
        if pk not in found:
            continue
        coupon = coupon_rows.get(line_coupons.get(pk))
        if coupon is not None and coupon.bundle_id != pk:
            coupon = None
        if coupon is not None:
            problem = coupons.availability_problem(coupon) or coupons.reader_problem(
                coupon, request.user
            )
            if problem:  # the line stays, at the bundle's own range: the reader decides
                notes.append(
                    f"“{found[pk].title}”: {problem} The line is back at the bundle's own price."
                )
                _store_coupon(request.session, pk, None)
                coupon = None
        offer = bundle_purchases.offer_for(found[pk], request.user, coupon)
        if not offer.books:
            notes.append(f"You own every book of “{offer.bundle.title}”: it left your cart.")
            gone.append(pk)
            continue
        problems = bundles.listing_problems(offer.bundle)
        error = (
            f"No longer for sale ({' '.join(problems)}): remove it to check out."
            if problems
            else offer.amount_error(cents) or ""
        )
        result.append(BundleLine(offer=offer, amount_cents=cents, error=error))
    if gone:
        remove(request.session, gone)
    return result, notes


def choices(lines_: list[BundleLine], checkout_token: uuid.UUID) -> list[LineChoice]:
    """The orders of the bundle lines: each book not owned at its part of the amount.
    (Under the cart's lock, each book is checked again: for sale, not owned.)"""
    return [
        LineChoice(
            part.book,
            part.price_cents,
            bundle=line.bundle,
            bundle_sale=uuid.uuid5(checkout_token, f"bundle-{line.bundle.pk}"),
            coupon=line.offer.coupon,
        )
        for line in lines_
        for part in line.offer.parts(line.amount_cents)
    ]
