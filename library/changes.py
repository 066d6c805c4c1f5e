"""What changed in a book since the version a reader last downloaded.

Chapters are matched by title (in order, for repeated titles); a matched pair
whose digest differs changed; a chapter only in the new version was added,
only in the old one removed; an unmatched pair with the same digest is a
renamed chapter (counted as changed, "old → new"). Releases never change once
published, so the comparison of two releases is computed once per
(from-release, to-release) pair and cached, whatever the number of readers.

The version a reader "has" is the one they last downloaded (or sent to their
e-reader); a reader who never downloaded has the version that was current when
they got the book.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.core.cache import cache

from catalog.models import Release

from .models import ReleaseChapter
from .reader import ensure_indexed

CACHE_SECONDS = 7 * 24 * 3600
SHOWN = 8  # chapter titles listed per kind; the rest are counted


@dataclass(frozen=True)
class Changes:
    from_version: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def __bool__(self):
        return bool(self.added or self.removed or self.changed)

    def kinds(self) -> list[tuple[str, list[str], int]]:
        """(label, the first titles, how many more) for each kind that has any."""
        return [
            (label, titles[:SHOWN], max(0, len(titles) - SHOWN))
            for label, titles in (
                ("Added", self.added),
                ("Changed", self.changed),
                ("Removed", self.removed),
            )
            if titles
        ]

    def summary(self) -> str:
        """One line: "2 chapters added, 1 changed, 1 removed"."""
        counts = [
            f"{len(titles)} {noun}"
            for titles, noun in (
                (self.added, "added"),
                (self.changed, "changed"),
                (self.removed, "removed"),
            )
            if titles
        ]
        if not counts:
            return ""
        first, *rest = counts
        number = first.split()[0]
        chapters = "chapter" if number == "1" else "chapters"
        return ", ".join([first.replace(" ", f" {chapters} ", 1), *rest])


def compare(old: list[tuple[str, str]], new: list[tuple[str, str]]) -> tuple[list, list, list]:
    """(added, removed, changed) titles between two lists of (title, digest)."""
    waiting = defaultdict(list)
    for index, (title, digest) in enumerate(old):
        waiting[title].append((index, digest))
    matched_old, added, changed, unmatched_new = set(), [], [], []
    for title, digest in new:
        if waiting[title]:
            index, old_digest = waiting[title].pop(0)
            matched_old.add(index)
            if old_digest != digest:
                changed.append(title)
        else:
            unmatched_new.append((title, digest))
    gone = {digest: (i, title) for i, (title, digest) in enumerate(old) if i not in matched_old}
    for title, digest in unmatched_new:
        if digest in gone:  # same text under a new title: renamed
            index, old_title = gone.pop(digest)
            matched_old.add(index)
            changed.append(f"{old_title} → {title}")
        else:
            added.append(title)
    removed = [title for i, (title, _) in enumerate(old) if i not in matched_old]
    return added, removed, changed


def _key(from_id: int, to_id: int) -> str:
    return f"library:changes:{from_id}:{to_id}"


def between(pairs) -> dict[tuple[int, int], Changes | None]:
    """The changes for each (from_release_id, to_release_id): cached pairs in one
    cache round trip, the others from one query of the chapter index (releases not
    indexed yet are indexed first). None when either side cannot be read."""
    pairs = {p for p in pairs if p[0] and p[1] and p[0] != p[1]}
    if not pairs:
        return {}
    found = cache.get_many([_key(*p) for p in pairs])
    result = {p: found[_key(*p)] for p in pairs if _key(*p) in found}
    missing = pairs - result.keys()
    if not missing:
        return result
    ids = {i for p in missing for i in p}
    readable = ensure_indexed(ids)
    chapters = defaultdict(list)
    for release_id, title, digest in (
        ReleaseChapter.objects.filter(release_id__in=ids & readable)
        .order_by("release_id", "number")
        .values_list("release_id", "title", "digest")
    ):
        chapters[release_id].append((title, digest))
    versions = dict(Release.objects.filter(pk__in=ids).values_list("pk", "version"))
    computed = {}
    for from_id, to_id in missing:
        if from_id in readable and to_id in readable:
            added, removed, changed = compare(chapters[from_id], chapters[to_id])
            computed[(from_id, to_id)] = Changes(versions.get(from_id, ""), added, removed, changed)
        else:
            computed[(from_id, to_id)] = None
    cache.set_many({_key(*p): c for p, c in computed.items()}, CACHE_SECONDS)
    return {**result, **computed}


def held_release_ids(entitlements) -> dict[int, int | None]:
    """For each entitlement (with ``book``), the release the reader has: the one
    last downloaded, or the one current when they got the book. One query."""
    need = [e for e in entitlements if not e.last_downloaded_release_id]
    held = {e.pk: e.last_downloaded_release_id for e in entitlements}
    if need:
        published = defaultdict(list)
        for pk, book_id, at in (
            Release.objects.filter(
                book_id__in={e.book_id for e in need}, published_at__isnull=False
            )
            .order_by("published_at", "pk")
            .values_list("pk", "book_id", "published_at")
        ):
            published[book_id].append((at, pk))
        for e in need:
            before = [pk for at, pk in published[e.book_id] if at <= e.granted_at]
            held[e.pk] = before[-1] if before else None
    return held


def for_entitlements(entitlements, *, to_release_id=None) -> dict[int, Changes | None]:
    """Changes by entitlement id between the release the reader has and the book's
    current one (or ``to_release_id``). Queries do not grow with the number."""
    held = held_release_ids(entitlements)
    targets = {e.pk: to_release_id or e.book.current_release_id for e in entitlements}
    found = between({(held[pk], to) for pk, to in targets.items()})
    return {pk: found.get((held[pk], targets[pk])) for pk in targets}
