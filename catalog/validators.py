"""Checks on uploaded book files: by content, never by name (pictures: catalog.images)."""

import zipfile

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

EPUB_MIMETYPE = b"application/epub+zip"


def check_size(upload, limit: int, what: str):
    if upload.size > limit:
        raise ValidationError(
            f"The {what} is too large ({filesizeformat(upload.size)}); "
            f"the limit is {filesizeformat(limit)}."
        )


def check_pdf(upload):
    """A PDF starts with "%PDF-" and has an end-of-file marker near its end.

    Readers tolerate junk before the header, but a file that starts as something
    else (an HTML page with a PDF inside) is refused: its first bytes decide what a
    sniffing program takes it for."""
    check_size(upload, settings.MAX_BOOK_FILE_BYTES, "PDF")
    upload.seek(0)
    head = upload.read(8)
    upload.seek(max(upload.size - 2048, 0))
    tail = upload.read()
    upload.seek(0)
    if not head.startswith(b"%PDF-") or b"%%EOF" not in tail:
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
            if first.file_size > 64:  # never unpack a huge "mimetype" (a zip bomb)
                raise ValidationError("This file is not an EPUB (wrong mimetype).")
            if archive.read(first).strip() != EPUB_MIMETYPE:
                raise ValidationError("This file is not an EPUB (wrong mimetype).")
            if "META-INF/container.xml" not in archive.namelist():
                raise ValidationError("This EPUB has no META-INF/container.xml.")
    except ValidationError:
        raise
    except Exception as exc:  # BadZipFile, EOFError, encrypted or unknown compression...
        raise ValidationError("This file is not an EPUB.") from exc
    finally:
        upload.seek(0)
