"""Fonts for the PDF: DejaVu when the machine has it, else the PDF core fonts.

The package's public API is what ``catalog.ebook`` exports; the names here are for its
own modules.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from fpdf import FPDF

# Debian's fonts-dejavu-core ships the regular and bold files; the obliques come from
# fonts-dejavu-extra, which may be missing, so italic falls back to upright.
DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
_DEJAVU_FILES = {
    ("sans", ""): "DejaVuSans.ttf",
    ("sans", "B"): "DejaVuSans-Bold.ttf",
    ("sans", "I"): "DejaVuSans-Oblique.ttf",
    ("sans", "BI"): "DejaVuSans-BoldOblique.ttf",
    ("mono", ""): "DejaVuSansMono.ttf",
    ("mono", "B"): "DejaVuSansMono-Bold.ttf",
}
_DEJAVU_FAMILIES = {"sans": "DejaVuSans", "mono": "DejaVuSansMono"}
_CORE_FAMILIES = {"sans": "Helvetica", "mono": "Courier"}
_STYLE_FALLBACKS = {"": ("",), "B": ("B", ""), "I": ("I", ""), "BI": ("BI", "B", "I", "")}

# Characters the core fonts' encoding (cp1252) lacks but that have an obvious stand-in.
# Everything else outside cp1252 goes through NFKD (é-like letters lose their accent).
_CORE_FONT_SUBSTITUTES = {
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2015": "-", "\u2212": "-",
    "\u201b": "'", "\u2032": "'", "\u201f": '"', "\u2033": '"',
    "\u2190": "<-", "\u2192": "->", "\u2264": "<=", "\u2265": ">=", "\u2260": "!=",
    "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ",
    "\u200b": "", "\u200d": "", "\ufeff": "",
    # Letters with a stroke are not composed characters, so NFKD leaves them alone.
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ħ": "h", "Ħ": "H", "ı": "i", "ŧ": "t", "Ŧ": "T",
}  # fmt: skip
# Control characters draw nothing, and a text region would take a form feed for a page break.
_PDF_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


class Typefaces:
    """Picks DejaVu when the machine has it, else the PDF core fonts, and cleans text to match.

    TTF files are registered on first use, because parsing each one costs tens of
    milliseconds and most books never use some of the styles.
    """

    def __init__(self, pdf: FPDF, font_dir: Path) -> None:
        self._pdf = pdf
        self._files = {
            key: font_dir / name
            for key, name in _DEJAVU_FILES.items()
            if (font_dir / name).is_file()
        }
        self.unicode = ("sans", "") in self._files and ("mono", "") in self._files
        self._registered: set[tuple[str, str]] = set()
        if not self.unicode:
            # The core fonts are declared WinAnsiEncoding, which has real dashes and quotes.
            pdf.core_fonts_encoding = "cp1252"

    def use(self, face: str, style: str = "", size: float = 10.0) -> None:
        if not self.unicode:
            self._pdf.set_font(_CORE_FAMILIES[face], style, size)
            return
        style = next(s for s in _STYLE_FALLBACKS[style] if (face, s) in self._files)
        if (face, style) not in self._registered:
            self._pdf.add_font(_DEJAVU_FAMILIES[face], style, self._files[face, style])
            self._registered.add((face, style))
        self._pdf.set_font(_DEJAVU_FAMILIES[face], style, size)

    def clean(self, text: str) -> str:
        """``text`` without anything the current fonts cannot draw."""
        text = _PDF_CONTROL_CHARS.sub("", text)
        return text if self.unicode else _to_cp1252(text)


def _to_cp1252(text: str) -> str:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return "".join(_cp1252_char(char) for char in text)
    return text


def _cp1252_char(char: str) -> str:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        if char in _CORE_FONT_SUBSTITUTES:
            return _CORE_FONT_SUBSTITUTES[char]
        ascii_text = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        return ascii_text or "?"
    return char
