import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from catalog.files import serve_private_file
from catalog.models import CONTENT_TYPES, Book, BookAuthor, BookFormat, ReleaseFile
from core.reader_pages import cache_for_readers, expire_page_at

from . import caching, changes, downloads, ereader, services, stamping
from .models import Entitlement, ReaderPreference, ReadingPosition, StampedFile
from .tasks import stamp_file
from .tokens import BadToken, read_download_token, read_unsubscribe_token

SORTS = {
    "purchased": ("Recently bought", ["-granted_at"]),
    "updated": ("Recently updated", ["-book__current_release__published_at", "-granted_at"]),
    "title": ("Title", ["book__title"]),
}


def _entries(user):
    return (
        Entitlement.objects.active()
        .filter(user=user)
        .select_related("book", "book__current_release")
        .prefetch_related(
            Prefetch(
                "book__current_release__files",
                queryset=ReleaseFile.objects.only("id", "format", "release_id"),
            ),
            Prefetch(
                "book__authorships",
                queryset=BookAuthor.objects.select_related("author").order_by("position", "id"),
            ),
        )
    )


@cache_for_readers(params=("q", "sort", "page"))  # first: a hit loads no user
@login_required
def index(request):
    """Every book the reader owns, at its newest version."""
    query = request.GET.get("q", "").strip()[:100]
    sort = request.GET.get("sort", "purchased")
    if sort not in SORTS:
        sort = "purchased"
    page_number = request.GET.get("page", "")[:12]
    cached = caching.lookup(request.user.pk, q=query, sort=sort, page=page_number)
    list_html = cached.html
    expire_page_at(request, cached.expires)  # the whole page (core/reader_pages.py) too
    if list_html is None:
        now = timezone.now()
        entries = _entries(request.user)
        if query:
            entries = entries.filter(
                Q(book__title__icontains=query) | Q(book__authors__display_name__icontains=query)
            ).distinct()
        entries = entries.order_by(*SORTS[sort][1])
        page = Paginator(entries, settings.LIBRARY_PAGE_SIZE).get_page(page_number)
        _add_changes_and_positions(request.user, page.object_list)
        list_html = render_to_string(
            "library/_list.html",
            {
                "page": page,
                "query": query,
                "sort": sort,
                "sorts": {key: label for key, (label, _) in SORTS.items()},
                "querystring": urlencode({"q": query, "sort": sort} if query else {"sort": sort}),
                "now": now,
            },
        )
        expiring = [e.refundable_until for e in page.object_list if e.refundable_until]
        caching.store(cached, list_html, now=now, expiring=expiring)
        expire_page_at(request, caching.first_to_expire(expiring, now=now))
    return render(request, "library/index.html", {"list_html": mark_safe(list_html)})


def _add_changes_and_positions(user, entries) -> None:
    """What changed since the reader's version, and whether they started reading
    online: a fixed number of queries for the whole page (library.changes)."""
    found = changes.for_entitlements(entries)
    reading = set(
        ReadingPosition.objects.filter(
            user=user, book_id__in=[e.book_id for e in entries]
        ).values_list("book_id", flat=True)
    )
    for entry in entries:
        entry.changes = found.get(entry.pk)
        entry.reading = entry.book_id in reading


def _book_for_reader(request, slug) -> Book:
    book = get_object_or_404(Book.objects.with_authors(), slug=slug)
    if not services.can_download(request.user, book):
        raise Http404("This book is not in your library.")
    return book


@login_required
def entry(request, slug):
    """One book in the library: every published version with its files, and e-mail choices."""
    book = _book_for_reader(request, slug)
    entitlement = Entitlement.objects.active().filter(user=request.user, book=book).first()
    releases = (
        book.releases.filter(published_at__isnull=False)
        .prefetch_related(
            Prefetch(
                "files", queryset=ReleaseFile.objects.only("id", "format", "size", "release_id")
            )
        )
        .order_by("-published_at")
    )
    found = changes.for_entitlements([entitlement]) if entitlement else {}
    return render(
        request,
        "library/entry.html",
        {
            "book": book,
            "entitlement": entitlement,
            "releases": releases,
            "now": timezone.now(),
            "changes": found.get(entitlement.pk) if entitlement else None,
            "ereader": ereader.address_of(request.user),
            "send_token": uuid.uuid4(),
        },
    )


@login_required
def download(request, slug, release_id, fmt):
    """A file of one of the book's published releases, for owners, authors and staff only."""
    if fmt not in BookFormat.values:
        raise Http404
    # The file, its release and book and the reader's entitlement: one query for an
    # owner (library.downloads); the book's authors and staff are checked only when
    # it is not theirs.
    found = downloads.file_and_entitlement(
        user_id=request.user.pk, slug=slug, release_id=release_id, fmt=fmt
    )
    if found is None:
        raise Http404
    release_file, entitlement = found
    if entitlement is None:
        book = Book.objects.with_authors().get(pk=release_file.release.book_id)
        if not services.can_download(request.user, book):
            raise Http404("This book is not in your library.")
    return _deliver(request, release_file, user=request.user, entitlement=entitlement)


