"""The library listens to the catalog: a published release is a free update for every owner."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog.signals import book_page_shown, release_published

from . import caching
from .models import Entitlement
from .services import owns
from .signals import entitlement_granted, entitlement_revoked
from .tasks import announce_release, remove_stamped_files, restamp_release, stamp_for_reader


@receiver(post_save, sender=Entitlement, dispatch_uid="library.forget_list.save")
@receiver(post_delete, sender=Entitlement, dispatch_uid="library.forget_list.delete")
def forget_cached_list(sender, instance, **kwargs):
    # Saves (grants, admin edits); services.py calls caching.forget after its update()s.
    caching.forget(instance.user_id)


@receiver(release_published, dispatch_uid="library.announce_release")
def on_release_published(sender, book, release, **kwargs):
    # Sent after commit by catalog.services.publish_release, once per release.
    announce_release.delay(release.pk)
    if book.stamp_files:
        restamp_release.delay(release.pk)


@receiver(entitlement_granted, dispatch_uid="library.stamp_for_new_owner")
def on_entitlement_granted(sender, user_id, book, **kwargs):
    # Sent after commit: the new owner's copies are stamped before they reach the library.
    if book.stamp_files:
        stamp_for_reader.delay(user_id, book.pk)


@receiver(entitlement_revoked, dispatch_uid="library.remove_stamped_files")
def on_entitlement_revoked(sender, user_id, book, **kwargs):
    # Every book, not only stamped ones: stamping may have been turned off since.
    remove_stamped_files.delay(user_id, book.pk)


@receiver(book_page_shown, dispatch_uid="library.book_page_ownership")
def book_page_ownership(sender, book, user=None, **kwargs) -> dict:
    """The buy box says "In your library" to an owner instead of offering the book again."""
    return {"owned": user is not None and owns(user, book)}
