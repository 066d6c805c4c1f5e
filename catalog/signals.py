"""Signals the catalog sends for higher apps (library, payments) to act on.

The catalog imports neither of them; they listen here.
"""

from django.dispatch import Signal

# Sent after commit when a release becomes a book's current one.
# Arguments: sender=Book, book=Book, release=Release.
release_published = Signal()

# Sent while the book page is built, for higher apps to add what they show on it
# (payments: the price bounds and what the author earns). Each receiver returns a
# dict merged into the page's context. The page is cached for anonymous readers:
# nothing returned may depend on who is reading.
# Arguments: sender=Book, book=Book.
book_page_shown = Signal()
