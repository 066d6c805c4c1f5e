"""The reader's cart: books they mean to buy, each at the amount they chose.

Anonymous visitors keep their lines in the session (``{book id: cents}``);
signed-in readers in ``CartLine`` rows, so the cart follows them to another
device. At login the session's lines move into the account (``merge_into``):
one line per book, the amount chosen last wins.

The header shows how many lines the cart holds from the session alone
(``COUNT_KEY``), so no page asks the database for it; every change here and
the merge at login keep it current. A visitor whose cart is not empty is not
served whole-page-cached pages (core.pagecache), which show an empty header.
"""

import hashlib
from dataclasses import dataclass, field

from django.db import transaction

from catalog.models import Book
from core.pagecache import PERSONAL_HEADER_KEY
from library.models import Entitlement

from . import bundle_cart, cart_gifts, coupons
from .models import CartLine, Coupon
from .pricing import PriceRange, amount_error, price_range
from .royalties import royalty_for

SESSION_KEY = "cart"
COUPONS_KEY = "cart_coupons"  # {book id: coupon id} of an anonymous visitor's lines
COUNT_KEY = PERSONAL_HEADER_KEY  # the header's count; non-zero keeps the page uncached
MAX_LINES = 50


class CartError(Exception):
    """Why a cart change was refused; fit to show to the reader."""


@dataclass
class Line:
    book: Book
    amount_cents: int
    bounds: PriceRange  # the coupon's range when the line carries one
    error: str = ""
    coupon: Coupon | None = None
    gift: object = None  # payments.cart_gifts: GiftDetails when bought as a gift

    @property
    def author_earns(self) -> int:
        error = amount_error(self.book, self.amount_cents, self.bounds)
        return royalty_for(self.amount_cents) if not error else 0


@dataclass
class Contents:
    lines: list[Line]
    notes: list[str] = field(default_factory=list)  # lines removed since last shown, and why
    bundle_lines: list = field(default_factory=list)  # payments.bundle_cart's
    gifts: dict = field(default_factory=dict)  # {book id: GiftDetails}, payments.cart_gifts

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in [*self.lines, *self.bundle_lines])

    @property
    def currency(self) -> str:
        """The cart's currency (every book is sold in one): what Stripe's Element shows."""
        items = [line.book for line in self.lines] + [line.bundle for line in self.bundle_lines]
        return items[0].currency if items else "USD"

    @property
    def payable(self) -> bool:
        every = [*self.lines, *self.bundle_lines]
        return bool(every) and not any(line.error for line in every)

    @property
    def version(self) -> str:
        """What the page showed: a checkout posted from a page whose lines changed
        since (another tab) is refused. A bundle line counts its books to pay for."""
        text = ",".join(
            f"{line.book.pk}:{line.amount_cents}:{line.coupon.pk if line.coupon else ''}"
            for line in self.lines
        )
        text += ";" + ",".join(
            f"{line.bundle.pk}:{line.amount_cents}:{[b.pk for b in line.offer.books]}"
            f":{line.offer.coupon.pk if line.offer.coupon else ''}"
            for line in self.bundle_lines
        )
        text += ";" + cart_gifts.version_text(self.gifts)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stored(request) -> dict[int, int]:
    """{book id: cents} of the request's cart."""
    if request.user.is_authenticated:
        return dict(
            CartLine.objects.filter(owner=request.user).values_list("book_id", "amount_cents")
        )
    raw = request.session.get(SESSION_KEY) or {}
    return {int(book_id): int(cents) for book_id, cents in raw.items()}


def _stored_coupons(request) -> dict[int, int]:
    """{book id: coupon id} of the lines that carry a coupon."""
    if request.user.is_authenticated:
        return dict(
            CartLine.objects.filter(owner=request.user, coupon__isnull=False).values_list(
                "book_id", "coupon_id"
            )
        )
    raw = request.session.get(COUPONS_KEY) or {}
    return {int(book_id): int(coupon_id) for book_id, coupon_id in raw.items()}


