"""The "new version" e-mails: one per owner per release, in chunks, exactly once."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from catalog.markdown import render_markdown
from catalog.models import Release
from core.models import EmailDelivery
from core.outbox import plain_subject

from . import changes, reader
from .models import Entitlement, ReleaseAnnouncement
from .services import update_recipients
from .tokens import download_token, unsubscribe_token


def delivery_key(release_id: int, user_id: int) -> str:
    return f"new-version:release-{release_id}:user-{user_id}"


# Longer than a healthy queue takes to start a fan-out.
MISSED_AFTER = timedelta(minutes=10)


def missed_releases(*, now=None) -> list[int]:
    """Current releases published a while ago whose fan-out never started (the
    broker refused it after the publish committed, or the worker lost it)."""
    cutoff = (now or timezone.now()) - MISSED_AFTER
    return list(
        Release.objects.filter(
            published_at__lt=cutoff,
            published_at__gte=cutoff - timedelta(days=7),
            announcement__isnull=True,
            book__current_release=F("pk"),
        ).values_list("pk", flat=True)
    )


def plan_announcement(release_id: int) -> list[list[int]]:
    """The recipients of a release's e-mail, as chunks of user ids ([] if superseded)."""
    release = Release.objects.select_related("book").get(pk=release_id)
    if not release.is_published or release.book.current_release_id != release.pk:
        return []  # a newer version came out first: that one is announced instead
    ReleaseAnnouncement.objects.get_or_create(release=release)
    reader.index_release(release.pk)  # once, before the chunks compare against it
    user_ids = list(update_recipients(release.book).values_list("user_id", flat=True))
    ReleaseAnnouncement.objects.filter(release=release).update(recipients=len(user_ids))
    size = settings.UPDATE_EMAIL_CHUNK
    return [user_ids[i : i + size] for i in range(0, len(user_ids), size)]


def queue_chunk(release_id: int, user_ids: list[int]) -> list[int]:
    """Create the outbox rows of one chunk (skipping any that exist) and return
    the ids still to send. A fixed number of queries, whatever the chunk's size."""
    release = Release.objects.select_related("book").get(pk=release_id)
    book = release.book
    users = (
        get_user_model().objects.filter(pk__in=user_ids, is_active=True).only("pk", "email", "name")
    )
    keys = {user.pk: delivery_key(release_id, user.pk) for user in users}
    existing = set(
        EmailDelivery.objects.filter(key__in=keys.values()).values_list("key", flat=True)
    )
    site = settings.SITE_URL
    shared = {
        "STORE_NAME": settings.STORE_NAME,
        "book": book,
        "release": release,
        "notes_html": render_markdown(release.notes),
        "library_url": f"{site}{reverse('library:entry', args=[book.slug])}",
        "formats": [f.format for f in release.files.all()],
    }
    # What changed since each reader's version: one diff per version readers hold.
    entitlements = Entitlement.objects.filter(book=book, user_id__in=keys).only(
        "pk", "user_id", "book_id", "granted_at", "last_downloaded_release_id"
    )
    by_user = {e.user_id: e.pk for e in entitlements}
    found = changes.for_entitlements(list(entitlements), to_release_id=release_id)
    rows = []
    for user in users:
        if keys[user.pk] in existing:
            continue
        unsubscribe_book = f"{site}{reverse('library:unsubscribe', args=[unsubscribe_token(user_id=user.pk, book_id=book.pk)])}"
        unsubscribe_all = f"{site}{reverse('library:unsubscribe', args=[unsubscribe_token(user_id=user.pk, book_id=None)])}"
        token = download_token(user_id=user.pk, book_id=book.pk)
        context = {
            **shared,
            "reader": user,
            "changes": found.get(by_user.get(user.pk)),
            "downloads": [
                (fmt.upper(), f"{site}{reverse('library:download_link', args=[token, fmt])}")
                for fmt in shared["formats"]
            ],
            "unsubscribe_book_url": unsubscribe_book,
            "unsubscribe_all_url": unsubscribe_all,
        }
        rows.append(
            EmailDelivery(
                key=keys[user.pk],
                to=user.email,
                subject=plain_subject(f"New version of {book.title}: {release.version}"),
                body=render_to_string("email/new_version.txt", context),
                html=render_to_string("email/new_version.html", context),
                headers={
                    "List-Unsubscribe": f"<{unsubscribe_book}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            )
        )
    with transaction.atomic():
        EmailDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return list(
        EmailDelivery.objects.filter(
            key__in=keys.values(), status=EmailDelivery.Status.QUEUED
        ).values_list("pk", flat=True)
    )
