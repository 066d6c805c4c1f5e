"""Reading a book online: contents, chapters and their images, for whoever may
download the book (owners, its authors, staff), nobody else."""

import posixpath

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.cache import cache_control

from catalog.models import Book

from . import reader, services
from .models import ReadingPosition

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}  # no SVG: it can carry script


def _readable_book(request, slug) -> Book:
    """The book, if this reader may read it and it has a published version; else 404
    (the same answer for a book that does not exist, so nothing leaks)."""
    book = get_object_or_404(Book.objects.select_related("current_release"), slug=slug)
    # An owner in one query; the book's authors and staff only when it is not theirs.
    allowed = services.reader_entitlement(request.user, book.pk) is not None
    if not allowed and not services.can_download(request.user, book):
        raise Http404("This book is not in your library.")
    if book.current_release is None:
        raise Http404("This book is not in your library.")
    return book


@login_required
@cache_control(private=True, no_store=True)
def contents(request, slug):
    """The current version's table of contents, with "continue reading"."""
    book = _readable_book(request, slug)
    chapters = reader.table_of_contents(book.current_release)
    position = ReadingPosition.objects.filter(user=request.user, book=book).first()
    resume = reader.resume_number(position, chapters)
    return render(
        request,
        "library/read_contents.html",
        {
            "book": book,
            "release": book.current_release,
            "chapters": chapters,
            "resume": next((c for c in chapters if c.number == resume), None),
            "error": book.current_release.reader_text.error,
        },
    )


@login_required
@cache_control(private=True, no_store=True)
def resume(request, slug):
    """ "Continue reading": the chapter the reader was at (in the current version),
    or the contents when they have not started."""
    book = _readable_book(request, slug)
    chapters = reader.table_of_contents(book.current_release)
    position = ReadingPosition.objects.filter(user=request.user, book=book).first()
    number = reader.resume_number(position, chapters)
    if number is None:
        return redirect("library:read", slug=slug)
    return redirect("library:read_chapter", slug=slug, number=number)


@login_required
@cache_control(private=True, no_store=True)
def chapter(request, slug, number):
    book = _readable_book(request, slug)
    release = book.current_release
    chapters = reader.table_of_contents(release)
    current = reader.chapter(release, number)
    if current is None:
        if chapters:  # a chapter the new version no longer has: back to the contents
            return redirect("library:read", slug=slug)
        raise Http404("This version cannot be read online.")
    reader.remember_position(user=request.user, book=book, chapter=current)
    by_number = {c.number: c for c in chapters}
    return render(
        request,
        "library/read_chapter.html",
        {
            "book": book,
            "release": release,
            "chapter": current,
            "html": mark_safe(current.html),  # cleaned by nh3 when the EPUB was read
            "previous": by_number.get(number - 1),
            "next": by_number.get(number + 1),
            "count": len(chapters),
        },
    )


@login_required
@cache_control(private=True, max_age=3600)
def image(request, slug, path):
    """An image a chapter of the current version shows, read out of its EPUB."""
    book = _readable_book(request, slug)
    content_type = IMAGE_TYPES.get(posixpath.splitext(path)[1].lower())
    if content_type is None or ".." in path.split("/"):
        raise Http404
    data = reader.epub_member(book.current_release, path)
    if data is None:
        raise Http404
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = "inline"
    return response
