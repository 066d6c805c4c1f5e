"""Authors' uploads: checked by content, size-limited, stored under names of our
own, pictures re-encoded, book files handed out only as attachments."""

import io
import re
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms import modelform_factory
from django.urls import reverse
from PIL import Image

from catalog import services
from catalog.admin import BookAdminForm, BookFileAdminForm
from catalog.models import Book, Release, ReleaseFile
from tests.factories import AuthorFactory, BookFactory, book_form_data

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
STORED_NAME = re.compile(r"^[a-z0-9/]+/[0-9a-f]{32}\.(png|jpg|webp|pdf|epub)$")


def picture(fmt="PNG", size=(40, 60), mode="RGB", **save):
    out = io.BytesIO()
    Image.new(mode, size, "red" if mode in ("RGB", "RGBA") else 1).save(out, format=fmt, **save)
    return out.getvalue()


def jpeg_with_exif():
    exif = Image.Exif()
    exif[0x010E] = "secret-location-note"  # ImageDescription
    exif[0x0131] = "CameraSoft 1.0"  # Software
    return picture("JPEG", exif=exif.tobytes())


def animated_gif():
    frames = [Image.new("P", (20, 20), colour) for colour in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def upload_cover(client, content, name="cover.png"):
    return client.post(
        reverse("catalog:book_create"),
        book_form_data(title="Cover Story", cover=SimpleUploadedFile(name, content)),
    )


def stored_cover() -> tuple[str, bytes]:
    cover = Book.objects.get().cover
    with cover.open("rb") as f:
        return cover.name, f.read()


# --- Pictures: refused unless they are only a picture --------------------------------

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<!doctype html><html><script>alert(1)</script></html>", "Upload a valid image"),
        (SVG, "Upload a valid image"),
        (b'<?xml version="1.0"?>\n' + SVG, "Upload a valid image"),
        (picture("PNG") + b"<html><script>alert(1)</script></html>", "web page code"),
        (picture("GIF") + b"<script>alert(1)</script>", "web page code"),
        (picture("PNG")[:60], "Upload a valid image"),  # truncated
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "Upload a valid image"),
        (picture("BMP"), "Upload a valid image"),  # a real image, not a format we take
    ],
    ids=["html", "svg", "xml-svg", "png-html-polyglot", "gif-script", "truncated", "eps", "bmp"],
)
def test_a_cover_that_is_not_only_a_picture_is_refused(client, author, content, message):
    response = upload_cover(client, content, name="cover.png")

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Book.objects.exists()


def test_a_picture_with_markup_in_its_metadata_is_refused(client, author):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "<html><body onload=alert(1)>")

    response = upload_cover(client, picture("PNG", pnginfo=info))

    assert "web page code" in response.content.decode()
    assert not Book.objects.exists()


def test_a_decompression_bomb_is_refused_before_it_is_decoded(client, author, settings):
    settings.MAX_IMAGE_PIXELS = 10_000

    response = upload_cover(client, picture("PNG", size=(200, 200), mode="1"))

    assert "too large in pixels (200×200)" in response.content.decode()
    assert not Book.objects.exists()


def test_a_cover_over_the_size_limit_is_refused(client, author, settings):
    settings.MAX_IMAGE_BYTES = 100

    response = upload_cover(client, picture("PNG", size=(300, 300)))

    assert "The cover is too large" in response.content.decode()
    assert not Book.objects.exists()


# --- Pictures: re-encoded under our own names ------------------------------------------


def test_a_cover_is_stored_re_encoded_under_a_generated_name(client, author):
    response = upload_cover(client, picture("PNG"), name="../../My Holiday <b>.png")

    assert response.status_code == 302
    name, data = stored_cover()
    assert STORED_NAME.match(name) and name.startswith("covers/") and name.endswith(".png")
    assert "Holiday" not in name
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size) == ("PNG", (40, 60))


def test_camera_metadata_is_stripped_from_a_jpeg_cover(client, author):
    original = jpeg_with_exif()
    assert b"secret-location-note" in original

    upload_cover(client, original, name="photo.jpeg")

    name, data = stored_cover()
    assert name.endswith(".jpg")
    assert b"secret-location-note" not in data and b"CameraSoft" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and not image.getexif()


def test_nothing_but_the_pixels_is_kept(client, author):
    upload_cover(client, picture("PNG") + b"appended-payload-bytes")

    _, data = stored_cover()
    assert b"appended-payload-bytes" not in data


def test_the_stored_extension_follows_the_content_not_the_name(client, author):
    upload_cover(client, picture("WEBP"), name="cover.png")

    name, data = stored_cover()
    assert name.endswith(".webp") and data[8:12] == b"WEBP"


def test_an_animated_gif_becomes_one_still_png(client, author):
    upload_cover(client, animated_gif(), name="cover.gif")

    name, data = stored_cover()
    assert name.endswith(".png")
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and getattr(image, "n_frames", 1) == 1


