"""The library listens to the catalog: a published release is a free update for every owner."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog.signals import book_page_shown, release_published

from . import caching
from .models import Entitlement
from .services import owns
from .tasks import announce_release


@receiver(post_save, sender=Entitlement, dispatch_uid="library.forget_list.save")
@receiver(post_delete, sender=Entitlement, dispatch_uid="library.forget_list.delete")
def forget_cached_list(sender, instance, **kwargs):
    # Saves (grants, admin edits); services.py calls caching.forget after its update()s.
    caching.forget(instance.user_id)


@receiver(release_published, dispatch_uid="library.announce_release")
def on_release_published(sender, book, release, **kwargs):
    # Sent after commit by catalog.services.publish_release, once per release.
    announce_release.delay(release.pk)


@receiver(book_page_shown, dispatch_uid="library.book_page_ownership")
def book_page_ownership(sender, book, user=None, **kwargs) -> dict:
    """The buy box says "In your library" to an owner instead of offering the book again."""
    return {"owned": user is not None and owns(user, book)}
