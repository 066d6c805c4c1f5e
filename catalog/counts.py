"""How long a book is: pages of a PDF, words of a manuscript or an EPUB.

The book page shows these; they come from the files the store builds or is
given, never typed by hand. Each function answers None when it cannot tell (a
damaged file): a count is a nicety, never a reason to refuse an upload.
"""

import html
import logging
import posixpath
import re
import zipfile

log = logging.getLogger(__name__)

WORD = re.compile(r"\w+(?:['’-]\w+)*")
# Markdown that is not prose: link and image targets, raw tags, fenced code markers.
_MARKDOWN_NOISE = re.compile(r"\]\([^)]*\)|<[^>]+>|^\s*(?:```|~~~).*$", re.MULTILINE)
_TAGS = re.compile(r"<[^>]+>")
_SKIPPED = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
# An EPUB unpacked further than this is not counted (a zip bomb gets no pass here).
EPUB_TEXT_MAX_BYTES = 64 * 1024 * 1024
EPUB_TEXT_SUFFIXES = (".xhtml", ".html", ".htm")
EPUB_NAV_NAMES = {"nav.xhtml", "toc.xhtml"}


def words(text: str) -> int:
    return len(WORD.findall(text))


def markdown_words(texts) -> int:
    """Words of Markdown texts as a reader sees them (no link targets or markup)."""
    return sum(words(_MARKDOWN_NOISE.sub(" ", text)) for text in texts)


def pdf_pages(upload) -> int | None:
    """The number of pages of a PDF (an uploaded or built file)."""
    import pikepdf  # here, not at import: it loads qpdf (and logs) in every process

    try:
        upload.seek(0)
        with pikepdf.open(upload) as pdf:
            return len(pdf.pages)
    except Exception:  # pikepdf raises several kinds on a damaged file
        log.info("could not count the pages of a PDF", exc_info=True)
        return None
    finally:
        upload.seek(0)


def epub_words(upload) -> int | None:
    """Words in an EPUB's content documents (its navigation document left out)."""
    try:
        upload.seek(0)
        with zipfile.ZipFile(upload) as archive:
            members = [
                info
                for info in archive.infolist()
                if info.filename.lower().endswith(EPUB_TEXT_SUFFIXES)
                and posixpath.basename(info.filename).lower() not in EPUB_NAV_NAMES
            ]
            if sum(info.file_size for info in members) > EPUB_TEXT_MAX_BYTES:
                return None
            total = 0
            for info in members:
                text = archive.read(info).decode("utf-8", errors="replace")
                total += words(html.unescape(_TAGS.sub(" ", _SKIPPED.sub(" ", text))))
            return total
    except Exception:  # BadZipFile, a damaged member...: no count
        log.info("could not count the words of an EPUB", exc_info=True)
        return None
    finally:
        upload.seek(0)
