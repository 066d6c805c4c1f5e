from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.pagecache import cache_for_anonymous, personal_param
from core.pagination import querystring_without_page
from core.reader_pages import cache_for_readers

from . import book_page, invitations, selectors, services, signals, stats
from .cards import cards_html_for_ids
from .files import serve_private_file
from .forms import (
    AuthorProfileForm,
    BookForm,
    CoAuthorFormSet,
    InviteCoAuthorForm,
    ReleaseForm,
    SampleFilesForm,
    TocForm,
)
from .models import CONTENT_TYPES, Author, Book, BookFormat, Release

# --- Public pages -------------------------------------------------------------


@cache_for_anonymous(params=("q", "category", "language", "sort", "page"))
def book_list(request):
    query = request.GET.get("q", "").strip()[:200]
    category = request.GET.get("category", "")
    language = request.GET.get("language", "")
    sort = request.GET.get("sort", "newest")
    if sort not in selectors.SORTS:
        sort = "newest"
    listing = selectors.catalog_listing(
        query=query, category=category, language=language, sort=sort
    )
    page = Paginator(listing.results, settings.CATALOG_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "catalog/book_list.html",
        {
            "page": page,
            "cards": cards_html_for_ids(page.object_list, current=listing.generation),
            "query": query,
            "category": category,
            "language": language,
            "sort": sort,
            "sorts": [(key, label) for key, (label, _) in selectors.SORTS.items()],
            "categories": listing.categories,
            "languages": listing.languages,
            "querystring": querystring_without_page(request),
        },
    )


@stats.counts_views  # outside the page caches: cached pages count too
@cache_for_readers(personal=("coupon",))  # before the anonymous cache: no user load on a hit
@cache_for_anonymous(personal=("coupon",))
def book_detail(request, slug):
    try:
        parts = book_page.parts_for(request, slug)
    except Book.DoesNotExist as exc:
        raise Http404("No such book.") from exc
    book = parts.book
    context = {
        "book": book,
        "parts": parts,
        "has_files": bool(parts.formats),
        "is_author": parts.is_authored_by(request.user),
    }
    # A coupon link (?coupon=CODE): payments prices the buy box with it; the page
    # cache renders such a request afresh and never stores it.
    shown = signals.book_page_shown.send(
        sender=Book, book=book, user=request.user, coupon_code=personal_param(request, "coupon")
    )
    for _receiver, extra in shown:
        context.update(extra)
    return render(request, "catalog/book_detail.html", context)


def _visible_book(request, slug) -> Book:
    return get_object_or_404(Book.objects.visible_to(request.user).distinct(), slug=slug)


@cache_for_anonymous
def sample_online(request, slug):
    book = _visible_book(request, slug)
    if not book.sample_markdown:
        raise Http404("This book has no sample to read online.")
    return render(request, "catalog/sample.html", {"book": book})


def sample_download(request, slug, fmt):
    """The free sample: anyone may download it, no login."""
    book = _visible_book(request, slug)
    if fmt not in BookFormat.values:
        raise Http404
    sample = get_object_or_404(book.sample_files, format=fmt)
    return serve_private_file(
        sample.file, filename=f"{book.slug}-sample.{fmt}", content_type=CONTENT_TYPES[fmt]
    )


@cache_for_anonymous
def author_detail(request, slug):
    author = get_object_or_404(Author, slug=slug)
    books = selectors.book_cards(
        Book.objects.visible_to(request.user).filter(authors=author).distinct()
    )
    return render(request, "catalog/author_detail.html", {"author": author, "books": books})


# --- The author's side ----------------------------------------------------------


@login_required
def author_profile(request):
    """Create or edit the logged-in user's author profile (becoming an author)."""
    author = getattr(request.user, "author_profile", None)
    form = AuthorProfileForm(request.POST or None, request.FILES or None, instance=author)
    if request.method == "POST" and form.is_valid():
        photo = form.cleaned_data.get("photo")
        services.save_author_profile(
            user=request.user,
            display_name=form.cleaned_data["display_name"],
            bio=form.cleaned_data["bio"],
            photo=photo if "photo" in form.changed_data else None,
            accepts_messages=form.cleaned_data["accepts_messages"],
        )
        messages.success(request, "Your author profile is saved.")
        return redirect("account")
    return render(request, "catalog/author_profile_form.html", {"form": form, "author": author})


def _get_author(request) -> Author:
    author = getattr(request.user, "author_profile", None)
    if author is None:
        raise PermissionDenied("Only authors can manage books.")
    return author


def _get_book_for_author(request, slug) -> Book:
    """The book at ``slug`` if the logged-in user writes it (or is staff): 404 / 403 otherwise."""
    book = get_object_or_404(Book.objects.with_authors(), slug=slug)
    if not (request.user.is_staff or book.is_authored_by(request.user)):
        raise PermissionDenied("This is not your book.")
    return book


@login_required
def my_books(request):
    author = getattr(request.user, "author_profile", None)
    if author is None:
        messages.info(request, "Create your author profile first; then you can publish books.")
        return redirect("catalog:author_profile")
    books = (
        Book.objects.filter(authors=author)
        .select_related("current_release")
        .order_by("-updated_at")
    )
    return render(
        request,
        "catalog/manage/book_list.html",
        {"books": books, "author": author, "invitations": invitations.for_user(request.user)},
    )


