"""A saved or deleted user is forgotten by the user cache (accounts/backends.py)."""

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .backends import forget_user


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.forget_user.save")
@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.forget_user.delete")
def forget_cached_user(sender, instance, **kwargs):
    forget_user(instance.pk)