def download_link(request, token, fmt):
    """The current release's file from an e-mailed link: signed, expiring, bound to a
    reader and a book, and refused once the reader no longer owns the book."""
    try:
        user_id, book_id = read_download_token(token)
    except BadToken as exc:
        raise Http404("This download link is invalid or has expired.") from exc
    entitlement = get_object_or_404(
        Entitlement.objects.active().select_related("user", "book__current_release"),
        user_id=user_id,
        book_id=book_id,
    )
    release = entitlement.book.current_release
    if release is None or fmt not in BookFormat.values:
        raise Http404
    release_file = get_object_or_404(
        ReleaseFile.objects.select_related("release__book"), release=release, format=fmt
    )
    return _deliver(request, release_file, user=entitlement.user, entitlement=entitlement)


def deliver(request, release_file: ReleaseFile, *, user, entitlement):
    """The library's serving for a download another app checked already (a guest's
    paid page, payments.guest_views): the same stamped copies and download record."""
    return _deliver(request, release_file, user=user, entitlement=entitlement)


def _deliver(request, release_file: ReleaseFile, *, user, entitlement):
    """The file for a reader already checked: an owner of a stamped book gets their own
    stamped copy, never the original (authors and staff, who own no copy, get the
    original); a copy not ready yet is a "preparing your copy" page that reloads."""
    book = release_file.release.book
    source = release_file.file
    if entitlement is not None and book.stamp_files:
        copy = stamping.copy_for_download(user=user, release_file=release_file)
        if copy.status != StampedFile.Status.READY:
            return _preparing(request, book, copy)
        source = copy.file
    services.record_download(user=user, release_file=release_file, entitlement=entitlement)
    return _serve(release_file, source)


def _preparing(request, book, copy: StampedFile):
    failed = copy.status == StampedFile.Status.FAILED
    if copy.status != StampedFile.Status.STAMPING:
        stamp_file.delay(copy.pk)  # too large for the request, or failed: a worker tries
    response = render(
        request,
        "library/preparing.html",
        {"book": book, "fmt": copy.format, "failed": failed, "refresh_seconds": 3},
        status=503 if failed else 202,
    )
    response["Cache-Control"] = "no-store"
    response["Retry-After"] = "3"
    return response


def _serve(release_file: ReleaseFile, source=None):
    release = release_file.release
    filename = f"{release.book.slug}-v{release.version}.{release_file.format}"
    return serve_private_file(
        source or release_file.file,
        filename=filename,
        content_type=CONTENT_TYPES[release_file.format],
    )


@login_required
@require_POST
def book_updates(request, slug):
    book = get_object_or_404(Book, slug=slug)
    enabled = request.POST.get("enabled") == "1"
    if not services.set_book_updates(user=request.user, book=book, enabled=enabled):
        raise Http404("This book is not in your library.")
    messages.success(
        request,
        "We will e-mail you new versions of this book."
        if enabled
        else "No more e-mails about new versions of this book.",
    )
    return redirect("library:entry", slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    preference = ReaderPreference.objects.filter(user=request.user).first()
    if request.method == "POST":
        services.set_all_updates(
            user=request.user, enabled=request.POST.get("new_version_emails") == "1"
        )
        messages.success(request, "Your e-mail choices are saved.")
        return redirect("library:preferences")
    enabled = preference.new_version_emails if preference else True
    return render(request, "library/preferences.html", {"new_version_emails": enabled})


@csrf_exempt  # mail clients' one-click POST carries no CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    """One-click unsubscribe (RFC 8058): a POST unsubscribes at once; a GET asks first,
    so link scanners that follow e-mail links cannot unsubscribe anyone."""
    try:
        user_id, book_id = read_unsubscribe_token(token)
    except BadToken as exc:
        raise Http404("This link is invalid.") from exc
    user = get_object_or_404(get_user_model(), pk=user_id)
    book = get_object_or_404(Book, pk=book_id) if book_id else None
    if request.method == "POST":
        if book:
            services.set_book_updates(user=user, book=book, enabled=False)
        else:
            services.set_all_updates(user=user, enabled=False)
        return render(request, "library/unsubscribed.html", {"book": book})
    return render(request, "library/unsubscribe.html", {"book": book, "token": token})


@login_required
@require_POST
def remove(request, slug):
    """Take a book out of one's own library (how a free book is "returned"; no money moves)."""
    book = get_object_or_404(Book, slug=slug)
    if not services.revoke_entitlement(user=request.user, book=book):
        raise Http404("This book is not in your library.")
    messages.success(request, f"“{book.title}” is removed from your library.")
    return redirect("library:index")