def _link_translation(request, book: Book, original: Book | None) -> None:
    """Translation links to other authors' books wait for their consent (catalog.invitations)."""
    pending = invitations.propose_translation(book=book, original=original, by=request.user)
    if pending is not None:
        messages.info(
            request,
            f"“{book.title}” will be listed as a translation of “{pending.original.title}” "
            "once one of its authors accepts; they have been asked by e-mail.",
        )


@login_required
def book_create(request):
    author = _get_author(request)
    form = BookForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        fields = form.book_fields()
        original = fields.pop("translation_of", None)
        book = services.create_book(author=author, **fields)
        _link_translation(request, book, original)
        messages.success(
            request, f"“{book.title}” is created. Add its table of contents and files next."
        )
        return redirect("catalog:manage_book", slug=book.slug)
    return render(request, "catalog/manage/book_form.html", {"form": form})


@login_required
def book_edit(request, slug):
    book = _get_book_for_author(request, slug)
    form = BookForm(request.POST or None, request.FILES or None, instance=book)
    if request.method == "POST" and form.is_valid():
        fields = form.book_fields()
        original = fields.pop("translation_of", None)
        # Validating wrote the choice onto the instance; only _link_translation may set it.
        book.translation_of_id = form.initial.get("translation_of")
        services.update_book(book=book, **fields)
        _link_translation(request, book, original)
        messages.success(request, "The book is saved.")
        return redirect("catalog:manage_book", slug=book.slug)
    return render(request, "catalog/manage/book_form.html", {"form": form, "book": book})


@login_required
def manage_book(request, slug):
    book = _get_book_for_author(request, slug)
    releases = book.releases.prefetch_related("files").order_by("-created_at")
    return render(
        request,
        "catalog/manage/book_overview.html",
        {
            "book": book,
            "releases": releases,
            "samples": book.sample_files.all(),
            "pending": invitations.pending_for_book(book),
        },
    )


@login_required
def book_coauthors(request, slug):
    """The current authors' shares; new co-authors are invited (invitation_views.invite)."""
    book = _get_book_for_author(request, slug)
    owner = request.user.author_profile if hasattr(request.user, "author_profile") else None
    initial = [{"author": a.author.slug, "share": a.royalty_share} for a in book.authorships.all()]
    formset = CoAuthorFormSet(
        request.POST or None, initial=initial, owner=owner or book.author_list[0], book=book
    )
    if request.method == "POST" and formset.is_valid():
        services.set_coauthors(book=book, coauthors=formset.coauthors())
        messages.success(request, "Co-authors and royalty shares are saved.")
        return redirect("catalog:manage_book", slug=book.slug)
    return coauthors_page(request, book, formset=formset)


def coauthors_page(request, book, *, formset=None, invite_form=None, status=200):
    owner = getattr(request.user, "author_profile", None)
    if formset is None:
        initial = [
            {"author": a.author.slug, "share": a.royalty_share} for a in book.authorships.all()
        ]
        formset = CoAuthorFormSet(initial=initial, owner=owner or book.author_list[0], book=book)
    return render(
        request,
        "catalog/manage/coauthors.html",
        {
            "book": book,
            "formset": formset,
            "invite_form": invite_form or InviteCoAuthorForm(),
            "pending": invitations.pending_for_book(book),
        },
        status=status,
    )


@login_required
def book_toc(request, slug):
    book = _get_book_for_author(request, slug)
    form = TocForm(request.POST or None, initial={"toc": services.toc_as_text(book)})
    if request.method == "POST" and form.is_valid():
        services.replace_toc(book=book, lines=form.cleaned_data["toc"])
        messages.success(request, "The table of contents is saved.")
        return redirect("catalog:manage_book", slug=book.slug)
    return render(request, "catalog/manage/toc.html", {"book": book, "form": form})


@login_required
def release_create(request, slug):
    book = _get_book_for_author(request, slug)
    form = ReleaseForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            release = services.create_release(
                book=book,
                version=form.cleaned_data["version"],
                notes=form.cleaned_data["notes"],
                files={"pdf": form.cleaned_data["pdf"], "epub": form.cleaned_data["epub"]},
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if form.cleaned_data["publish"]:
                services.publish_release(release=release, by=request.user)
                messages.success(
                    request, f"Version {release.version} is published: every reader gets it."
                )
            else:
                messages.success(
                    request, f"Version {release.version} is uploaded, not yet published."
                )
            return redirect("catalog:manage_book", slug=book.slug)
    return render(request, "catalog/manage/release_form.html", {"book": book, "form": form})


@login_required
@require_POST
def release_publish(request, slug, release_id):
    book = _get_book_for_author(request, slug)
    release = get_object_or_404(Release, pk=release_id, book=book)
    services.publish_release(release=release, by=request.user)
    messages.success(request, f"Version {release.version} is now the current release.")
    return redirect("catalog:manage_book", slug=book.slug)


@login_required
def sample_files(request, slug):
    book = _get_book_for_author(request, slug)
    form = SampleFilesForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        for fmt in ("pdf", "epub"):
            if form.cleaned_data.get(fmt):
                services.set_sample_file(book=book, fmt=fmt, upload=form.cleaned_data[fmt])
        messages.success(request, "The sample files are saved.")
        return redirect("catalog:manage_book", slug=book.slug)
    return render(request, "catalog/manage/sample_form.html", {"book": book, "form": form})
