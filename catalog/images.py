"""Uploaded pictures (covers, author photos): checked by content, then re-encoded.

Covers and photos are public files served from MEDIA_URL, so nothing of the
uploaded file is kept but its pixels: the image is decoded (first frame only),
turned upright by its EXIF orientation, shrunk to ``IMAGE_MAX_SIDE`` and written
fresh as PNG, JPEG or WebP under a name of our own. Metadata (EXIF, GPS, ICC,
text chunks) and anything appended to the file are dropped. A file that only
pretends to be an image (HTML, SVG, a renamed script), a picture that also
carries web-page markup (a polyglot), or one whose pixel count could exhaust
memory is refused with a form error.
"""

import io
import re
import warnings

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from PIL import Image, ImageOps

from .validators import check_size

# Pillow may try only these decoders on uploads (never EPS/PostScript, PDF, SVG...).
ACCEPTED = ("JPEG", "PNG", "WEBP", "GIF")
# What each accepted format is stored as: GIF becomes PNG (one still frame).
STORED_AS = {"JPEG": ("JPEG", "jpg"), "PNG": ("PNG", "png"), "WEBP": ("WEBP", "webp")}
STORED_AS["GIF"] = STORED_AS["PNG"]
# Markup that makes a file something a browser could run as a page if it ever sniffed it
# (a polyglot). Long enough that compressed pixels match by chance about never; XMP
# metadata ("<?xpacket", "<x:xmpmeta") does not match.
MARKUP = re.compile(rb"<(?:html|script|svg[\s>/]|body|iframe|object|embed|!doctype)", re.I)


def _refuse(what: str, detail: str = "") -> ValidationError:
    return ValidationError(
        f"Upload a valid image for the {what}: JPEG, PNG, GIF or WebP.{detail and ' ' + detail}"
    )


def clean_image(upload, *, what: str = "image", limit: int | None = None) -> ContentFile:
    """The upload re-encoded as a fresh image file named ``<what>.<ext>``, or ValidationError."""
    check_size(upload, limit or settings.MAX_IMAGE_BYTES, what)
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    if MARKUP.search(data):
        raise _refuse(what, "This file also contains web page code.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED) as image:
                kind = image.format
                pixels = image.width * image.height
                if pixels > settings.MAX_IMAGE_PIXELS:
                    raise ValidationError(
                        f"The {what} is too large in pixels ({image.width}×{image.height}); "
                        f"the limit is {settings.MAX_IMAGE_PIXELS // 1_000_000} megapixels."
                    )
                image.seek(0)  # an animation keeps its first frame
                image.load()
                picture = _plain_pixels(ImageOps.exif_transpose(image), keep_alpha=kind != "JPEG")
    except ValidationError:
        raise
    except Exception as exc:  # Pillow raises many types for broken or hostile input
        raise _refuse(what) from exc
    picture.thumbnail((settings.IMAGE_MAX_SIDE, settings.IMAGE_MAX_SIDE))
    stored_format, extension = STORED_AS[kind]
    out = io.BytesIO()
    options = {"quality": 88} if stored_format in ("JPEG", "WEBP") else {"optimize": True}
    picture.save(out, format=stored_format, **options)
    return ContentFile(out.getvalue(), name=f"{what}.{extension}")


def _plain_pixels(image: Image.Image, *, keep_alpha: bool) -> Image.Image:
    """Only the pixels, as RGB or RGBA, in a new image that carries no metadata."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    mode = "RGBA" if keep_alpha and has_alpha else "RGB"
    converted = image.convert(mode)
    fresh = Image.new(mode, converted.size)
    fresh.paste(converted)
    return fresh
