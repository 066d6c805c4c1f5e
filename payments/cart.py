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

from . import bundle_cart
from .models import CartLine
from .pricing import PriceRange, amount_error, price_range
from .royalties import royalty_for

SESSION_KEY = "cart"
COUNT_KEY = PERSONAL_HEADER_KEY  # the header's count; non-zero keeps the page uncached
MAX_LINES = 50


class CartError(Exception):
    """Why a cart change was refused; fit to show to the reader."""


@dataclass
class Line:
    book: Book
    amount_cents: int
    bounds: PriceRange
    error: str = ""

    @property
    def author_earns(self) -> int:
        return (
            royalty_for(self.amount_cents) if not amount_error(self.book, self.amount_cents) else 0
        )


@dataclass
class Contents:
    lines: list[Line]
    notes: list[str] = field(default_factory=list)  # lines removed since last shown, and why
    bundle_lines: list = field(default_factory=list)  # payments.bundle_cart's

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
        text = ",".join(f"{line.book.pk}:{line.amount_cents}" for line in self.lines)
        text += ";" + ",".join(
            f"{line.bundle.pk}:{line.amount_cents}:{[b.pk for b in line.offer.books]}"
            for line in self.bundle_lines
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stored(request) -> dict[int, int]:
    """{book id: cents} of the request's cart."""
    if request.user.is_authenticated:
        return dict(
            CartLine.objects.filter(owner=request.user).values_list("book_id", "amount_cents")
        )
    raw = request.session.get(SESSION_KEY) or {}
    return {int(book_id): int(cents) for book_id, cents in raw.items()}


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


def add(request, book: Book, amount_cents: int) -> None:
    """Put the book in the cart at this amount (or change the amount of its line)."""
    if not book.is_listed:
        raise CartError("This book is not for sale.")
    error = amount_error(book, amount_cents)
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
            owner=request.user, book=book, defaults={"amount_cents": amount_cents}
        )
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
    add(request, book, amount_cents)


def remove(request, book_ids) -> None:
    lines = _stored(request)
    book_ids = [book_id for book_id in book_ids if book_id in lines]
    for book_id in book_ids:
        del lines[book_id]
    if request.user.is_authenticated:
        CartLine.objects.filter(owner=request.user, book_id__in=book_ids).delete()
    _store(request, lines)


def contents(request) -> Contents:
    """The book lines (``_book_contents``) and the bundle lines (payments.bundle_cart),
    each checked again."""
    book_contents = _book_contents(request)
    book_contents.bundle_lines, notes = bundle_cart.lines(request)
    book_contents.notes += notes
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
        error = "" if book.is_listed else "No longer for sale: remove it to check out."
        error = error or amount_error(book, cents) or ""
        lines.append(Line(book=book, amount_cents=cents, bounds=price_range(book), error=error))
    _set_count(request.session, len(lines))
    return Contents(lines=lines, notes=notes)


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
    owned = _owned(user, list(wanted))
    existing = set(Book.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    wanted = {book_id: cents for book_id, cents in wanted.items() if book_id in existing}
    with transaction.atomic():
        for book_id, cents in wanted.items():
            if book_id not in owned:
                CartLine.objects.update_or_create(
                    owner=user, book_id=book_id, defaults={"amount_cents": cents}
                )
        total = CartLine.objects.filter(owner=user).count()
    _set_count(session, total)


def forget(request, book_ids) -> None:
    """Lines that were just paid leave the cart."""
    remove(request, list(book_ids))