def _store_coupon(request, book_id: int, coupon: Coupon | None) -> None:
    """Anonymous visitors' line coupons (signed-in readers': the CartLine's column)."""
    if request.user.is_authenticated:
        return
    raw = dict(request.session.get(COUPONS_KEY) or {})
    if coupon is None:
        raw.pop(str(book_id), None)
    else:
        raw[str(book_id)] = coupon.pk
    if raw:
        request.session[COUPONS_KEY] = raw
    else:
        request.session.pop(COUPONS_KEY, None)


def line_bounds(book: Book, coupon: Coupon | None) -> PriceRange:
    bounds = price_range(book)
    return coupons.coupon_range(bounds, coupon) if coupon is not None else bounds


def _store(request, lines: dict[int, int]) -> None:
    """Write the session cart back (anonymous) and the header count (everyone)."""
    if not request.user.is_authenticated:
        request.session[SESSION_KEY] = {str(book_id): cents for book_id, cents in lines.items()}
    _set_count(request.session, len(lines))


def _set_count(session, count: int) -> None:
    count += bundle_cart.count(session)
    if count:
        session[COUNT_KEY] = count
    else:
        session.pop(COUNT_KEY, None)


def count(request) -> int:
    """The header's number: from the session, no query."""
    return request.session.get(COUNT_KEY, 0) if hasattr(request, "session") else 0


def add(request, book: Book, amount_cents: int, coupon: Coupon | None = None) -> None:
    """Put the book in the cart at this amount (or change the amount of its line),
    with the coupon of a coupon link (checked by the caller: payments.coupons.find)."""
    if not book.is_listed:
        raise CartError("This book is not for sale.")
    if coupon is not None:
        if coupon.book_id != book.pk:
            raise CartError(f"The coupon {coupon.code} is not for this book.")
        problem = coupons.reader_problem(coupon, request.user)
        if problem:
            raise CartError(problem)
    error = amount_error(book, amount_cents, line_bounds(book, coupon))
    if error:
        raise CartError(error)
    if amount_cents == 0:
        raise CartError("This book is free: take it from its page, no cart needed.")
    if _owned(request.user, [book.pk]):
        raise CartError("You own this book already: it is in your library.")
    lines = _stored(request)
    if book.pk not in lines and len(lines) >= MAX_LINES:
        raise CartError(f"A cart holds at most {MAX_LINES} books.")
    lines[book.pk] = amount_cents
    if request.user.is_authenticated:
        CartLine.objects.update_or_create(
            owner=request.user, book=book, defaults={"amount_cents": amount_cents, "coupon": coupon}
        )
    _store_coupon(request, book.pk, coupon)
    _store(request, lines)


def change_amount(request, book_id: int, amount_cents: int) -> None:
    """A new amount for a line, checked against its book's rules like a new line."""
    lines = _stored(request)
    if book_id not in lines:
        raise CartError("That book is not in your cart (any more): nothing was changed.")
    book = Book.objects.filter(pk=book_id).first()
    if book is None:
        remove(request, [book_id])
        raise CartError("That book is no longer in the store: it left your cart.")
    coupon_id = _stored_coupons(request).get(book_id)
    add(request, book, amount_cents, Coupon.objects.filter(pk=coupon_id).first())


def remove(request, book_ids) -> None:
    lines = _stored(request)
    book_ids = [book_id for book_id in book_ids if book_id in lines]
    for book_id in book_ids:
        del lines[book_id]
        _store_coupon(request, book_id, None)
    cart_gifts.unmark(request.session, book_ids)
    if request.user.is_authenticated:
        CartLine.objects.filter(owner=request.user, book_id__in=book_ids).delete()
    _store(request, lines)


