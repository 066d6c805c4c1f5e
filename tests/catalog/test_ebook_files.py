"""The ebook builder makes real files: a PDF readers open, an EPUB that is a valid package."""

import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from datetime import UTC, datetime

import pytest
from PIL import Image

from catalog import ebook_files
from catalog.ebook_files import BookText, Chapter, build_epub, build_pdf, render_html

OPF_NS = {"opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}
XHTML_NS = {"x": "http://www.w3.org/1999/xhtml"}
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"
ATTACK = (
    '<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n<a href="javascript:alert(2)">y</a>'
)
MODIFIED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

CHAPTER_BODY = """Opening paragraph with *emphasis*, **strong** text and `code`.

# A section

- first point
- second point

```python
print("hello")
```
"""


DEFAULT_CHAPTERS = [
    Chapter("Getting Started", CHAPTER_BODY, part="Part One"),
    Chapter("Writing Chapters", CHAPTER_BODY, part="Part One"),
    Chapter("Publishing", CHAPTER_BODY, part="Part Two"),
    Chapter("Afterword", "Thanks for reading."),
]


def make_book(chapters: list[Chapter] | None = None, **overrides) -> BookText:
    fields = {
        "title": "Shipping Ebooks — The Storefront Way",
        "subtitle": "A practical guide",
        "authors": ["Ana Conceição", "Bob O’Neil"],
        "language": "en",
        "identifier": "storefront:shipping-ebooks",
        "chapters": DEFAULT_CHAPTERS if chapters is None else chapters,
        "version": "1.2",
    }
    return BookText(**(fields | overrides))


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 90), (40, 90, 160)).save(buffer, "PNG")
    return buffer.getvalue()


# --- PDF ------------------------------------------------------------------------


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", pdf))


def bookmarks(pdf: bytes) -> list[str]:
    """The outline (bookmark) titles: the dictionaries that have both a /Parent and a /Title."""
    titles = []
    for body in re.findall(rb"\d+ 0 obj\s*<<(.*?)>>\s*endobj", pdf, re.DOTALL):
        title = re.search(rb"/Title (<feff[0-9a-f]*>|\((?:\\.|[^\\)])*\))", body)
        if title and b"/Parent" in body:
            titles.append(pdf_string(title.group(1)))
    return titles


def pdf_string(token: bytes) -> str:
    """A PDF string object: <feff...> is UTF-16 hex, (...) a literal with backslash escapes."""
    if token.startswith(b"<"):
        return bytes.fromhex(token[5:-1].decode()).decode("utf-16-be")
    return re.sub(rb"\\(.)", rb"\1", token[1:-1]).decode("latin-1")


