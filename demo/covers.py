"""Plain generated covers for the demo books (Pillow, no font files needed)."""

import hashlib
import io
import textwrap

from PIL import Image, ImageDraw, ImageFont


def cover_png(title: str, author: str, *, width: int = 600, height: int = 800) -> bytes:
    """A two-colour cover with the title and author, its colours derived from the title."""
    digest = hashlib.sha256(title.encode()).digest()
    top = (digest[0] // 2, digest[1] // 2, 90 + digest[2] // 2)
    bottom = (digest[3] // 3, 40 + digest[4] // 3, digest[5] // 3)
    image = Image.new("RGB", (width, height), top)
    draw = ImageDraw.Draw(image)
    for y in range(height // 2, height):
        mix = (y - height // 2) / (height // 2)
        colour = tuple(int(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    title_font = ImageFont.load_default(size=44)
    small_font = ImageFont.load_default(size=28)
    y = 120
    for line in textwrap.wrap(title, width=20):
        draw.text((50, y), line, fill="white", font=title_font)
        y += 58
    draw.text((50, height - 110), author, fill="white", font=small_font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
