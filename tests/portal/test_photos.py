"""A photo of the meter sent with a reading: JPEG, PNG or HEIC by content, at most 5 MB."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.customers.models import Supply
from autolettura.readings.models import Reading
from autolettura.readings.photos import MAX_BYTES, photo_check, photo_kind
from autolettura.readings.services import SubmissionRejected, reading_submit
from autolettura.rules.errors import FormatError
from tests import pictures
from tests.api_helpers import codes
from tests.portal.support import DECEMBER_20

JPEG = pictures.JPEG
PNG = pictures.PNG
HEIC = pictures.HEIC


class TestPhotoKind:
    @pytest.mark.parametrize(
        ("head", "kind"),
        [
            (JPEG, "jpeg"),
            (PNG, "png"),
            (HEIC, "heic"),
            (b"\x00\x00\x00\x18ftypmif1" + b"\x00" * 8, "heic"),
            (b"GIF89a" + b"\x00" * 16, None),
            (b"%PDF-1.7\n", None),
            (b"\x00\x00\x00\x18ftypisom" + b"\x00" * 8, None),  # an MP4 video
            (b"<html>", None),
            (b"", None),
        ],
    )
    def test_tells_the_type_from_the_first_bytes(self, head: bytes, kind: str | None) -> None:
        assert photo_kind(head) == kind


class TestPhotoCheck:
    def test_names_the_file_by_its_real_type_whatever_it_was_called(self) -> None:
        stored = photo_check(SimpleUploadedFile("IMG_0001.txt", PNG, content_type="text/plain"))

        assert stored.name == "meter.png"
        with Image.open(stored) as kept:
            assert (kept.format, kept.size) == ("PNG", (64, 48))

    def test_refuses_a_file_renamed_as_a_picture(self) -> None:
        with pytest.raises(FormatError) as caught:
            photo_check(SimpleUploadedFile("meter.jpg", b"MZ\x90\x00 not a picture"))

        assert [(e.field, e.code) for e in caught.value.errors] == [("photo", "photo_type_invalid")]

    def test_refuses_more_than_5_mb_and_takes_exactly_5(self) -> None:
        # A real picture padded after its end: decoded, and kept as the picture alone.
        at_limit = JPEG + b"\x00" * (MAX_BYTES - len(JPEG))

        assert photo_check(io.BytesIO(at_limit)).name == "meter.jpg"
        with pytest.raises(FormatError) as caught:
            photo_check(io.BytesIO(at_limit + b"\x00"))
        (error,) = caught.value.errors
        assert (error.code, error.params["max_mb"]) == ("photo_too_large", 5)


@pytest.mark.django_db
class TestReadingWithPhoto:
    @pytest.fixture(autouse=True)
    def _media(self, settings: SettingsWrapper, tmp_path: Path) -> None:
        settings.MEDIA_ROOT = tmp_path

    def test_stores_the_photo_with_the_reading_under_a_name_of_its_own(
        self, supply: Supply, tmp_path: Path
    ) -> None:
        submission = reading_submit(
            channel="WEB",
            reading="00012",
            read_on="20/12/2026",
            now=DECEMBER_20,
            photo=SimpleUploadedFile("../../etc/passwd.heic", HEIC),
            **codes(supply),
        )

        photo = submission.reading.photo
        assert photo.name.startswith("readings/photos/2026/12/")
        # Kept as a JPEG, which every browser shows (HEIC is decoded, never stored as sent).
        assert photo.name.endswith(".jpg")
        assert "passwd" not in photo.name
        with Image.open(tmp_path / photo.name) as kept:
            assert (kept.format, kept.size) == ("JPEG", (64, 48))

    def test_a_bad_photo_is_a_format_error_told_with_the_others(self, supply: Supply) -> None:
        with pytest.raises(SubmissionRejected) as caught:
            reading_submit(
                channel="WEB",
                reading="12,5",
                read_on="20/12/2026",
                now=DECEMBER_20,
                photo=SimpleUploadedFile("meter.gif", b"GIF89a" + b"\x00" * 16),
                **codes(supply),
            )

        assert {(e.field, e.code) for e in caught.value.errors} == {
            ("reading", "decimals_not_allowed"),
            ("photo", "photo_type_invalid"),
        }
        assert not Reading.objects.exists()

    def test_a_reading_without_a_photo_has_none(self, supply: Supply) -> None:
        submission = reading_submit(
            channel="APP", reading="12", read_on="20/12/2026", now=DECEMBER_20, **codes(supply)
        )

        assert not submission.reading.photo
        assert Reading.objects.get().photo == ""
