import io
import re
import zipfile
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from catalog import builds, manuscript
from catalog.models import Book, Build, ManuscriptChapter, Release
from catalog.tasks import fail_stale_builds
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db


def png():
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (30, 90, 200)).save(out, format="PNG")
    return out.getvalue()


def make_zip(files: dict) -> SimpleUploadedFile:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return SimpleUploadedFile("manuscript.zip", out.getvalue(), content_type="application/zip")


GOOD_ZIP = {
    "Book.txt": "preface.md [sample]\n# Part I — Começo\nch01.md\nch02.md\n",
    "preface.md": "# Prefácio\n\nUm livro sobre arquitetura — e coração.",
    "ch01.md": "# Chapter 1: Scale\n\n```python\nprint('hi')\n```\n\n![Diagram](images/diagram.png)",
    "ch02.md": "# Chapter 2: Data\n\nMore text.",
}


@pytest.fixture
def book(author):
    return BookFactory(authors=[author], slug="the-book")


def import_good(book):
    return manuscript.import_zip(
        book=book, upload=make_zip({**GOOD_ZIP, "images/diagram.png": png()})
    )


def test_a_zip_with_book_txt_becomes_ordered_chapters_with_parts_and_images(book):
    assert import_good(book) == 3

    chapters = list(book.manuscript_chapters.values_list("title", "part", "in_sample", "source"))
    assert chapters == [
        ("Prefácio", "", True, "preface.md"),
        ("Chapter 1: Scale", "Part I — Começo", False, "ch01.md"),
        ("Chapter 2: Data", "Part I — Começo", False, "ch02.md"),
    ]
    assert list(book.manuscript_images.values_list("path", flat=True)) == ["images/diagram.png"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"ch01.md": "# One"}, "Book.txt (the list of chapter files) is missing"),
        ({"Book.txt": "missing.md\n"}, "missing.md: listed in Book.txt but not in the zip"),
        (
            {"Book.txt": "../evil.md\n", "../evil.md": "# Evil"},
            "paths outside the manuscript are not allowed",
        ),
        (
            {"Book.txt": "a.md\n", "/etc/a.md": "# Evil", "a.md": "# A"},
            "paths outside the manuscript are not allowed",
        ),
        ({"Book.txt": "a.md\n", "a.md": b"\xff\xfe\x00bad"}, "a.md: not UTF-8 text"),
        ({"Book.txt": "\n"}, "it lists no chapter files"),
    ],
)
def test_a_bad_zip_is_refused_naming_the_file_and_changes_nothing(book, files, message):
    import_good(book)
    with pytest.raises(ValidationError, match=re.escape(message)):
        manuscript.import_zip(book=book, upload=make_zip(files))
    assert book.manuscript_chapters.count() == 3


def test_an_oversized_zip_is_refused(book, settings):
    settings.MANUSCRIPT_ZIP_MAX_BYTES = 1024
    with pytest.raises(Exception, match="the zip is too large; the limit is 0 MB"):
        manuscript.import_zip(
            book=book, upload=make_zip({"Book.txt": "a.md", "a.md": "x" * 5000 + "\n" * 0})
        )


def test_a_zip_bomb_is_refused(book, settings):
    settings.MANUSCRIPT_UNZIPPED_MAX_BYTES = 10_000
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Book.txt", "a.md")
        archive.writestr("a.md", "0" * 1_000_000)
    with pytest.raises(Exception, match="the unpacked manuscript is too large"):
        manuscript.import_zip(book=book, upload=SimpleUploadedFile("bomb.zip", out.getvalue()))


def test_publishing_builds_the_files_and_releases_them_to_readers(
    book, django_capture_on_commit_callbacks
):
    import_good(book)

    with django_capture_on_commit_callbacks(execute=True):
        build = builds.request_build(book=book, kind="publish", version="1.0", notes="First")

    build.refresh_from_db()
    assert (build.status, build.percent, build.error) == ("done", 100, "")
    book.refresh_from_db()
    release = book.current_release
    assert release == build.release and release.version == "1.0"
    files = {f.format: f.file.open("rb").read() for f in release.files.all()}
    assert files["pdf"].startswith(b"%PDF-") and files["epub"][30:38] == b"mimetype"
    assert {s.format for s in book.sample_files.all()} == {"pdf", "epub"}
    toc = [(e.kind, e.title, e.in_part, e.in_sample) for e in book.toc_entries.all()]
    assert toc == [
        ("chapter", "Prefácio", False, True),
        ("part", "Part I — Começo", False, False),
        ("chapter", "Chapter 1: Scale", True, False),
        ("chapter", "Chapter 2: Data", True, False),
    ]
    assert (
        "Um livro sobre arquitetura" in book.sample_markdown
        and "More text" not in book.sample_markdown
    )


def test_a_broken_manuscript_fails_naming_the_chapter_and_publishes_nothing(book):
    import_good(book)
    book.manuscript_images.all().delete()  # the image chapter 1 refers to is gone

    build = Build.objects.create(book=book, kind="publish", version="1.0")
    build = manuscript.run_build(build.pk)

    assert (
        build.status == "failed"
        and build.error_source == "ch01.md"
        and "images/diagram.png" in build.error
    )
    assert not Release.objects.exists() and Book.objects.get(pk=book.pk).current_release is None


