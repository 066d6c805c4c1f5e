"""The ebook builder makes real files: a PDF readers open, an EPUB that is a valid package."""

import io
import pickle
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from datetime import UTC, datetime

import pytest
from PIL import Image

from catalog.ebook import (
    BookText,
    Chapter,
    ManuscriptError,
    build_epub,
    build_pdf,
    pdf_body,
    render_html,
    toc,
    validate,
)
from catalog.ebook import book as ebook_book
from catalog.ebook import fonts as ebook_fonts
from catalog.ebook import markdown as ebook_markdown
from tests.conftest import require
from tests.ebook_checks import assert_epubcheck_passes

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


def png_bytes(size: tuple[int, int] = (60, 90), color=(40, 90, 160), fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
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


def test_pdf_embeds_dejavu_when_installed():
    # .ci/run installs Debian's fonts-dejavu-core; elsewhere the core-font fallback is tested.
    require((ebook_fonts.DEJAVU_DIR / "DejaVuSans.ttf").is_file(), "fonts-dejavu-core missing")
    pdf = build_pdf(UNICODE_BOOK)

    assert re.search(rb"/BaseFont /[A-Z]{6}\+DejaVuSans", pdf)
    assert "Ação — “quoted” and it’s" in bookmarks(pdf)


def test_pdf_falls_back_to_core_fonts_without_dejavu(monkeypatch, tmp_path):
    monkeypatch.setattr(ebook_fonts, "DEJAVU_DIR", tmp_path)

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
    book = make_book(
        [Chapter("Tricky <chapter> & “quotes”", markdown, part="A & B")],
        images={"x.png": png_bytes()},
    )
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


# --- Manuscripts: images, validation, progress, contents ---------------------------

DIAGRAM = png_bytes()
MANUSCRIPT_CHAPTERS = [
    Chapter(
        "Começo — a ação",
        "Ação, coração — “aspas curvas” e ‘simples’.\n\n![Diagram](images/diagram.png)\n\n"
        "Depois da imagem.",
        part="Parte Um",
        source="ch01.md",
    ),
    Chapter(
        "Código",
        'Um exemplo:\n\n```python\nprint("olá — mundo")\n```\n\nE o ![Diagram](images/diagram.png) de novo.',
        part="Parte Um",
        source="ch02.md",
    ),
    Chapter("O coração", "Texto — " * 400, part="Parte Dois", source="ch03.md"),
    Chapter("Epílogo", "Fim.", source="ch04.md"),
]


def manuscript(chapters: list[Chapter] | None = None, **overrides) -> BookText:
    images = {"images/diagram.png": DIAGRAM, "images/unused.png": png_bytes(color=(1, 2, 3))}
    fields = {"language": "pt-BR", "images": images} | overrides
    return make_book(MANUSCRIPT_CHAPTERS if chapters is None else chapters, **fields)


def test_toc_lists_each_part_once_before_its_chapters():
    assert toc(manuscript()) == [
        ("part", "Parte Um"),
        ("chapter", "Começo — a ação"),
        ("chapter", "Código"),
        ("part", "Parte Dois"),
        ("chapter", "O coração"),
        ("chapter", "Epílogo"),
    ]


def test_manuscript_epub_packages_its_image_and_reads_in_order():
    book = manuscript()
    epub = open_epub(build_epub(book, modified=MODIFIED))

    first = epub.infolist()[0]
    assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
    assert epub.testzip() is None
    path, opf = opf_of(epub)
    base = path.rsplit("/", 1)[0] + "/"
    items = {i.get("id"): i for i in opf.findall("opf:manifest/opf:item", OPF_NS)}
    for item in items.values():
        assert base + item.get("href") in epub.namelist()
    images = [i for i in items.values() if i.get("media-type").startswith("image/")]
    assert [(i.get("href"), i.get("media-type")) for i in images] == [
        ("images/diagram.png", "image/png")
    ]  # once, though two chapters show it; the unused image is left out
    assert epub.read(base + "images/diagram.png") == DIAGRAM
    assert not [name for name in epub.namelist() if "unused" in name]

    chapters = []
    for ref in opf.findall("opf:spine/opf:itemref", OPF_NS):
        page = parse_xml(epub.read(base + items[ref.get("idref")].get("href")))
        section = page.find(".//x:section", XHTML_NS)
        if section is not None and section.get(EPUB_TYPE) == "chapter":
            chapters.append((section.findtext("x:h1", namespaces=XHTML_NS), page))
    assert [title for title, _ in chapters] == [c.title for c in book.chapters]
    first_page = chapters[0][1]
    img = first_page.find(".//x:img", XHTML_NS)
    assert img is not None
    assert (img.get("src"), img.get("alt")) == ("images/diagram.png", "Diagram")
    text = "".join(first_page.itertext())
    assert "Ação, coração — “aspas curvas” e ‘simples’." in text
    code = chapters[1][1].findtext(".//x:pre/x:code", namespaces=XHTML_NS)
    assert code == 'print("olá — mundo")\n'
    assert (
        '<img src="images/diagram.png" alt="Diagram" />'
        in epub.read(base + "chapter-002.xhtml").decode()
    )


def test_manuscript_nav_matches_toc():
    book = manuscript()
    epub = open_epub(build_epub(book))

    nav = parse_xml(epub.read("OEBPS/nav.xhtml"))
    toc_nav = next(
        n for n in nav.iter("{http://www.w3.org/1999/xhtml}nav") if n.get(EPUB_TYPE) == "toc"
    )
    entries = []
    for link in toc_nav.iter("{http://www.w3.org/1999/xhtml}a"):
        page = parse_xml(epub.read("OEBPS/" + link.get("href")))
        kind = page.find(".//x:section", XHTML_NS).get(EPUB_TYPE)
        entries.append((kind, link.text))
    assert entries == toc(book)


def test_manuscript_pdf_has_the_chapters_in_order_and_the_image():
    book = manuscript()
    pdf = build_pdf(book)

    assert pdf.startswith(b"%PDF-")
    assert page_count(pdf) > 1
    assert bookmarks(pdf) == [title for _, title in toc(book)]
    # One image XObject, 60x90 pixels, though two chapters show it; the unused one is left out.
    assert len(re.findall(rb"/Subtype /Image", pdf)) == 1
    assert re.search(rb"/Width 60\b", pdf)
    assert re.search(rb"/Height 90\b", pdf)


def test_pdf_image_caption_is_its_alt_text(monkeypatch, tmp_path):
    monkeypatch.setattr(ebook_fonts, "DEJAVU_DIR", tmp_path)  # core fonts: text is readable

    text = page_text(build_pdf(manuscript()))

    assert b"(Diagram)" in text
    assert "Ação, coração".encode("cp1252") in text


def image_boxes(pdf: bytes) -> list[tuple[float, float, float, float]]:
    """Every image drawn: (width, height, x, y) in points, from the ``cm ... Do`` operators."""
    found = re.findall(rb"([\d.]+) 0 0 ([\d.]+) ([\d.]+) ([\d.]+) cm\s*/I\w* Do", page_text(pdf))
    return [tuple(float(n) for n in box) for box in found]


@pytest.mark.parametrize("size", [(3000, 400), (300, 4000), (60, 90)])
def test_pdf_images_fit_the_text_width_and_the_page(size):
    book = manuscript([Chapter("Big", "![Big](big.png)", source="big.md")])
    pdf = build_pdf(replace_images(book, {"big.png": png_bytes(size)}))

    [(width, height, x, y)] = image_boxes(pdf)
    mm = 72 / 25.4
    assert width <= (148 - 2 * 16) * mm + 0.01
    assert height <= (210 - 16 - 20) * mm + 0.01
    assert x >= 16 * mm - 0.01
    assert y >= 20 * mm - 0.01  # above the bottom margin
    assert width / height == pytest.approx(size[0] / size[1], rel=0.01)
    if size == (60, 90):  # small images are not blown up: 96 dpi
        assert width == pytest.approx(60 / 96 * 72, rel=0.01)


def replace_images(book: BookText, images: dict[str, bytes]) -> BookText:
    return BookText(**(vars(book) | {"images": images}))


@pytest.mark.parametrize(
    ("fmt", "media_type", "href"),
    [
        ("JPEG", "image/jpeg", "images/image-001.jpg"),  # named .png, really a JPEG
        ("GIF", "image/gif", "images/image-001.gif"),
        ("WEBP", "image/webp", "images/image-001.webp"),
        ("PNG", "image/png", "images/photo.png"),
    ],
)
def test_epub_image_type_comes_from_the_bytes(fmt, media_type, href):
    book = manuscript(
        [Chapter("Photo", "![A photo](images/photo.png)", source="photo.md")],
        images={"images/photo.png": png_bytes(fmt=fmt)},
    )
    epub = open_epub(build_epub(book))
    _, opf = opf_of(epub)

    [item] = [
        i
        for i in opf.findall("opf:manifest/opf:item", OPF_NS)
        if i.get("href").startswith("images/")
    ]
    assert (item.get("href"), item.get("media-type")) == (href, media_type)
    chapter = parse_xml(epub.read("OEBPS/chapter-001.xhtml"))
    assert chapter.find(".//x:img", XHTML_NS).get("src") == href
    build_pdf(book)  # fpdf2 takes every one of them


def test_image_paths_with_spaces_or_dots_get_a_plain_name_in_the_epub():
    markdown = (
        "![One](<my images/one.png>)\n\n![Two](./images/two.png)\n\n![Up](../up.png)\n\n"
        "![Heart](imagens/coração.png)"
    )
    images = {
        "my images/one.png": DIAGRAM,
        "images/two.png": DIAGRAM,
        "../up.png": DIAGRAM,
        "imagens/coração.png": DIAGRAM,
    }
    book = manuscript([Chapter("Paths", markdown, source="paths.md")], images=images)
    epub = open_epub(build_epub(book))

    chapter = parse_xml(epub.read("OEBPS/chapter-001.xhtml"))
    sources = [img.get("src") for img in chapter.iterfind(".//x:img", XHTML_NS)]
    assert sources == [
        "images/image-001.png",
        "images/two.png",
        "images/image-002.png",
        "images/image-003.png",
    ]
    for src in sources:
        assert epub.read("OEBPS/" + src) == DIAGRAM
    assert page_count(build_pdf(book)) > 1


def test_render_html_shows_images_only_from_the_urls_given():
    markdown = "![Diagram](images/diagram.png) and ![Other](images/other.png)"

    assert "<img" not in render_html(markdown)
    assert "Diagram and Other" in render_html(markdown)
    html = render_html(markdown, image_urls={"images/diagram.png": "/media/books/d.png"})
    assert '<img src="/media/books/d.png" alt="Diagram" />' in html
    assert "Other" in html
    assert html.count("<img") == 1
    parse_xml(f"<div>{html}</div>")
    hostile = render_html(markdown, image_urls={"images/diagram.png": "javascript:alert(1)"})
    assert not [url for url in active_urls(hostile) if "javascript" in url.lower()]


BUILDERS = [pytest.param(build_pdf, id="pdf"), pytest.param(build_epub, id="epub")]


def broken_chapter(markdown: str) -> BookText:
    return manuscript([MANUSCRIPT_CHAPTERS[0], Chapter("Broken", markdown, source="ch02.md")])


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize(
    ("markdown", "message"),
    [
        ("Look: ![Chart](images/chart.png)", "image images/chart.png is missing"),
        ("```python\nprint(1)\n\n![Diagram](images/diagram.png)\n", "is never closed"),
        ("~~~\ncode\n```\n", "~~~ code block opened on line 1 is never closed"),
        ("Text.\n\n````\ncode\n```\n", "```` code block opened on line 3 is never closed"),
        ("> ```\n> code\n\nOutside.", "is never closed"),
    ],
)
def test_manuscript_errors_name_the_chapter_file(build, markdown, message):
    book = broken_chapter(markdown)

    with pytest.raises(ManuscriptError) as caught:
        build(book)

    assert str(caught.value).startswith("ch02.md: ")
    assert message in str(caught.value)
    assert caught.value.source == "ch02.md"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("build", BUILDERS)
def test_bytes_that_are_not_an_image_name_the_chapter_file(build):
    book = manuscript(images={"images/diagram.png": b"\x89PNG\r\n\x1a\n but truncated"})

    with pytest.raises(ManuscriptError, match=r"^ch01\.md: images/diagram\.png is not an image"):
        build(book)


def test_huge_images_are_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(ebook_book, "_MAX_PIXELS", 1000)

    with pytest.raises(ManuscriptError, match=r"^ch01\.md: images/diagram\.png is too large"):
        validate(manuscript())


def test_closed_fences_pass_validation():
    closed = [
        "```\ncode\n`````\n",  # a longer closing fence
        "~~~~\n```\nstill code\n~~~~",  # the other character inside
        "> ```\n> code\n> ```\n",
        "- item\n\n  ```\n  code\n  ```\n- next",
        "    ```\n    an indented code block, not a fence",
        "Inline ``` is not a fence.",
    ]
    for markdown in closed:
        validate(manuscript([Chapter("Fine", markdown, source="fine.md")]))


def test_validate_names_a_chapter_without_a_file_by_its_title():
    book = manuscript([Chapter("Sem arquivo", "![x](missing.png)")])

    with pytest.raises(ManuscriptError, match=r"^Sem arquivo: image missing\.png is missing$"):
        validate(book)


def test_validate_rejects_empty_titles_and_books_without_chapters():
    with pytest.raises(ManuscriptError, match=r"^ch09\.md: chapter 1 has no title"):
        validate(manuscript([Chapter("  ", "Body.", source="ch09.md")]))
    with pytest.raises(ManuscriptError, match="no chapters"):
        validate(manuscript([]))


def test_manuscript_error_keeps_its_parts_and_survives_pickling():
    error = ManuscriptError("ch03.md", "image images/x.png is missing")

    assert (error.source, error.message) == ("ch03.md", "image images/x.png is missing")
    assert str(error) == "ch03.md: image images/x.png is missing"
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (copy.source, str(copy)) == (error.source, str(error))


@pytest.mark.parametrize("build", BUILDERS)
def test_progress_is_reported_once_per_chapter(build):
    book = manuscript()
    calls = []

    build(book, progress=lambda done, total, chapter: calls.append((done, total, chapter)))

    assert calls == [(n, 4, chapter) for n, chapter in enumerate(book.chapters, start=1)]


def test_a_chapter_that_fails_to_render_is_named(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    book = manuscript()
    monkeypatch.setattr(pdf_body.PdfBody, "_code_block", fail)
    with pytest.raises(ManuscriptError, match=r"^ch02\.md: .*boom"):
        build_pdf(book)
    monkeypatch.setattr(ebook_markdown, "html_from_tokens", fail)
    with pytest.raises(ManuscriptError, match=r"^ch01\.md: .*boom") as caught:
        build_epub(book)
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_epub_with_images_is_deterministic():
    book = manuscript()

    assert build_epub(book, modified=MODIFIED) == build_epub(book, modified=MODIFIED)


def test_a_300_page_book_builds():
    paragraph = "Ação, coração — “aspas” e *ênfase*, **forte** e `código`. " * 8
    section = f"## Seção\n\n{paragraph}\n\n{paragraph}\n\n- um\n- dois\n\n```\ncode()\n```\n\n"
    figure = "![Diagram](images/diagram.png)\n\n"
    chapters = [
        Chapter(
            f"Capítulo {n}",
            figure + section * 7,
            part=f"Parte {(n - 1) // 10 + 1}",
            source=f"{n}.md",
        )
        for n in range(1, 61)
    ]
    book = manuscript(chapters)

    assert page_count(build_pdf(book)) >= 300
    _, opf = opf_of(open_epub(build_epub(book)))
    assert len(opf.findall("opf:spine/opf:itemref", OPF_NS)) == 1 + 1 + 6 + 60


def test_images_anywhere_in_the_text_build():
    markdown = (
        "# Heading ![Diagram](images/diagram.png)\n\n"
        "**Bold ![Diagram](images/diagram.png) still bold** and "
        "[a link ![Diagram](images/diagram.png)](https://example.com)\n\n"
        "- ![Diagram](images/diagram.png)\n- item\n\n"
        "> Quoted\n> ![](images/diagram.png)\n\n"
        "1. text ![Diagram *alt*](images/diagram.png 'Title')\n"
    )
    book = manuscript([Chapter("Everywhere", markdown, source="everywhere.md")])

    pdf = build_pdf(book)
    epub = open_epub(build_epub(book))

    assert len(image_boxes(pdf)) == 6
    chapter = parse_xml(epub.read("OEBPS/chapter-001.xhtml"))
    images = chapter.findall(".//x:img", XHTML_NS)
    assert [img.get("alt") for img in images] == ["Diagram"] * 4 + ["", "Diagram alt"]
    assert {img.get("src") for img in images} == {"images/diagram.png"}


def test_every_epub_the_store_builds_passes_epubcheck():
    assert_epubcheck_passes(build_epub(make_book(), cover_png=png_bytes()))
    assert_epubcheck_passes(build_epub(make_book(chapters=[Chapter("Only", "Text.")])))
