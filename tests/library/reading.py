"""Books with real EPUBs for the reading, changes and e-reader tests."""

import io

from django.core.files.base import ContentFile
from PIL import Image

from catalog import services as catalog
from catalog.ebook import BookText, Chapter, build_epub


def png(colour="red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(out, "PNG")
    return out.getvalue()


def epub_of(chapters: list[tuple[str, str]], *, images=None, version="1.0") -> bytes:
    """An EPUB our builder makes from (title, markdown) chapters."""
    return build_epub(
        BookText(
            title="A Book",
            subtitle="",
            authors=["An Author"],
            language="en",
            identifier="storefront:test",
            chapters=[Chapter(title, text) for title, text in chapters],
            images=images or {},
            version=version,
        )
    )


def publish_epub(book, version, chapters, *, images=None):
    """Publish a release whose EPUB holds ``chapters``; returns the release."""
    data = epub_of(chapters, images=images, version=version)
    release = catalog.create_release(
        book=book, version=version, files={"epub": ContentFile(data, name="b.epub")}
    )
    release = catalog.publish_release(release=release)
    book.refresh_from_db()
    return release


FIRST = [
    ("Introduction", "Why this book."),
    ("Streaming", "How the bytes flow.\n\n![Diagram](images/d.png)"),
    ("Caching", "Keep it close."),
    ("Old Appendix", "Tables."),
]
SECOND = [
    ("Introduction", "Why this book."),
    ("Streaming", "How the bytes flow, revised.\n\n![Diagram](images/d.png)"),
    ("Caching", "Keep it close."),
    ("Chaos Engineering", "Break it on purpose."),
]
IMAGES = {"images/d.png": png()}
