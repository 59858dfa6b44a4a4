"""Real pictures, made with Pillow, for the tests that send photos: the product decodes
every photo it keeps, so a header followed by zeros is no longer one."""

from __future__ import annotations

import io
from typing import Any

import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()

# Pillow's format names, by the name the product gives each kind.
_FORMATS = {"jpeg": "JPEG", "png": "PNG", "heic": "HEIF", "webp": "WEBP"}


def picture(kind: str = "jpeg", *, size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    """A small picture of a grey meter dial in `kind` (jpeg, png, heic or webp)."""
    image = Image.new("RGB", size, (120, 120, 120))
    for x in range(size[0] // 4, size[0] * 3 // 4):
        image.putpixel((x, size[1] // 2), (10, 10, 10))
    out = io.BytesIO()
    image.save(out, format=_FORMATS[kind], **save)
    return out.getvalue()


JPEG = picture("jpeg")
PNG = picture("png")
HEIC = picture("heic")


def describe(data: bytes) -> tuple[str | None, tuple[int, int]]:
    """A picture's format and size, as decoded: what a photo kept anew must keep."""
    with Image.open(io.BytesIO(data)) as image:
        return image.format, image.size
