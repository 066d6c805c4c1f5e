"""Writes of the catalog: every change that touches more than one row."""

from django.db import transaction
from django.utils.text import slugify

from .models import Author


def unique_slug(model, text: str, *, max_length: int = 120, exclude_pk=None) -> str:
    """A slug from ``text`` that no other row of ``model`` uses yet."""
    base = (slugify(text) or "item")[:max_length].strip("-") or "item"
    candidate, n = base, 2
    taken = model.objects.exclude(pk=exclude_pk)
    while taken.filter(slug=candidate).exists():
        suffix = f"-{n}"
        candidate = f"{base[: max_length - len(suffix)]}{suffix}"
        n += 1
    return candidate


@transaction.atomic
def save_author_profile(*, user, display_name: str, bio: str = "", photo=None) -> Author:
    """Create the user's author profile, or update it. The slug is set once and stays stable."""
    author = Author.objects.select_for_update().filter(user=user).first()
    if author is None:
        author = Author(user=user, slug=unique_slug(Author, display_name))
    author.display_name = display_name
    author.bio = bio
    if photo is not None:
        author.photo = photo or None
    author.save()
    return author