def page_text(pdf: bytes) -> bytes:
    """All content streams, inflated: readable text when the core fonts are used."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL)
    return b"\n".join(zlib.decompress(stream) for stream in streams if stream[:1] == b"x")


def test_pdf_has_title_contents_part_pages_and_a_page_per_chapter():
    pdf = build_pdf(make_book())

    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    # title + contents + 2 part pages + 4 one-page chapters
    assert page_count(pdf) == 8


def test_pdf_outline_lists_parts_and_chapters_in_order():
    pdf = build_pdf(make_book())

    assert bookmarks(pdf) == [
        "Part One",
        "Getting Started",
        "Writing Chapters",
        "Part Two",
        "Publishing",
        "Afterword",
    ]


def test_pdf_contents_spill_onto_more_pages_for_a_long_book():
    chapters = [Chapter(f"Chapter {n}", "Short.") for n in range(1, 61)]

    pdf = build_pdf(make_book(chapters))

    assert page_count(pdf) > 1 + 1 + 60  # title, several contents pages, 60 chapters
    assert bookmarks(pdf)[-1] == "Chapter 60"


UNICODE_BOOK = make_book(
    [Chapter("Ação — “quoted” and it’s", "Dash — ã é ’ “ ” ł ő ≤ → 日本 😀 and\x0bcontrol.")],
    title="Unicode — ação",
)


@pytest.mark.skipif(
    not (ebook_files._DEJAVU_DIR / "DejaVuSans.ttf").is_file(), reason="fonts-dejavu-core missing"
)
def test_pdf_embeds_dejavu_when_installed():
    pdf = build_pdf(UNICODE_BOOK)

    assert re.search(rb"/BaseFont /[A-Z]{6}\+DejaVuSans", pdf)
    assert "Ação — “quoted” and it’s" in bookmarks(pdf)


def test_pdf_falls_back_to_core_fonts_without_dejavu(monkeypatch, tmp_path):
    monkeypatch.setattr(ebook_files, "_DEJAVU_DIR", tmp_path)

    pdf = build_pdf(UNICODE_BOOK)

    assert pdf.startswith(b"%PDF-")
    assert b"/BaseFont /Helvetica" in pdf
    assert b"DejaVu" not in pdf
    text = page_text(pdf)
    # Helvetica's WinAnsi encoding has dashes, curly quotes and Portuguese letters;
    # what it lacks is transliterated rather than crashing the build.
    assert "Ação — “quoted” and it’s".encode("cp1252") in text
    assert "ã é ’ “ ” l o <= ->".encode("cp1252") in text
    assert b"??" in text  # no stand-in for CJK: a visible gap rather than a crash


def test_pdf_requires_chapters():
    with pytest.raises(ValueError, match="chapter"):
        build_pdf(make_book(chapters=[]))


# --- EPUB -----------------------------------------------------------------------


def parse_xml(data: bytes | str) -> ET.Element:
    # The input is this module's own output, under test; not untrusted data.
    return ET.fromstring(data)  # noqa: S314


def open_epub(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def opf_of(epub: zipfile.ZipFile) -> tuple[str, ET.Element]:
    container = parse_xml(epub.read("META-INF/container.xml"))
    rootfile = container.find(".//{urn:oasis:names:tc:opendocument:xmlns:container}rootfile")
    assert rootfile is not None
    path = rootfile.get("full-path")
    assert rootfile.get("media-type") == "application/oebps-package+xml"
    return path, parse_xml(epub.read(path))


def test_epub_starts_with_a_stored_mimetype():
    epub = open_epub(build_epub(make_book()))

    first = epub.infolist()[0]
    assert first.filename == "mimetype"
    assert first.compress_type == zipfile.ZIP_STORED
    assert epub.read("mimetype") == b"application/epub+zip"
    assert epub.testzip() is None


def test_container_points_to_an_opf_with_the_books_metadata():
    epub = open_epub(build_epub(make_book(), modified=MODIFIED))

    path, opf = opf_of(epub)

    assert path in epub.namelist()
    assert opf.get("version") == "3.0"
    identifier = opf.find("opf:metadata/dc:identifier", OPF_NS)
    assert identifier is not None
    assert identifier.text == "storefront:shipping-ebooks"
    assert identifier.get("id") == opf.get("unique-identifier")
    titles = [t.text for t in opf.findall("opf:metadata/dc:title", OPF_NS)]
    assert titles == ["Shipping Ebooks — The Storefront Way", "A practical guide"]
    assert opf.findtext("opf:metadata/dc:language", namespaces=OPF_NS) == "en"
    creators = [c.text for c in opf.findall("opf:metadata/dc:creator", OPF_NS)]
    assert creators == ["Ana Conceição", "Bob O’Neil"]
    modified = opf.find("opf:metadata/opf:meta[@property='dcterms:modified']", OPF_NS)
    assert modified is not None
    assert modified.text == "2025-01-02T03:04:05Z"


def test_opf_manifest_matches_the_zip_and_spine_reads_every_chapter_in_order():
    book = make_book()
    epub = open_epub(build_epub(book))
    path, opf = opf_of(epub)
    base = path.rsplit("/", 1)[0] + "/"

    items = {i.get("id"): i for i in opf.findall("opf:manifest/opf:item", OPF_NS)}
    for item in items.values():
        assert base + item.get("href") in epub.namelist()
    spine = [items[ref.get("idref")] for ref in opf.findall("opf:spine/opf:itemref", OPF_NS)]
    chapter_titles = []
    for item in spine:
        page = parse_xml(epub.read(base + item.get("href")))
        section = page.find(".//x:section", XHTML_NS)
        if section is not None and section.get(EPUB_TYPE) == "chapter":
            chapter_titles.append(section.findtext("x:h1", namespaces=XHTML_NS))
    assert chapter_titles == [chapter.title for chapter in book.chapters]
    nav_items = [i for i in items.values() if i.get("properties") == "nav"]
    assert len(nav_items) == 1


def test_every_xhtml_file_is_well_formed_xml():
    markdown = ATTACK + "\n\nLine one  \nline two &nbsp; & < >\n\n---\n\n![alt <b>](x.png)"
    book = make_book([Chapter("Tricky <chapter> & “quotes”", markdown, part="A & B")])
    epub = open_epub(build_epub(book, cover_png=png_bytes()))

    xhtml_files = [n for n in epub.namelist() if n.endswith(".xhtml")]
    assert len(xhtml_files) >= 5  # cover, title page, nav, part, chapter
    for name in xhtml_files:
        parse_xml(epub.read(name))  # raises on anything that is not well-formed


def test_nav_lists_parts_with_their_chapters():
    epub = open_epub(build_epub(make_book()))

    nav = parse_xml(epub.read("OEBPS/nav.xhtml"))
    toc = next(
        n for n in nav.iter("{http://www.w3.org/1999/xhtml}nav") if n.get(EPUB_TYPE) == "toc"
    )
    top = toc.findall("x:ol/x:li", XHTML_NS)

    def label(li):
        return li.findtext("x:a", namespaces=XHTML_NS)

    def children(li):
        return [label(c) for c in li.findall("x:ol/x:li", XHTML_NS)]

    assert [label(li) for li in top] == ["Part One", "Part Two", "Afterword"]
    assert children(top[0]) == ["Getting Started", "Writing Chapters"]
    assert children(top[1]) == ["Publishing"]
    for link in toc.iter("{http://www.w3.org/1999/xhtml}a"):
        assert "OEBPS/" + link.get("href") in epub.namelist()


def test_chapter_headings_sit_below_the_chapter_title():
    epub = open_epub(build_epub(make_book()))

    chapter = epub.read("OEBPS/chapter-001.xhtml").decode()

    assert "<h1>Getting Started</h1>" in chapter
    assert "<h2>A section</h2>" in chapter
    assert "<pre><code>print(&quot;hello&quot;)" in chapter


def test_cover_is_packaged_and_shown_first_when_given():
    cover = png_bytes()
    epub = open_epub(build_epub(make_book(), cover_png=cover))
    _, opf = opf_of(epub)

    items = opf.findall("opf:manifest/opf:item", OPF_NS)
    image = next(i for i in items if i.get("properties") == "cover-image")
    assert image.get("media-type") == "image/png"
    assert epub.read("OEBPS/" + image.get("href")) == cover
    first_in_spine = opf.find("opf:spine/opf:itemref", OPF_NS).get("idref")
    cover_page = next(i for i in items if i.get("id") == first_in_spine)
    assert image.get("href") in epub.read("OEBPS/" + cover_page.get("href")).decode()


def test_no_cover_without_a_cover_image():
    epub = open_epub(build_epub(make_book()))

    assert not [n for n in epub.namelist() if "cover" in n]
    with pytest.raises(ValueError, match="PNG"):
        build_epub(make_book(), cover_png=b"GIF89a not a png")


def test_epub_is_deterministic_for_the_same_input():
    book = make_book()

    assert build_epub(book, modified=MODIFIED) == build_epub(book, modified=MODIFIED)


# --- Sanitising -----------------------------------------------------------------


def active_urls(xhtml: str) -> list[str]:
    """Every href/src value in a fragment or document: where a script could hide."""
    root = parse_xml(xhtml if xhtml.startswith("<?xml") else f"<div>{xhtml}</div>")
    return [v for el in root.iter() for k, v in el.attrib.items() if k in {"href", "src"}]


def test_render_html_strips_scripts_raw_html_and_javascript_urls():
    html = render_html(ATTACK)

    assert "<script" not in html.lower()
    assert '<a href="javascript' not in html.lower()
    assert not [url for url in active_urls(html) if "javascript" in url.lower()]
    # Raw HTML is shown as text, not dropped and not interpreted.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_render_html_keeps_safe_links_and_emits_xhtml():
    html = render_html("[site](https://example.com) line  \nbreak\n\n---\n\nnon&nbsp;breaking")

    assert 'href="https://example.com"' in html
    assert "<br />" in html
    assert "<hr />" in html
    assert "&nbsp;" not in html  # an HTML entity that XML does not know
    parse_xml(f"<div>{html}</div>")


def test_epub_chapters_carry_no_scripts():
    epub = open_epub(build_epub(make_book([Chapter("Attack", ATTACK)])))

    for name in epub.namelist():
        if name.endswith(".xhtml"):
            page = epub.read(name).decode()
            assert "<script" not in page.lower()
            assert not [url for url in active_urls(page) if "javascript" in url.lower()]