def test_an_unclosed_code_fence_fails_the_build(book):
    manuscript.add_chapter(book=book, title="Broken", markdown="Text\n\n```\nnever closed")

    build = manuscript.run_build(Build.objects.create(book=book, kind="preview").pk)

    assert build.status == "failed" and build.error_source == "Broken"


def test_a_build_runs_once_even_if_its_task_is_retried(book):
    import_good(book)
    build = Build.objects.create(book=book, kind="publish", version="2.0")
    manuscript.run_build(build.pk)
    manuscript.run_build(build.pk)
    assert Release.objects.filter(book=book).count() == 1


class WorkerKilled(BaseException):
    """What the build sees of SIGKILL or the OOM killer: nothing runs after it."""


def die_mid_render(*args, **kwargs):
    raise WorkerKilled


def test_a_build_whose_worker_died_fails_after_30_minutes_and_the_author_tries_again(
    client, book, monkeypatch, django_capture_on_commit_callbacks
):
    import_good(book)
    build = Build.objects.create(book=book, kind="publish", version="2.0", notes="Second")
    monkeypatch.setattr(manuscript, "build_epub", die_mid_render)
    with pytest.raises(WorkerKilled):
        manuscript.run_build(build.pk)
    monkeypatch.undo()
    build.refresh_from_db()
    assert build.status == "rendering" and build.rendering_since is not None

    assert manuscript.fail_stale_builds(now=build.rendering_since + timedelta(minutes=29)) == 0
    assert fail_stale_builds.delay().get() == 0  # the beat task, now: still a live build?
    assert manuscript.fail_stale_builds(now=build.rendering_since + timedelta(minutes=31)) == 1

    page = client.get(reverse("catalog:build", args=[book.slug, build.pk])).content.decode()
    assert "Failed" in page and "interrupted" in page and 'data-testid="build-retry"' in page
    assert not Release.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        retry = client.post(
            reverse("catalog:build_start", args=[book.slug]),
            {"kind": "publish", "version": "2.0", "notes": "Second"},
        )
    assert retry.status_code == 302
    assert Book.objects.get(pk=book.pk).current_release.version == "2.0"
    build.refresh_from_db()
    assert build.status == "failed"  # the interrupted one stays what it was


def run_build_overtaken_by_beat(build, monkeypatch):
    """Run the build while beat, 31 minutes in, fails it as stale: a slow worker."""
    real_build_epub = manuscript.build_epub

    def slow_build_epub(*args, **kwargs):
        manuscript.fail_stale_builds(now=timezone.now() + timedelta(minutes=31))
        return real_build_epub(*args, **kwargs)

    monkeypatch.setattr(manuscript, "build_epub", slow_build_epub)
    return manuscript.run_build(build.pk)


def test_a_slow_worker_finishing_after_its_build_was_failed_publishes_nothing(book, monkeypatch):
    import_good(book)
    build = Build.objects.create(book=book, kind="publish", version="2.0")
    build = run_build_overtaken_by_beat(build, monkeypatch)

    assert (build.status, build.message) == ("failed", "Interrupted")
    assert not Release.objects.exists() and not build.preview_pdf


def test_a_slow_preview_failed_meanwhile_keeps_no_files(book, monkeypatch, settings):
    import_good(book)
    build = Build.objects.create(book=book, kind="preview")
    build = run_build_overtaken_by_beat(build, monkeypatch)

    assert build.status == "failed" and not build.preview_pdf and not build.preview_epub
    private = settings.STORAGES["private"]["OPTIONS"]["location"] / "builds"
    assert not private.exists() or not any(p.is_file() for p in private.rglob("*"))


def test_a_preview_builds_files_for_the_author_only(client, book, author):
    import_good(book)
    build = manuscript.run_build(Build.objects.create(book=book, kind="preview").pk)
    url = reverse("catalog:build_file", args=[book.slug, build.pk, "pdf"])

    response = client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"%PDF-")
    assert not Release.objects.exists()
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403
    client.force_login(AuthorFactory().user)
    assert (
        client.get(reverse("catalog:build_status", args=[book.slug, build.pk])).status_code == 403
    )


def test_the_author_writes_previews_and_reorders_chapters(client, book):
    url = reverse("catalog:chapter_new", args=[book.slug])
    preview = client.post(
        url, {"title": "One", "markdown": "Hello **world** <script>x()</script>", "preview": "1"}
    )
    html = preview.content.decode()
    assert "<strong>world</strong>" in html and "<script>x()" not in html
    assert not ManuscriptChapter.objects.exists()

    client.post(url, {"title": "One", "markdown": "First"})
    client.post(url, {"title": "Two", "markdown": "Second"})
    two = ManuscriptChapter.objects.get(title="Two")
    client.post(reverse("catalog:chapter_move", args=[book.slug, two.pk]), {"direction": "up"})

    assert list(book.manuscript_chapters.values_list("title", flat=True)) == ["Two", "One"]


def test_publish_needs_a_new_version_label(client, book):
    import_good(book)
    response = client.post(
        reverse("catalog:build_start", args=[book.slug]), {"kind": "publish", "version": ""}
    )
    assert response.status_code == 302 and not Build.objects.exists()


def test_the_build_status_is_json_for_the_progress_bar(client, book):
    import_good(book)
    build = manuscript.run_build(Build.objects.create(book=book, kind="preview").pk)
    data = client.get(reverse("catalog:build_status", args=[book.slug, build.pk])).json()
    assert data["status"] == "done" and data["percent"] == 100 and data["finished"] is True
