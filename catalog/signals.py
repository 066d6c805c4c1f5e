"""Signals the catalog sends for higher apps (library, payments) to act on.

The catalog imports neither of them; they listen here.
"""

from django.dispatch import Signal

# Sent after commit when a release becomes a book's current one.
# Arguments: sender=Book, book=Book, release=Release.
release_published = Signal()

# Sent inside publish_release's transaction, once, when a release becomes
# current: for rows that must commit or roll back with the publish (an outgoing
# webhook's outbox row). Receivers write to the database only, no network.
# Arguments: sender=Book, book=Book, release=Release.
release_publishing = Signal()

# Sent for every book page shown, for higher apps to add what they show in its
# buy box (payments: the price bounds and what the author earns, the reader's
# credits; library: whether the reader owns the book). Each receiver returns a
# dict merged into the page's context. The page an anonymous visitor gets is
# cached for every anonymous visitor: for them, nothing returned may depend on
# the request. ``book`` is the book's row without its relations
# (catalog.book_page): a receiver that needs more queries for it.
# Arguments: sender=Book, book=Book, user=the reader (maybe anonymous),
# coupon_code=the ?coupon= of a coupon link ("" without: such a page is never cached).
book_page_shown = Signal()
