"""An EPUB's chapters as clean HTML: what readers read online and what the library
compares between releases. A pure function of the file's bytes (no database).

The OPF spine gives the reading order; the nav document (EPUB 3) or the NCX
(EPUB 2) gives the titles. The cover, title page and contents are left out; a
part page names the part of the chapters after it. Every document is cleaned by
nh3 with a strict allow-list (no scripts, styles, forms, event handlers or
foreign URLs schemes); images point at the reader's image view, links between
chapters at the chapter pages. Untrusted XML (the container and the OPF) is
parsed by the standard library's expat, which expands no external entities and
refuses entity-expansion bombs; members are read with a size cap.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import nh3

# Any one member we read; a chapter is text, rarely more than a few hundred KB.
MAX_MEMBER_BYTES = 16 * 1024 * 1024
SKIPPED_TYPES = {"cover", "titlepage", "toc", "landmarks", "copyright-page"}

ALLOWED_TAGS = {
    "a", "abbr", "aside", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del",
    "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
    "section", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "u", "ul", "var",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"id", "lang", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
ID_PREFIX = "c-"  # the chapter's ids never collide with the page's own


class UnreadableEpub(Exception):
    """The file is not an EPUB we can read; the message says why."""


@dataclass(frozen=True)
class EpubChapter:
    number: int
    title: str
    part: str
    href: str  # the document's path inside the zip
    html: str
    digest: str  # of the cleaned HTML and the bytes of the images it shows


def read_chapters(data: bytes) -> list[EpubChapter]:
    """The chapters of an EPUB, in reading order. UnreadableEpub if it is not one."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UnreadableEpub("not a zip file") from exc
    with archive:
        try:
            return _Package(archive).chapters()
        except (KeyError, ElementTree.ParseError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            raise UnreadableEpub(f"damaged EPUB: {exc}") from exc


def _xml(data: bytes) -> ElementTree.Element:
    """Parse a package file. Entity declarations are refused outright (what
    defusedxml does): no entity expansion bomb can start, and expat fetches no
    external entity or DTD anyway."""
    if b"<!ENTITY" in data:
        raise UnreadableEpub("entity declarations are not allowed")
    return ElementTree.fromstring(data)  # noqa: S314 (entities refused above)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _Package:
    def __init__(self, archive: zipfile.ZipFile):
        self.archive = archive
        self.names = set(archive.namelist())
        self.parts: dict[str, str] = {}  # the part each document is in, from the nav

    def read(self, name: str) -> bytes:
        info = self.archive.getinfo(name)
        if info.file_size > MAX_MEMBER_BYTES:
            raise UnreadableEpub(f"{name} is too large")
        with self.archive.open(info) as f:
            return f.read(MAX_MEMBER_BYTES + 1)[:MAX_MEMBER_BYTES]

    def chapters(self) -> list[EpubChapter]:
        container = _xml(self.read("META-INF/container.xml"))
        rootfile = next(
            (e.get("full-path") for e in container.iter() if _local(e.tag) == "rootfile"), None
        )
        if not rootfile:
            raise UnreadableEpub("META-INF/container.xml names no package")
        opf = _xml(self.read(rootfile))
        base = posixpath.dirname(rootfile)
        manifest, nav, ncx = {}, None, None
        for item in opf.iter():
            if _local(item.tag) != "item":
                continue
            path = _join(base, item.get("href", ""))
            manifest[item.get("id")] = (path, item.get("properties", ""))
            if "nav" in item.get("properties", "").split():
                nav = path
            if item.get("media-type") == "application/x-dtbncx+xml":
                ncx = path
        spine = [
            manifest[ref.get("idref")][0]
            for ref in opf.iter()
            if _local(ref.tag) == "itemref"
            and ref.get("idref") in manifest
            and ref.get("linear", "yes") != "no"
        ]
        titles = self._nav_titles(nav) if nav in self.names else {}
        if not titles and ncx in self.names:
            titles = self._ncx_titles(ncx)
        return self._read_spine([p for p in spine if p != nav and p in self.names], titles)

    def _read_spine(self, spine: list[str], titles: dict[str, str]) -> list[EpubChapter]:
        documents = []
        for path in spine:
            text = self.read(path).decode("utf-8-sig")
            outline = _Outline.of(text)
            if outline.types & SKIPPED_TYPES:
                continue
            documents.append((path, text, outline))
        numbers, number = {}, 0
        for path, _, outline in documents:
            if "part" not in outline.types:
                number += 1
                numbers[path] = number
        chapters, part = [], ""
        for path, text, outline in documents:
            title = (titles.get(path) or outline.heading or outline.title or "").strip()
            if "part" in outline.types:
                part = title
                continue
            number = numbers[path]
            if self.parts:
                part = self.parts.get(path, "")
            html, images = _clean(outline.body(text), path, numbers)
            digest = hashlib.sha256(" ".join(html.split()).encode())
            for image in sorted(images):
                if image in self.names:
                    digest.update(hashlib.sha256(self.read(image)).digest())
            chapters.append(
                EpubChapter(
                    number=number,
                    title=(title or f"Chapter {number}")[:300],
                    part=part[:300],
                    href=path[:500],
                    html=html,
                    digest=digest.hexdigest(),
                )
            )
        return chapters

    def _nav_titles(self, nav: str) -> dict[str, str]:
        links = _Links()
        links.feed(self.read(nav).decode("utf-8-sig"))
        base = posixpath.dirname(nav)
        titles = {}
        for href, text, parent in links.found:
            path = _join(base, urlsplit(href).path)
            titles.setdefault(path, text)
            self.parts.setdefault(path, parent)
        return titles

    def _ncx_titles(self, ncx: str) -> dict[str, str]:
        tree = _xml(self.read(ncx))
        base = posixpath.dirname(ncx)
        titles = {}
        for point in tree.iter():
            if _local(point.tag) != "navPoint":
                continue
            label = next((e.text for e in point.iter() if _local(e.tag) == "text"), "") or ""
            content = next((e.get("src") for e in point.iter() if _local(e.tag) == "content"), "")
            if content:
                titles.setdefault(_join(base, urlsplit(content).path), " ".join(label.split()))
        return titles


def _join(base: str, href: str) -> str:
    return posixpath.normpath(posixpath.join(base, unquote(href))).lstrip("/")


class _Outline(HTMLParser):
    """A document's <title>, first heading, epub:type words, and where its body is."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = self.heading = ""
        self.types: set[str] = set()
        self._in: str | None = None
        self._body_start: tuple[int, int] | None = None
        self._body_end: tuple[int, int] | None = None

    @classmethod
    def of(cls, text: str) -> _Outline:
        outline = cls()
        outline.feed(text)
        outline.close()
        return outline

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name in ("epub:type", "role"):
            for word in (values.get(name) or "").split():
                self.types.add(word.removeprefix("doc-"))
        if tag == "body" and self._body_start is None:
            self._body_start = self.getpos()
        if tag == "title" and not self.title:
            self._in = "title"
        elif tag in ("h1", "h2") and not self.heading:
            self._in = "heading"

    def handle_endtag(self, tag):
        if tag == "body":
            self._body_end = self.getpos()
        if tag in ("title", "h1", "h2"):
            self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "heading":
            self.heading += data

    def body(self, text: str) -> str:
        """The inside of <body> (the whole text when it has none)."""
        if self._body_start is None:
            return text
        lines = text.splitlines(keepends=True)

        def offset(pos):
            line, column = pos
            return sum(len(x) for x in lines[: line - 1]) + column

        start = text.index(">", offset(self._body_start)) + 1
        end = offset(self._body_end) if self._body_end else len(text)
        return text[start:end]


class _Links(HTMLParser):
    """The entries of a nav document's contents: (href, text, the entry it is nested in)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str]] = []
        self._href: str | None = None
        self._text = ""
        self._depth = 0
        self._last_at: dict[int, str] = {}
        self._done = False  # only the first <nav> (the contents, not the landmarks)

    def handle_starttag(self, tag, attrs):
        if tag in ("ol", "ul"):
            self._depth += 1
        elif tag == "a" and not self._done:
            self._href, self._text = dict(attrs).get("href") or "", ""

    def handle_data(self, data):
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag in ("ol", "ul"):
            self._depth -= 1
        elif tag == "nav" and self.found:
            self._done = True
        elif tag == "a" and self._href is not None:
            text = " ".join(self._text.split())
            self.found.append((self._href, text, self._last_at.get(self._depth - 1, "")))
            self._last_at[self._depth] = text
            self._href = None


_ABSOLUTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _clean(body: str, path: str, numbers: dict[str, int]) -> tuple[str, set[str]]:
    """The document's body through nh3; (html, paths of the images it shows).

    Chapter pages live at ``read/<n>/`` and images at ``read/files/<path>``, so an
    image becomes ``../files/<its path in the zip>``, a link to another chapter
    ``../<n>/#c-<id>``, a link inside this one ``#c-<id>``; a link to anything else
    in the book is dropped, an outside one kept (http, https, mailto).
    """
    base = posixpath.dirname(path)
    images: set[str] = set()

    def attribute(tag, name, value):
        if name == "id":
            return ID_PREFIX + value
        if tag == "img" and name == "src":
            if _ABSOLUTE.match(value) or value.startswith("//"):
                return None  # no outside images: they would tell a server who reads
            target = _join(base, urlsplit(value).path)
            images.add(target)
            return "../files/" + target
        if tag == "a" and name == "href":
            if _ABSOLUTE.match(value) or value.startswith("//"):
                return (
                    value if value.split(":", 1)[0].lower() in ("http", "https", "mailto") else None
                )
            parts = urlsplit(value)
            fragment = f"#{ID_PREFIX}{parts.fragment}" if parts.fragment else ""
            if not parts.path:
                return fragment or None
            number = numbers.get(_join(base, parts.path))
            return f"../{number}/{fragment}" if number else None
        return value

    html = nh3.clean(
        body,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style", "head", "title"},
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=attribute,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return html.strip(), images
