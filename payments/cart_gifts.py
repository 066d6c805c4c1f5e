"""Cart lines bought as gifts: who each is for, the message, the day.

A book line of the cart can be marked as a gift on the cart page. The mark lives in
the session (``{book id: {to, message, on}}``) for everyone, signed in or not
(decision: as bundle lines, no table; it survives signing in at checkout, but not a
move to another device). Paying the cart turns a marked line into a ``Gift`` with
that line's order (``cart_payments.LineChoice.gift``): the same gift the gift page
makes (scheduled, delivered by ``gift_delivery``, claimed, refunded whole while
unclaimed); the other lines stay the buyer's own books.
"""

from datetime import date

from .gift_details import GiftDetails

SESSION_KEY = "cart_gifts"


def marks(session) -> dict[int, GiftDetails]:
    """{book id: the gift details} of the lines marked as gifts."""
    found = {}
    for book_id, raw in (session.get(SESSION_KEY) or {}).items():
        try:
            on = date.fromisoformat(raw["on"]) if raw.get("on") else None
            found[int(book_id)] = GiftDetails(
                recipient_email=str(raw["to"]), message=str(raw.get("message", "")), deliver_on=on
            )
        except (KeyError, TypeError, ValueError):
            continue  # a mark from an older shape: the line is simply not a gift
    return found


def mark(session, book_id: int, details: GiftDetails) -> None:
    stored = dict(session.get(SESSION_KEY) or {})
    stored[str(book_id)] = {
        "to": details.recipient_email,
        "message": details.message,
        "on": details.deliver_on.isoformat() if details.deliver_on else "",
    }
    session[SESSION_KEY] = stored


def unmark(session, book_ids) -> None:
    stored = dict(session.get(SESSION_KEY) or {})
    for book_id in book_ids:
        stored.pop(str(book_id), None)
    if stored:
        session[SESSION_KEY] = stored
    else:
        session.pop(SESSION_KEY, None)


def version_text(gifts: dict[int, GiftDetails]) -> str:
    """For the cart's version: a page showing other gift details is stale."""
    return ",".join(
        f"{book_id}:{d.recipient_email}:{d.deliver_on}:{len(d.message)}:{d.message}"
        for book_id, d in sorted(gifts.items())
    )
