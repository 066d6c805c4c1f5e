"""A reader's copy: "Prepared for ..." on every page of the PDF, a dedication page and
metadata in the EPUB, both read back by independent tools (pdftotext, EPUBCheck)."""

import io
import time
import zipfile

import pikepdf
import pytest
from fpdf import FPDF
from lxml import etree

from catalog.ebook import BookText, Chapter, build_epub, build_pdf
from catalog.ebook.stamp import Stamp, StampError, stamp_epub, stamp_pdf
from tests.ebook_checks import assert_epubcheck_passes, pdf_pages_text

STAMP = Stamp(
    name="Ana Conceição", email="ana@example.com", order_id="4f1c2b7e-3d7a-4c1e-9a55-0d5e8f1b2c3d"
)
LINE = "Prepared for Ana Conceição · ana@example.com · order 4f1c2b7e-3d7a-4c1e-9a55-0d5e8f1b2c3d"


def three_hundred_pages() -> bytes:
    """A 300-page PDF with text of its own on every page (fpdf2, compressed streams)."""
    pdf = FPDF(format=(420, 595), unit="pt")
    pdf.set_font("helvetica", size=11)
    for n in range(1, 301):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Page {n}. " + "The monolith did not split itself. " * 30)
    return bytes(pdf.output())


def small_book() -> BookText:
    return BookText(
        title="Stamped",
        subtitle="",
        authors=["An Author"],
        language="en",
        identifier="storefront:stamped",
        chapters=[Chapter("One", "First chapter."), Chapter("Two", "Second chapter.")],
    )


def test_the_stamp_is_on_every_page_of_a_300_page_pdf_and_the_pages_keep_their_text():
    original = three_hundred_pages()

    stamped = stamp_pdf(original, STAMP)

    pages = pdf_pages_text(stamped)
    assert len(pages) == 300
    for n, text in enumerate(pages, start=1):
        assert LINE in " ".join(text.split()), f"page {n}"
        assert f"Page {n}." in text
    # An overlay, not a rebuild: the pages' own streams are still there, untouched.
    with pikepdf.open(io.BytesIO(original)) as before, pikepdf.open(io.BytesIO(stamped)) as after:
        first_before = before.pages[0].obj.Contents.read_raw_bytes()
        contents_after = after.pages[0].obj.Contents
        assert any(stream.read_raw_bytes() == first_before for stream in contents_after)


def test_stamping_a_300_page_pdf_takes_well_under_a_second():
    original = three_hundred_pages()
    started = time.process_time()
    stamp_pdf(original, STAMP)
    # CPU time, not wall time: the bound of the issue, with room for a busy machine.
    assert time.process_time() - started < 1.0


def test_a_built_book_stamped_keeps_its_own_text_and_gets_the_line_on_each_page():
    stamped = stamp_pdf(build_pdf(small_book()), STAMP)
    pages = pdf_pages_text(stamped)
    assert pages and all(LINE in " ".join(page.split()) for page in pages)
    assert any("Second chapter." in page for page in pages)


def test_names_outside_the_standard_font_still_read_as_letters():
    stamped = stamp_pdf(
        build_pdf(small_book()), Stamp(name="Łukasz Żółć 王", email="l@example.com", order_id="x")
    )
    text = " ".join(pdf_pages_text(stamped)[0].split())
    # ó is in the font's encoding; Ż, ł and ć lose their marks; 王 cannot be drawn.
    assert "Prepared for Lukasz Zólc ? · l@example.com · order x" in text


def test_a_damaged_pdf_is_a_stamp_error():
    with pytest.raises(StampError):
        stamp_pdf(b"%PDF-1.4 nothing here %%EOF", STAMP)


def opf_of(epub: bytes):
    archive = zipfile.ZipFile(io.BytesIO(epub))
    return archive, etree.fromstring(archive.read("OEBPS/content.opf"))


def test_the_stamped_epub_has_a_dedication_page_and_the_identifiers_and_passes_epubcheck():
    original = build_epub(small_book())

    stamped = stamp_epub(original, STAMP)

    assert_epubcheck_passes(stamped)
    archive, opf = opf_of(stamped)
    assert archive.namelist()[0] == "mimetype"
    assert archive.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
    page = archive.read("OEBPS/prepared-for.xhtml").decode()
    assert LINE in page
    ns = {"opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}
    spine = [ref.get("idref") for ref in opf.findall("opf:spine/opf:itemref", ns)]
    assert spine[1] == "storefront-prepared-for"  # right after the title page
    identifiers = [i.text for i in opf.findall("opf:metadata/dc:identifier", ns)]
    assert f"urn:uuid:{STAMP.order_id}" in identifiers
    assert opf.get("unique-identifier") == "book-id"  # the book's own identity is kept
    meta = opf.find("opf:metadata/opf:meta[@property='storefront:prepared-for']", ns)
    assert meta is not None and meta.text == STAMP.line
    # Every other member is the original's, byte for byte.
    source = zipfile.ZipFile(io.BytesIO(original))
    for name in source.namelist():
        if name != "OEBPS/content.opf":
            assert archive.read(name) == source.read(name)


def test_an_epub_with_a_cover_stamped_passes_epubcheck():
    from PIL import Image

    cover = io.BytesIO()
    Image.new("RGB", (60, 90), (1, 2, 3)).save(cover, "PNG")
    assert_epubcheck_passes(stamp_epub(build_epub(small_book(), cover_png=cover.getvalue()), STAMP))


def test_a_damaged_epub_is_a_stamp_error():
    with pytest.raises(StampError):
        stamp_epub(b"PK not a zip", STAMP)


EPUB2_OPF = """<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="2.0" unique-identifier="uid">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Two</dc:title>
<dc:language>en</dc:language>
<dc:identifier id="uid">urn:uuid:11111111-2222-3333-4444-555555555555</dc:identifier></metadata>
<manifest><item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
<item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/></manifest>
<spine toc="ncx"><itemref idref="c1"/></spine></package>"""
EPUB2_NCX = """<?xml version="1.0" encoding="UTF-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><head>
<meta name="dtb:uid" content="urn:uuid:11111111-2222-3333-4444-555555555555"/>
<meta name="dtb:depth" content="1"/><meta name="dtb:totalPageCount" content="0"/>
<meta name="dtb:maxPageNumber" content="0"/></head><docTitle><text>Two</text></docTitle>
<navMap><navPoint id="n1" playOrder="1"><navLabel><text>C1</text></navLabel>
<content src="c1.xhtml"/></navPoint></navMap></ncx>"""
EPUB2_PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>C1</title></head><body><p>Hi</p></body></html>"""
EPUB2_CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>
<rootfile full-path="content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"""


def test_an_uploaded_epub_2_is_stamped_in_epub_2_terms_and_passes_epubcheck():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", EPUB2_CONTAINER)
        archive.writestr("content.opf", EPUB2_OPF)
        archive.writestr("toc.ncx", EPUB2_NCX)
        archive.writestr("c1.xhtml", EPUB2_PAGE)

    stamped = stamp_epub(buffer.getvalue(), STAMP)

    assert_epubcheck_passes(stamped)
    archive = zipfile.ZipFile(io.BytesIO(stamped))
    assert LINE in archive.read("prepared-for.xhtml").decode()
    assert f'content="{STAMP.line}"' in archive.read("content.opf").decode()
