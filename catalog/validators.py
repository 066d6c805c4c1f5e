"""Checks on uploaded files: by content, never by name."""

import zipfile

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from PIL import Image

EPUB_MIMETYPE = b"application/epub+zip"


def check_size(upload, limit: int, what: str):
    if upload.size > limit:
        raise ValidationError(
            f"The {what} is too large ({filesizeformat(upload.size)}); "
            f"the limit is {filesizeformat(limit)}."
        )


def check_pdf(upload):
    """A PDF starts with "%PDF-" and has an end-of-file marker near its end."""
    check_size(upload, settings.MAX_BOOK_FILE_BYTES, "PDF")
    upload.seek(0)
    head = upload.read(1024)
    upload.seek(max(upload.size - 2048, 0))
    tail = upload.read()
    upload.seek(0)
    if b"%PDF-" not in head[:1024] or b"%%EOF" not in tail:
        raise ValidationError("This file is not a PDF.")


def check_epub(upload):
    """An EPUB is a zip whose first entry is an uncompressed "mimetype" file."""
    check_size(upload, settings.MAX_BOOK_FILE_BYTES, "EPUB")
    upload.seek(0)
    try:
        with zipfile.ZipFile(upload) as archive:
            first = archive.infolist()[0] if archive.infolist() else None
            if first is None or first.filename != "mimetype":
                raise ValidationError("This file is not an EPUB (no mimetype entry first).")
            if archive.read("mimetype").strip() != EPUB_MIMETYPE:
                raise ValidationError("This file is not an EPUB (wrong mimetype).")
            if "META-INF/container.xml" not in archive.namelist():
                raise ValidationError("This EPUB has no META-INF/container.xml.")
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ValidationError("This file is not an EPUB.") from exc
    finally:
        upload.seek(0)


def check_image(upload, *, what="image", limit=None):
    """A real JPEG, PNG or WebP, decodable by Pillow, within the size limit."""
    check_size(upload, limit or settings.MAX_IMAGE_BYTES, what)
    upload.seek(0)
    try:
        with Image.open(upload) as image:
            image.verify()
            kind = image.format
    except Exception as exc:  # Pillow raises many types for broken input
        raise ValidationError(f"Upload a valid {what}: JPEG, PNG or WebP.") from exc
    finally:
        upload.seek(0)
    if kind not in {"JPEG", "PNG", "WEBP", "GIF"}:
        raise ValidationError(f"Upload a valid {what}: JPEG, PNG or WebP.")
