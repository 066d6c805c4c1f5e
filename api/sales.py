"""The author's sales and refunds, newest first, a page at a time by keyset.

The rows are ``payments.earnings.sales_rows`` (the dashboard's table and CSV: the
author's own ledger entries, so co-authors see their shares). A cursor is the last
row's (created_at, id); the next page starts strictly below it, so a page costs one
index range scan of LedgerEntry(author, created_at) however deep it is (no OFFSET),
and rows added meanwhile never shift a page.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Q

from payments import earnings

from .problems import Problem

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def encode_cursor(created_at: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{pk}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode()
        stamp, pk = text.split("|")
        created_at = datetime.fromisoformat(stamp)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        return created_at, int(pk)
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise Problem(400, "This cursor is not one this API gave out.") from exc


@dataclass
class Page:
    rows: list
    next_cursor: str | None


def date_range(since: date | None, until: date | None) -> earnings.DateRange:
    """The dashboard's periods: all time, or a custom period checked by its rule."""
    if since is None and until is None:
        return earnings.date_range("all")
    since = since or date(earnings.EARLIEST_YEAR, 1, 1)
    until = until or earnings.date_range("all").end
    error = earnings.custom_range_error(since, until)
    if error:
        raise Problem(400, error)
    return earnings.date_range("custom", start=since, end=until)


def sales_page(
    *, author, range_, book=None, kinds=("sale", "refund"), cursor=None, size=PAGE_SIZE
) -> Page:
    rows = earnings.sales_rows(author, range_).filter(kind__in=list(kinds))
    if book is not None:
        rows = rows.filter(book=book)
    if cursor:
        created_at, pk = decode_cursor(cursor)
        # "<=" first so the database bounds its index scan by created_at.
        rows = rows.filter(created_at__lte=created_at).filter(
            Q(created_at__lt=created_at) | Q(id__lt=pk)
        )
    found = list(rows[: size + 1])
    more = len(found) > size
    found = found[:size]
    last = found[-1] if found else None
    return Page(found, encode_cursor(last.created_at, last.pk) if more else None)


def as_row(entry) -> dict:
    order = entry.transaction.order
    sign = -1 if entry.kind == "refund" else 1
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "created_at": entry.created_at,
        "book": entry.book.slug if entry.book else None,
        "book_title": entry.book.title if entry.book else None,
        "order": order.public_id if order else None,
        "price_cents": sign * order.amount_cents if order else 0,
        "royalty_cents": entry.amount_cents,
        "payable_at": entry.available_at,
    }
