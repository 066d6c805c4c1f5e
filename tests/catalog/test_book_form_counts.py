"""The author's book form (issue 20): counts come from the files, a cover widget
with a thumbnail, and languages ordered by use."""

import io
import re
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from fpdf import FPDF
from PIL import Image

from catalog import builds, counts, services
from catalog.models import Book
from tests.catalog.test_manuscript import import_good
from tests.factories import BookFactory, book_form_data

pytestmark = pytest.mark.django_db


def pdf_with_pages(n: int) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for i in range(n):
        pdf.add_page()
        pdf.cell(text=f"Page {i + 1}")
    return bytes(pdf.output())


def epub_with(*bodies: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        archive.writestr("META-INF/container.xml", "<container/>")
        archive.writestr("OEBPS/nav.xhtml", "<html><body><nav>Contents Chapter</nav></body></html>")
        for i, body in enumerate(bodies):
            archive.writestr(
                f"OEBPS/ch{i}.xhtml",
                f"<html><head><title>Not counted</title></head><body>{body}</body></html>",
            )
    return out.getvalue()


def png_bytes(color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 80), color).save(out, format="PNG")
    return out.getvalue()


# --- Page and word counts --------------------------------------------------------


def test_the_book_form_does_not_ask_for_page_or_word_counts(client, author):
    html = client.get(reverse("catalog:book_create")).content.decode()
    assert 'name="page_count"' not in html and 'name="word_count"' not in html

    client.post(reverse("catalog:book_create"), book_form_data(page_count="999", word_count="5"))
    book = Book.objects.get()
    assert (book.page_count, book.word_count) == (None, None)


def test_publishing_a_build_counts_pages_from_its_pdf_and_words_from_the_manuscript(
    author, django_capture_on_commit_callbacks
):
    book = BookFactory(authors=[author], slug="the-book")
    import_good(book)

    with django_capture_on_commit_callbacks(execute=True):
        builds.request_build(book=book, kind="publish", version="1.0")

    book.refresh_from_db()
    pdf = book.current_release.files.get(format="pdf")
    with pdf.file.open("rb") as f:
        assert book.page_count == counts.pdf_pages(f) > 3  # title, contents, part, chapters
    # Titles and text of the three chapters (code too), not link targets or fences:
    # Prefácio | Um livro sobre arquitetura e coração | Chapter 1 Scale | print hi Diagram
    # | Chapter 2 Data | More text
    assert book.word_count == 1 + 6 + 3 + 3 + 3 + 2


def test_an_uploaded_release_counts_pdf_pages_and_epub_words_once_published(client, author):
    book = BookFactory(authors=[author], page_count=None, word_count=None)
    url = reverse("catalog:release_create", args=[book.slug])
    files = {
        "pdf": SimpleUploadedFile("b.pdf", pdf_with_pages(7)),
        "epub": SimpleUploadedFile("b.epub", epub_with("<p>One two&amp;three</p>", "<p>Four</p>")),
    }

    client.post(url, {"version": "1.0", **files})  # uploaded, not published
    book.refresh_from_db()
    assert (book.page_count, book.word_count) == (None, None)

    release = book.releases.get()
    client.post(reverse("catalog:release_publish", args=[book.slug, release.pk]))
    book.refresh_from_db()
    assert (book.page_count, book.word_count) == (7, 4)


def test_a_pdf_whose_pages_cannot_be_counted_is_still_accepted(client, author):
    book = BookFactory(authors=[author], page_count=120)
    damaged = b"%PDF-1.7\nnot really a pdf at all\n%%EOF\n"

    response = client.post(
        reverse("catalog:release_create", args=[book.slug]),
        {"version": "2.0", "publish": "on", "pdf": SimpleUploadedFile("b.pdf", damaged)},
    )

    assert response.status_code == 302
    book.refresh_from_db()
    assert book.current_release.version == "2.0" and book.page_count == 120  # kept


def test_a_release_keeps_its_counts_when_built_directly():
    book = BookFactory()
    release = services.create_release(
        book=book,
        version="1",
        files={"pdf": SimpleUploadedFile("b.pdf", pdf_with_pages(3))},
        word_count=1234,
    )
    assert (release.page_count, release.word_count) == (3, 1234)


# --- The cover widget ----------------------------------------------------------------


def test_the_cover_field_shows_the_current_cover_and_a_slot_for_the_new_ones_preview(
    client, author
):
    book = BookFactory(authors=[author])
    book.cover.save("c.png", io.BytesIO(png_bytes()), save=True)

    html = client.get(reverse("catalog:book_edit", args=[book.slug])).content.decode()

    assert f'<img src="{book.cover.url}" alt="The current cover"' in html
    assert "data-picture-preview" in html and "js/picture-input" in html
    assert re.search(r'<input type="file" name="cover"[^>]*id="id_cover"', html)
    assert '<label for="id_cover">Cover</label>' in html
    assert 'name="cover-clear"' in html and "Remove the current cover" in html


def test_a_new_cover_uploads_without_javascript_and_replaces_the_old_one(client, author):
    book = BookFactory(authors=[author])
    data = book_form_data(title=book.title, slug=book.slug, status="completed")
    data["cover"] = SimpleUploadedFile("new.png", png_bytes(), content_type="image/png")

    response = client.post(reverse("catalog:book_edit", args=[book.slug]), data)

    assert response.status_code == 302
    book.refresh_from_db()
    assert book.cover.name.startswith("covers/")
    html = client.get(reverse("catalog:book_edit", args=[book.slug])).content.decode()
    assert book.cover.url in html


# --- Languages -------------------------------------------------------------------------


def language_groups(html: str) -> dict[str, list[str]]:
    select = re.search(r'<select name="language".*?</select>', html, re.DOTALL).group(0)
    return {
        label: re.findall(r'<option value="([^"]+)"', body)
        for label, body in re.findall(
            r'<optgroup label="([^"]+)">(.*?)</optgroup>', select, re.DOTALL
        )
    }


def test_languages_most_used_in_the_catalog_come_first_then_all_others_a_to_z(client, author):
    for _ in range(3):
        BookFactory(language="pt-br")
    BookFactory(language="de")
    BookFactory(language="ja", status="draft")  # not listed: not counted

    groups = language_groups(client.get(reverse("catalog:book_create")).content.decode())

    first, rest = groups["Most used"], groups["All languages (A–Z)"]
    assert first[:2] == ["pt-br", "de"]
    assert len(first) == 8 and "en" in first  # topped up with common languages
    names = dict(Book._meta.get_field("language").choices)
    assert [names[c] for c in rest] == sorted(names[c] for c in rest)
    assert not set(first) & set(rest) and len(first) + len(rest) == len(names)


def test_a_language_from_either_group_is_saved(client, author):
    client.post(reverse("catalog:book_create"), book_form_data(language="ka"))
    assert Book.objects.get().language == "ka"
    response = client.post(reverse("catalog:book_create"), book_form_data(language="xx"))
    assert "Select a valid choice" in response.content.decode()
