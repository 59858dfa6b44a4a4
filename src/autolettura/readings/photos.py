"""A photo of the meter sent with a reading, kept as evidence.

Only JPEG, PNG and HEIC (what phones take) up to 5 MB. The type is told from the file's
first bytes, never from its name or the browser's word: a file renamed `.jpg` is still
refused when it is not a picture.
"""

from __future__ import annotations

import uuid
from typing import IO, TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.utils.translation import gettext as _

from autolettura.rules.errors import FieldError, FormatError

if TYPE_CHECKING:
    from autolettura.readings.models import Reading

MAX_BYTES = 5 * 1024 * 1024

# HEIF brands: HEIC stills and sequences, and the generic image brands iPhones also write.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "heic": ".heic"}


def photo_kind(head: bytes) -> str | None:
    """`jpeg`, `png` or `heic` from a file's first bytes; None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


def photo_check(photo: IO[bytes] | Any) -> ContentFile[bytes]:
    """The photo as a file to store with the reading, named by its real type.

    Reads at most MAX_BYTES + 1 bytes. Raises FormatError `photo_too_large` or
    `photo_type_invalid` (field `photo`).
    """
    if hasattr(photo, "seek"):
        photo.seek(0)
    data: bytes = photo.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise FormatError(FieldError("photo", "photo_too_large", {"max_mb": MAX_BYTES // 2**20}))
    kind = photo_kind(data[:32])
    if kind is None:
        raise FormatError(FieldError("photo", "photo_type_invalid"))
    return ContentFile(data, name=f"meter{EXTENSIONS[kind]}")


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
    return _("The photo must be a JPEG, PNG or HEIC picture of the meter.")