def contents(request) -> Contents:
    """The book lines (``_book_contents``) and the bundle lines (payments.bundle_cart),
    each checked again."""
    book_contents = _book_contents(request)
    book_contents.bundle_lines, notes = bundle_cart.lines(request)
    book_contents.notes += notes
    in_cart = {line.book.pk for line in book_contents.lines}
    book_contents.gifts = {
        book_id: details
        for book_id, details in cart_gifts.marks(request.session).items()
        if book_id in in_cart
    }
    for line in book_contents.lines:
        line.gift = book_contents.gifts.get(line.book.pk)
    _set_count(request.session, len(book_contents.lines))
    return book_contents


def _book_contents(request) -> Contents:
    """The lines with their books, each checked again: a line for a book the reader
    owns by now is removed with a note; a book no longer for sale or an amount its
    author's new minimum refuses is kept, with the reason, and blocks checkout."""
    stored = _stored(request)
    if not stored:
        _set_count(request.session, 0)
        return Contents(lines=[])
    books = Book.objects.filter(pk__in=stored).in_bulk()
    line_coupons = _stored_coupons(request)
    coupon_rows = Coupon.objects.in_bulk(set(line_coupons.values())) if line_coupons else {}
    owned = _owned(request.user, list(books))
    notes = [
        f"“{books[book_id].title}” is in your library already: it left your cart."
        for book_id in owned
    ]
    gone = [book_id for book_id in stored if book_id not in books]
    if owned or gone:
        remove(request, [*owned, *gone])
    lines = []
    for book_id, cents in stored.items():
        if book_id in owned or book_id in gone:
            continue
        book = books[book_id]
        coupon = coupon_rows.get(line_coupons.get(book_id))
        if coupon is not None:
            problem = coupons.availability_problem(coupon) or coupons.reader_problem(
                coupon, request.user
            )
            if problem:  # the line stays, at the book's own range: the reader decides
                notes.append(f"“{book.title}”: {problem} The line is back at its own price.")
                _forget_coupon(request, book_id)
                coupon = None
        bounds = line_bounds(book, coupon)
        error = "" if book.is_listed else "No longer for sale: remove it to check out."
        error = error or amount_error(book, cents, bounds) or ""
        lines.append(Line(book=book, amount_cents=cents, bounds=bounds, error=error, coupon=coupon))
    _set_count(request.session, len(lines))
    return Contents(lines=lines, notes=notes)


def _forget_coupon(request, book_id: int) -> None:
    if request.user.is_authenticated:
        CartLine.objects.filter(owner=request.user, book_id=book_id).update(coupon=None)
    _store_coupon(request, book_id, None)


def _owned(user, book_ids) -> set[int]:
    if not user.is_authenticated or not book_ids:
        return set()
    return set(
        Entitlement.objects.active()
        .filter(user=user, book_id__in=book_ids)
        .values_list("book_id", flat=True)
    )


def merge_into(user, session) -> None:
    """At login: the session's lines join the account's cart, one line per book
    (the amount chosen last, in the session, wins); books the reader owns are left
    out. The header count then counts the account's lines."""
    raw = session.pop(SESSION_KEY, None) or {}
    wanted = {int(book_id): int(cents) for book_id, cents in raw.items()}
    line_coupons = {int(k): int(v) for k, v in (session.pop(COUPONS_KEY, None) or {}).items()}
    line_coupons = {
        book_id: coupon_id
        for book_id, coupon_id in line_coupons.items()
        if Coupon.objects.filter(pk=coupon_id, book_id=book_id).exists()
    }
    owned = _owned(user, list(wanted))
    existing = set(Book.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    wanted = {book_id: cents for book_id, cents in wanted.items() if book_id in existing}
    with transaction.atomic():
        for book_id, cents in wanted.items():
            if book_id not in owned:
                CartLine.objects.update_or_create(
                    owner=user,
                    book_id=book_id,
                    defaults={"amount_cents": cents, "coupon_id": line_coupons.get(book_id)},
                )
        total = CartLine.objects.filter(owner=user).count()
    _set_count(session, total)


def forget(request, book_ids) -> None:
    """Lines that were just paid leave the cart."""
    remove(request, list(book_ids))
