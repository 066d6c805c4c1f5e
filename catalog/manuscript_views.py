"""The author writes the book here: chapters, zip upload, preview and publish builds."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from . import builds, manuscript
from .ebook import render_html
from .files import serve_private_file
from .forms import ChapterForm, ManuscriptZipForm, PublishForm
from .models import CONTENT_TYPES, Build, ManuscriptChapter
from .views import _get_book_for_author


@login_required
def overview(request, slug):
    return _render_overview(request, _get_book_for_author(request, slug), ManuscriptZipForm())


def _render_overview(request, book, zip_form, status=200):
    trash = list(manuscript.trash(book))
    # Just deleted (chapter_delete redirects here with ?deleted=id): offer "Undo".
    deleted = request.GET.get("deleted", "")
    just_deleted = next((c for c in trash if str(c.pk) == deleted), None)
    return render(
        request,
        "catalog/manuscript/overview.html",
        {
            "book": book,
            "chapters": book.manuscript_chapters.all(),
            "trash": trash,
            "trash_days": manuscript.CHAPTER_TRASH_DAYS,
            "just_deleted": just_deleted,
            "builds": book.builds.all()[:10],
            "zip_form": zip_form,
            "publish_form": PublishForm(),
        },
        status=status,
    )


@login_required
def chapter_edit(request, slug, chapter_id=None):
    """Write a chapter; "Preview" renders it below the textarea, "Save" stores it."""
    book = _get_book_for_author(request, slug)
    chapter = get_object_or_404(ManuscriptChapter, pk=chapter_id, book=book) if chapter_id else None
    form = ChapterForm(request.POST or None, instance=chapter)
    preview = None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview = render_html(form.cleaned_data["markdown"])
        else:
            if chapter is None:
                data = form.cleaned_data
                manuscript.add_chapter(
                    book=book, **{k: data[k] for k in ("title", "part", "markdown", "in_sample")}
                )
            else:
                form.save()
            messages.success(request, "The chapter is saved.")
            return redirect("catalog:manuscript", slug=book.slug)
    return render(
        request,
        "catalog/manuscript/chapter_form.html",
        {"book": book, "form": form, "chapter": chapter, "preview": preview},
    )


@login_required
@require_POST
def chapter_move(request, slug, chapter_id):
    book = _get_book_for_author(request, slug)
    chapter = get_object_or_404(ManuscriptChapter, pk=chapter_id, book=book)
    manuscript.move_chapter(
        chapter=chapter, offset=-1 if request.POST.get("direction") == "up" else 1
    )
    return redirect("catalog:manuscript", slug=book.slug)


@login_required
def chapter_delete(request, slug, chapter_id):
    """GET asks to confirm (the page without JS; with JS a dialog on the overview
    posts here directly); POST moves the chapter to the trash, and the overview
    then offers to undo it."""
    book = _get_book_for_author(request, slug)
    chapter = get_object_or_404(ManuscriptChapter.with_deleted, pk=chapter_id, book=book)
    overview_url = reverse("catalog:manuscript", kwargs={"slug": book.slug})
    if chapter.deleted_at is None and request.method == "POST":
        manuscript.delete_chapter(chapter=chapter)
    elif chapter.deleted_at is None:
        return render(
            request,
            "catalog/manuscript/chapter_delete.html",
            {"book": book, "chapter": chapter, "trash_days": manuscript.CHAPTER_TRASH_DAYS},
        )
    # Deleted now or before (a second click): the overview with its "Undo".
    return redirect(f"{overview_url}?deleted={chapter.pk}")


@login_required
@require_POST
def chapter_restore(request, slug, chapter_id):
    book = _get_book_for_author(request, slug)
    try:
        chapter = manuscript.restore_chapter(book=book, chapter_id=chapter_id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"“{chapter.title}” is back in the manuscript.")
    return redirect("catalog:manuscript", slug=book.slug)


@login_required
@require_POST
def upload_zip(request, slug):
    book = _get_book_for_author(request, slug)
    form = ManuscriptZipForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            count = manuscript.import_zip(book=book, upload=form.cleaned_data["zip_file"])
        except ValidationError as exc:
            form.add_error("zip_file", exc)
        else:
            messages.success(request, f"Imported {count} chapter{'s' if count != 1 else ''}.")
            return redirect("catalog:manuscript", slug=book.slug)
    return _render_overview(request, book, form, status=400)


@login_required
@require_POST
def start_build(request, slug):
    book = _get_book_for_author(request, slug)
    kind = Build.Kind.PUBLISH if request.POST.get("kind") == "publish" else Build.Kind.PREVIEW
    form = PublishForm(request.POST) if kind == Build.Kind.PUBLISH else None
    if form is not None and not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("catalog:manuscript", slug=book.slug)
    data = form.cleaned_data if form else {}
    try:
        build = builds.request_build(
            book=book,
            kind=kind,
            user=request.user,
            version=data.get("version", ""),
            notes=data.get("notes", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("catalog:manuscript", slug=book.slug)
    return redirect("catalog:build", slug=book.slug, build_id=build.pk)


def _build_for_author(request, slug, build_id) -> Build:
    book = _get_book_for_author(request, slug)
    return get_object_or_404(
        Build.objects.select_related("book", "release"), pk=build_id, book=book
    )


@login_required
def build_detail(request, slug, build_id):
    """The build's progress: refreshes itself without JS, updates in place with it."""
    build = _build_for_author(request, slug, build_id)
    return render(request, "catalog/manuscript/build.html", {"book": build.book, "build": build})


@login_required
def build_status(request, slug, build_id):
    build = _build_for_author(request, slug, build_id)
    return JsonResponse(
        {
            "status": build.status,
            "status_display": build.get_status_display(),
            "percent": build.percent,
            "message": build.message,
            "error": build.error,
            "error_source": build.error_source,
            "finished": build.is_finished,
        }
    )


@login_required
def build_file(request, slug, build_id, fmt):
    build = _build_for_author(request, slug, build_id)
    field = {"pdf": build.preview_pdf, "epub": build.preview_epub}.get(fmt)
    if not field:
        raise Http404("No such preview file.")
    return serve_private_file(
        field, filename=f"{build.book.slug}-preview.{fmt}", content_type=CONTENT_TYPES[fmt]
    )