@pytest.mark.parametrize(
    ("fmt", "mode", "stored_mode"),
    [("JPEG", "CMYK", "RGB"), ("PNG", "LA", "RGBA"), ("PNG", "I;16", "RGB"), ("PNG", "P", "RGB")],
)
def test_odd_colour_modes_are_stored_as_rgb_or_rgba(client, author, fmt, mode, stored_mode):
    upload_cover(client, picture(fmt, mode=mode))

    _, data = stored_cover()
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == stored_mode


def test_a_huge_cover_is_scaled_down_to_the_largest_side(client, author, settings):
    settings.IMAGE_MAX_SIDE = 100

    upload_cover(client, picture("PNG", size=(300, 150)))

    _, data = stored_cover()
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (100, 50)


def test_an_author_photo_is_re_encoded_too(client):
    client.force_login(AuthorFactory().user)
    original = jpeg_with_exif()

    response = client.post(
        reverse("catalog:author_profile"),
        {"display_name": "Ann", "bio": "", "photo": SimpleUploadedFile("me.html", original)},
    )

    assert response.status_code == 302
    photo = Book.authors.field.related_model.objects.get(display_name="Ann").photo
    assert photo.name.startswith("authors/") and photo.name.endswith(".jpg")
    with photo.open("rb") as f:
        assert b"secret-location-note" not in f.read()


def test_the_admin_refuses_and_re_encodes_covers_like_the_author_pages():
    form_class = modelform_factory(Book, form=BookAdminForm, fields=["cover"])
    book = BookFactory()

    html = form_class({}, {"cover": SimpleUploadedFile("c.png", b"<html></html>")}, instance=book)
    good = form_class({}, {"cover": SimpleUploadedFile("c.png", jpeg_with_exif())}, instance=book)

    assert not html.is_valid()
    assert good.is_valid(), good.errors
    assert good.cleaned_data["cover"].name == "cover.jpg"


# --- Book files -----------------------------------------------------------------------


def epub(mimetype=b"application/epub+zip", *, huge_mimetype=False):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        data = b"\0" * 5_000_000 if huge_mimetype else mimetype
        archive.writestr(zipfile.ZipInfo("mimetype"), data, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/container.xml", "<container/>")
    return out.getvalue()


def upload_release(client, book, **files):
    data = {"version": "1.0", "notes": ""}
    data.update({fmt: SimpleUploadedFile(name, content) for fmt, (name, content) in files.items()})
    return client.post(reverse("catalog:release_create", args=[book.slug]), data)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"pdf": ("b.pdf", b"<html><body>" + PDF)}, "This file is not a PDF."),
        ({"pdf": ("b.pdf", PDF.replace(b"%%EOF", b""))}, "This file is not a PDF."),
        ({"epub": ("b.epub", epub(b"text/html"))}, "wrong mimetype"),
        ({"epub": ("b.epub", epub(huge_mimetype=True))}, "wrong mimetype"),
        ({"epub": ("b.epub", b"PK\x03\x04 broken zip")}, "This file is not an EPUB."),
    ],
    ids=["html-before-pdf", "no-eof", "epub-html-mimetype", "epub-bomb-mimetype", "broken-zip"],
)
def test_book_files_are_checked_by_content(client, author, files, message):
    book = BookFactory(authors=[author])

    response = upload_release(client, book, **files)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Release.objects.exists()


def test_book_files_are_stored_under_generated_names_with_their_checked_format(client, author):
    book = BookFactory(authors=[author])

    response = upload_release(client, book, pdf=("../../index.html", PDF), epub=("x.php", epub()))

    assert response.status_code == 302
    names = {f.format: f.file.name for f in ReleaseFile.objects.all()}
    assert names["pdf"].endswith(".pdf") and names["epub"].endswith(".epub")
    assert all(STORED_NAME.match(n) for n in names.values()), names
    assert not any("index" in n or "php" in n for n in names.values())


def test_the_admin_checks_book_files_against_their_format():
    form_class = modelform_factory(ReleaseFile, form=BookFileAdminForm, fields=["format", "file"])
    release = Release.objects.create(book=BookFactory(), version="1")

    form = form_class(
        {"format": "pdf", "size": 1},
        {"file": SimpleUploadedFile("b.pdf", b"<html>x</html>")},
        instance=ReleaseFile(release=release, size=0),
    )

    assert not form.is_valid()
    assert "This file is not a PDF." in str(form.errors)


# --- Serving: attachments, never a page ------------------------------------------------


@pytest.fixture
def book_with_sample():
    book = BookFactory()
    services.set_sample_file(book=book, fmt="pdf", upload=ContentFile(PDF, name="s.html"))
    return book


@pytest.mark.parametrize("mode", ["django", "x-accel"])
def test_book_files_are_downloads_with_their_type_and_no_sniffing(
    client, settings, book_with_sample, mode
):
    settings.PRIVATE_FILES_SERVE = mode

    response = client.get(reverse("catalog:sample_download", args=[book_with_sample.slug, "pdf"]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    if mode == "x-accel":
        assert response["X-Accel-Redirect"].endswith(".pdf")
