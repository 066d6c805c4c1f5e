"""Anything that changes what a public catalog page shows forgets the cached pages."""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from accounts.backends import forget_user
from core.pagecache import forget_now_and_at_commit

from .models import Author, Book, BookAuthor, Category, Release, ReleaseFile, SampleFile, TocEntry

PUBLIC_MODELS = (Author, Book, BookAuthor, Category, Release, ReleaseFile, SampleFile, TocEntry)


@receiver(post_save, dispatch_uid="catalog.pagecache.save")
@receiver(post_delete, dispatch_uid="catalog.pagecache.delete")
def forget_pages(sender, **kwargs):
    if sender in PUBLIC_MODELS:
        forget_now_and_at_commit()


@receiver(m2m_changed, sender=Book.categories.through, dispatch_uid="catalog.pagecache.categories")
def forget_pages_on_categories(sender, **kwargs):
    forget_now_and_at_commit()


@receiver(post_save, sender=Author, dispatch_uid="catalog.forget_user.author_saved")
@receiver(post_delete, sender=Author, dispatch_uid="catalog.forget_user.author_deleted")
def forget_user_on_new_author(sender, instance, created=True, **kwargs):
    """A user who became (or stopped being) an author gets the header's author
    links at once: the cached user holds the flag (accounts/backends.py)."""
    if created and instance.user_id:
        forget_user(instance.user_id)
