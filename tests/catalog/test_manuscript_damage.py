"""An author uploading a damaged manuscript zip, or one whose text the database
cannot store, gets a form error naming the problem and keeps the manuscript they
had; a publish build that fails for any reason ends as a failed build."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog import manuscript, services
from catalog.models import Book, Build, Release
from tests.catalog.test_manuscript import GOOD_ZIP, import_good, png
from tests.factories import BookFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(author):
    book = BookFactory(authors=[author], slug="the-book")
    import_good(book)
    return book


def zip_bytes(files: dict, compression=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def corrupt(data: bytes, marker: bytes) -> bytes:
    """Flip the bytes of ``marker`` in the member's data (the headers stay intact)."""
    at = data.index(marker)
    return data[:at] + bytes(b ^ 0x55 for b in marker) + data[at + len(marker) :]


def upload(client, data: bytes):
    return client.post(
        reverse("catalog:manuscript_upload", args=["the-book"]),
        {"zip_file": SimpleUploadedFile("manuscript.zip", data, content_type="application/zip")},
    )


def chapter_titles(book):
    return list(book.manuscript_chapters.values_list("title", flat=True))


def test_a_zip_with_a_bad_crc_is_a_form_error_and_changes_nothing(client, book):
    before = chapter_titles(book)
    data = corrupt(
        zip_bytes({**GOOD_ZIP, "ch02.md": "# Chapter 2: Data\n\nOTHER words."}), b"OTHER"
    )

    response = upload(client, data)

    assert response.status_code == 400
    assert "the zip is damaged and cannot be unpacked" in response.content.decode()
    assert chapter_titles(book) == before


def test_a_zip_with_broken_compressed_data_is_a_form_error(client, book):
    text = "# Chapter 2\n\n" + "".join(f"line {i} of many\n" for i in range(2000))
    data = zip_bytes({**GOOD_ZIP, "ch02.md": text}, compression=zipfile.ZIP_DEFLATED)
    member = data.index(b"ch02.md") + len("ch02.md")  # the local header's name, then the data
    data = data[: member + 40] + b"\xff" * 64 + data[member + 104 :]

    response = upload(client, data)

    assert response.status_code == 400
    assert "the zip is damaged" in response.content.decode()


@pytest.mark.parametrize("name", ["ch01.md", "Book.txt"])
def test_manuscript_text_with_a_nul_character_is_a_form_error_naming_the_file(client, book, name):
    before = chapter_titles(book)
    files = {**GOOD_ZIP, "images/diagram.png": png()}
    files[name] = files[name].replace("\n", "\n\x00", 1)

    response = upload(client, zip_bytes(files))

    assert response.status_code == 400
    assert f"{name}: contains a NUL character" in response.content.decode()
    assert chapter_titles(book) == before


def test_a_publish_build_that_fails_while_publishing_ends_failed_with_a_message(book, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the storage went away")

    monkeypatch.setattr(services, "publish_release", broken)
    build = Build.objects.create(book=book, kind="publish", version="1.0")

    build = manuscript.run_build(build.pk)

    assert build.status == "failed"
    assert "the storage went away" in build.error and build.finished_at
    assert not Release.objects.exists() and Book.objects.get(pk=book.pk).current_release is None
