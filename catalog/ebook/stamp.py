"""A reader's copy: the same PDF or EPUB with "Prepared for <name> · <e-mail> · order <id>".

Pure like the rest of ``catalog.ebook``: bytes and a ``Stamp`` in, bytes out.

- PDF: an overlay, not a rebuild. Each page keeps its content streams; a ``q`` is put in
  front of them and a ``Q`` plus one small text stream after them (so whatever graphics
  state the page leaves cannot move or hide the line), drawn in Helvetica, one of the
  14 standard fonts every PDF reader has (nothing embedded). Pages of the same size share
  one stream, and existing streams are copied as they are (never decompressed), so a
  300-page book is stamped in a fraction of a second.
- EPUB: a dedication page with the same line, after the first page of the spine (the
  cover or the title page), and the identifiers in the OPF metadata: the order as a
  second ``dc:identifier`` (``urn:uuid:``) and the reader as ``storefront:prepared-for``
  (a prefix declared on the package, as EPUB 3 asks). Every other member of the zip is
  copied byte for byte, ``mimetype`` first and stored.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from dataclasses import dataclass
from posixpath import dirname, join, normpath, relpath

import pikepdf
from fpdf.fonts import CORE_FONTS_CHARWIDTHS
from lxml import etree

from catalog.ebook.markdown import escape

SEPARATOR = " · "
FONT_KEY = "/SFStampFont"
FONT_SIZE = 7.0
MIN_FONT_SIZE = 4.0
MARGIN = 14.0  # points from the bottom edge and each side

META_PREFIX = "storefront"
META_PREFIX_IRI = "https://storefront.invalid/epub/meta#"
DEDICATION_HREF = "prepared-for.xhtml"
DEDICATION_ID = "storefront-prepared-for"

_OPF_NS = "http://www.idpf.org/2007/opf"
_DC_NS = "http://purl.org/dc/elements/1.1/"
_CONTAINER_NS = "urn:oasis:names:tc:opendocument:xmlns:container"
_HELVETICA = CORE_FONTS_CHARWIDTHS["helvetica"]
# Letters Unicode does not decompose into a base letter and an accent.
_PLAIN_LETTERS = str.maketrans(
    {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i", "Ħ": "H", "ħ": "h"}
)


class StampError(ValueError):
    """The file cannot be stamped (damaged, or not what its format says)."""


@dataclass(frozen=True)
class Stamp:
    """Who a copy is for. ``order_id`` is the order's public id (a UUID); None for a
    copy no order paid for (given by staff): the line then names the reader only."""

    name: str
    email: str
    order_id: str | None = None

    @property
    def line(self) -> str:
        parts = [part for part in (self.name.strip(), self.email.strip()) if part]
        if self.order_id:
            parts.append(f"order {self.order_id}")
        return SEPARATOR.join(parts)

    @property
    def text(self) -> str:
        return f"Prepared for {self.line}"


# --- PDF --------------------------------------------------------------------------


def stamp_pdf(data: bytes, stamp: Stamp) -> bytes:
    """The PDF with ``stamp.text`` drawn at the foot of every page."""
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PdfError as exc:
        raise StampError(f"not a readable PDF: {exc}") from exc
    with pdf:
        text = _winansi(stamp.text)
        font = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Font,
                Subtype=pikepdf.Name.Type1,
                BaseFont=pikepdf.Name.Helvetica,
                Encoding=pikepdf.Name.WinAnsiEncoding,
            )
        )
        save_state = pdf.make_stream(b"q\n")
        overlays: dict[tuple, pikepdf.Stream] = {}
        for page in pdf.pages:
            box = tuple(float(v) for v in page.trimbox)
            if box not in overlays:
                overlays[box] = pdf.make_stream(_overlay(text, box))
            _add_font(page, font)
            page.contents_add(save_state, prepend=True)
            page.contents_add(overlays[box], prepend=False)
        out = io.BytesIO()
        # Existing streams are written as they are: no decompressing and recompressing.
        pdf.save(out, recompress_flate=False, stream_decode_level=pikepdf.StreamDecodeLevel.none)
    return out.getvalue()


def _winansi(text: str) -> bytes:
    """The text in the standard font's encoding: accents the encoding lacks are
    dropped ("Łukasz" keeps its letters where it can), anything else becomes "?"."""
    out = bytearray()
    for char in text.translate(_PLAIN_LETTERS):
        try:
            out += char.encode("cp1252")
            continue
        except UnicodeEncodeError:
            pass
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out += base.encode("cp1252", errors="replace") if base else b"?"
    return bytes(out)


def _overlay(text: bytes, box: tuple[float, float, float, float]) -> bytes:
    """Close the page's own graphics state, then one line centred near the bottom."""
    left, bottom, right, _top = box
    width = right - left
    units = sum(_HELVETICA.get(chr(b), 556) for b in text)  # 1/1000 of the font size
    size = FONT_SIZE
    if units * size / 1000 > width - 2 * MARGIN:
        size = max(MIN_FONT_SIZE, (width - 2 * MARGIN) * 1000 / units)
    x = left + max(MARGIN, (width - units * size / 1000) / 2)
    y = bottom + MARGIN / 2
    literal = text.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return (
        b"Q\nq\n0.4 g\nBT\n/"
        + FONT_KEY[1:].encode()
        + f" {size:.2f} Tf\n{x:.2f} {y:.2f} Td\n".encode()
        + b"("
        + literal
        + b") Tj\nET\nQ\n"
    )


