"""Signals the catalog sends for higher apps (library, payments) to act on.

The catalog imports neither of them; they listen here.
"""

from django.dispatch import Signal

# Sent after commit when a release becomes a book's current one.
# Arguments: sender=Book, book=Book, release=Release.
release_published = Signal()
