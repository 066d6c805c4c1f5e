"""The library listens to the catalog: a published release is a free update for every owner."""

from django.dispatch import receiver

from catalog.signals import release_published

from .tasks import announce_release


@receiver(release_published, dispatch_uid="library.announce_release")
def on_release_published(sender, book, release, **kwargs):
    # Sent after commit by catalog.services.publish_release, once per release.
    announce_release.delay(release.pk)
