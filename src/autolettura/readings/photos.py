"""A photo of the meter (or of a fault) sent with a reading or a report, kept as evidence.

Every path a photo enters by (the portal, the API, the fault API, WhatsApp, e-mail) goes
through `photo_check`. The type is told from the file's content, never from its name or
the declared type; the file is then decoded (Pillow, with pillow-heif for HEIC), its pixels
bounded before decoding (a small PNG can claim 30000 x 30000 pixels: a decompression bomb),
and what is kept is a copy encoded anew: the orientation applied, every other piece of
metadata (GPS position, camera, comments) left out, and nothing of the original bytes, so
a script after a JPEG header is not stored.
"""

from __future__ import annotations

import io
import uuid
import warnings
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

import pillow_heif
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from autolettura.rules.errors import FieldError, FormatError

if TYPE_CHECKING:
    from autolettura.readings.models import Reading

pillow_heif.register_heif_opener()

MAX_BYTES = 5 * 1024 * 1024

# HEIF brands: HEIC stills and sequences, and the generic image brands iPhones also write.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "heic": ".heic"}
READING_KINDS = ("jpeg", "png", "heic")
# The decoder each kind is opened with: nothing else is tried on the bytes.
_DECODERS = {"jpeg": "JPEG", "png": "PNG", "heic": "HEIF", "webp": "WEBP"}


def photo_kind(head: bytes) -> str | None:
    """`jpeg`, `png`, `heic` or `webp` from a file's first bytes; None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heic"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


class CheckedPhoto(ContentFile):  # type: ignore[type-arg,unused-ignore]
    """A photo as `photo_check` keeps it: decoded and encoded anew. Given to
    `reading_submit` as is (not encoded a second time, which would change its bytes and so
    the SHA-256 its reading is kept under). Only ever made of bytes `photo_check` wrote,
    such as the portal's photo waiting for the customer to confirm the value read."""


def photo_check(
    photo: IO[bytes] | Any, *, max_bytes: int = MAX_BYTES, kinds: Iterable[str] = READING_KINDS
) -> CheckedPhoto:
    """The photo to store: decoded and encoded anew (a PNG as PNG, anything else as JPEG),
    upright, without metadata, named by its type.

    Reads at most `max_bytes` + 1 bytes. Raises FormatError (field `photo`):
    `photo_too_large` over `max_bytes`; `photo_type_invalid` for content that is not one of
    `kinds` or does not decode as one; `photo_too_many_pixels` above
    AUTOLETTURA_PHOTO_MAX_MEGAPIXELS.
    """
    if hasattr(photo, "seek"):
        photo.seek(0)
    data: bytes = photo.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FormatError(FieldError("photo", "photo_too_large", {"max_mb": max_bytes // 2**20}))
    kind = photo_kind(data[:32])
    if kind is None or kind not in set(kinds):
        raise FormatError(FieldError("photo", "photo_type_invalid"))
    megapixels = settings.AUTOLETTURA_PHOTO_MAX_MEGAPIXELS
    too_many_pixels = FormatError(
        FieldError("photo", "photo_too_many_pixels", {"megapixels": megapixels})
    )
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb warning (above 89 million pixels) is an error here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_DECODERS[kind]]) as image:
                # Judged on the header's size, before a single pixel is decoded.
                if image.width * image.height > megapixels * 1_000_000:
                    raise too_many_pixels
                image.load()
                upright = ImageOps.exif_transpose(image)
                encoded, extension = _encode(upright, kind)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many_pixels from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        # A header followed by anything but a picture: truncated, corrupt, or a script.
        raise FormatError(FieldError("photo", "photo_type_invalid")) from None
    return CheckedPhoto(encoded, name=f"meter{extension}")


def _encode(image: Image.Image, kind: str) -> tuple[bytes, str]:
    """The picture encoded anew, with no metadata: saving without `exif`, `icc_profile` or
    text chunks writes none. A PNG stays PNG (lossless, maybe transparent); a JPEG, a HEIC
    (which browsers do not show) or a WebP becomes a JPEG."""
    out = io.BytesIO()
    if kind == "png":
        image.save(out, format="PNG")
        return out.getvalue(), ".png"
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(out, format="JPEG", quality=90)
    return out.getvalue(), ".jpg"


def photo_upload_to(instance: Reading, filename: str) -> str:
    """Where a reading's photo is stored under MEDIA_ROOT: by month of submission, under a
    random name, so that no name a customer chose reaches the file system."""
    extension = filename[filename.rfind(".") :] if "." in filename else ""
    if extension not in EXTENSIONS.values():
        extension = ""
    return f"readings/photos/{instance.submitted_at:%Y/%m}/{uuid.uuid4().hex}{extension}"


def photo_error_message(error: FieldError) -> str:
    """What to fix in a photo that cannot be taken, in the customer's language."""
    if error.code == "photo_too_large":
        return _(
            "The photo is larger than %(max_mb)s MB: send a smaller one, or no photo at all."
        ) % {"max_mb": error.params.get("max_mb", MAX_BYTES // 2**20)}
    if error.code == "photo_too_many_pixels":
        return photo_pixels_message(error)
    if error.code == "photo_count":
        return _("Send one photo of the meter at most.")
    return _("The photo must be a JPEG, PNG or HEIC picture of the meter.")


def photo_pixels_message(error: FieldError) -> str:
    return _(
        "The photo has more than %(megapixels)s million pixels: send a smaller one, or no "
        "photo at all."
    ) % {"megapixels": error.params.get("megapixels", settings.AUTOLETTURA_PHOTO_MAX_MEGAPIXELS)}