def _add_font(page: pikepdf.Page, font: pikepdf.Object) -> None:
    resources = page.obj.get("/Resources")
    if resources is None:
        page.obj.Resources = resources = pikepdf.Dictionary()
    fonts = resources.get("/Font")
    if fonts is None:
        resources.Font = fonts = pikepdf.Dictionary()
    fonts[FONT_KEY] = font


# --- EPUB -------------------------------------------------------------------------


def stamp_epub(data: bytes, stamp: Stamp) -> bytes:
    """The EPUB with a dedication page and the reader's identifiers in its metadata."""
    try:
        source = zipfile.ZipFile(io.BytesIO(data))
        opf_path = _opf_path(source.read("META-INF/container.xml"))
        opf = _parse(source.read(opf_path))
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError) as exc:
        raise StampError(f"not a readable EPUB: {exc}") from exc
    epub3 = opf.get("version", "3.0").startswith("3")
    page_path = normpath(join(dirname(opf_path), DEDICATION_HREF))
    language = _language(opf)
    _add_metadata(opf, stamp, epub3=epub3)
    _add_page(opf, opf_path, page_path)
    members = [
        (opf_path, etree.tostring(opf, xml_declaration=True, encoding="UTF-8")),
        (page_path, _dedication(stamp, language, epub3=epub3)),
    ]
    return _rezip(source, dict(members))


def _parse(xml: bytes):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(xml, parser)


def _opf_path(container: bytes) -> str:
    root = _parse(container)
    rootfile = root.find(f".//{{{_CONTAINER_NS}}}rootfile")
    if rootfile is None or not rootfile.get("full-path"):
        raise KeyError("container.xml names no package document")
    return rootfile.get("full-path")


def _language(opf) -> str:
    found = opf.find(f"{{{_OPF_NS}}}metadata/{{{_DC_NS}}}language")
    return (found.text or "en").strip() if found is not None else "en"


def _add_metadata(opf, stamp: Stamp, *, epub3: bool) -> None:
    metadata = opf.find(f"{{{_OPF_NS}}}metadata")
    if metadata is None:
        raise StampError("the package document has no metadata")
    if stamp.order_id:
        identifier = etree.SubElement(metadata, f"{{{_DC_NS}}}identifier")
        identifier.set("id", "storefront-order")
        identifier.text = f"urn:uuid:{stamp.order_id}"
    meta = etree.SubElement(metadata, f"{{{_OPF_NS}}}meta")
    if epub3:
        prefixes = opf.get("prefix", "")
        if f"{META_PREFIX}:" not in prefixes:
            opf.set("prefix", f"{prefixes} {META_PREFIX}: {META_PREFIX_IRI}".strip())
        meta.set("property", f"{META_PREFIX}:prepared-for")
        meta.text = stamp.line
    else:
        meta.set("name", f"{META_PREFIX}:prepared-for")
        meta.set("content", stamp.line)


def _add_page(opf, opf_path: str, page_path: str) -> None:
    manifest = opf.find(f"{{{_OPF_NS}}}manifest")
    spine = opf.find(f"{{{_OPF_NS}}}spine")
    if manifest is None or spine is None:
        raise StampError("the package document has no manifest or spine")
    item = etree.SubElement(manifest, f"{{{_OPF_NS}}}item")
    item.set("id", DEDICATION_ID)
    item.set("href", relpath(page_path, dirname(opf_path) or "."))
    item.set("media-type", "application/xhtml+xml")
    itemref = etree.Element(f"{{{_OPF_NS}}}itemref")
    itemref.set("idref", DEDICATION_ID)
    refs = spine.findall(f"{{{_OPF_NS}}}itemref")
    spine.insert(spine.index(refs[0]) + 1 if refs else 0, itemref)
    itemref.tail = "\n"


def _dedication(stamp: Stamp, language: str, *, epub3: bool) -> bytes:
    lang = escape(language)
    body = (
        '<div style="margin-top: 40%; text-align: center; font-size: 0.85em;">\n'
        f"<p>Prepared for {escape(stamp.line)}</p>\n</div>"
    )
    if epub3:
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
            f'<html xmlns="http://www.w3.org/1999/xhtml" lang="{lang}" xml:lang="{lang}">\n'
            '<head>\n<meta charset="UTF-8" />\n'
        )
    else:
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" '
            '"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">\n'
            f'<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="{lang}">\n<head>\n'
        )
    return (
        f"{head}<title>Prepared for {escape(stamp.name or stamp.email)}</title>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    ).encode()


def _rezip(source: zipfile.ZipFile, replaced: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        mimetype = zipfile.ZipInfo("mimetype", date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(mimetype, b"application/epub+zip", compress_type=zipfile.ZIP_STORED)
        for info in source.infolist():
            if info.filename == "mimetype" or info.filename in replaced:
                continue
            archive.writestr(info, source.read(info), compress_type=info.compress_type)
        for name, content in replaced.items():
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, content, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
