"""The photo reading service: a photo is read once, and the supply's history chooses."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pytest
from django.test import override_settings

from autolettura.photos.models import PhotoReading
from autolettura.photos.selectors import register_history
from autolettura.photos.services import ENGINE, photo_read
from tests.conftest import make_supply, rome

from .images import MeterPhoto, black_wheels_span, meter_photo

NOW = rome(2026, 12, 16, 10, 0)


def still(digit: int) -> dict[str, Any]:
    return {"p": [1.0 if d == digit else 0.0 for d in range(10)], "between": None, "red": False}


def stored(image: bytes, wheels: list[dict[str, Any]]) -> PhotoReading:
    """What the reader would have kept for `image`, stored as the service stores it."""
    return PhotoReading.objects.create(
        sha256=hashlib.sha256(image).hexdigest(),
        wheels=wheels,
        box=[[10, 10], [90, 10], [90, 30], [10, 30]],
        engine=ENGINE,
        duration_ms=1,
        read_at=NOW,
    )


@pytest.mark.django_db
class TestPhotoRead:
    def test_reads_a_photo_once_and_answers_the_same_from_then_on(
        self, optical_reads: list[bytes]
    ) -> None:
        image = meter_photo(MeterPhoto(register="04217"))
        first = photo_read(image=image, meter_digits=5, now=NOW)
        again = photo_read(image=image, meter_digits=5, now=NOW)
        assert first.reading == "04217"
        assert first.actionable
        assert again == first
        assert len(optical_reads) == 1
        assert PhotoReading.objects.count() == 1
        row = PhotoReading.objects.get()
        assert row.sha256 == hashlib.sha256(image).hexdigest()

    def test_gives_the_register_s_box_in_the_photo_s_own_pixels(self) -> None:
        # Wider than the reader works at: it shrinks its copy, the box must not shrink.
        spec = MeterPhoto(register="04217", width=2400)
        image = meter_photo(spec)
        result = photo_read(image=image, meter_digits=5, now=NOW)
        assert result.reading == "04217"
        xs = [x for x, _y in result.box]
        left, right = black_wheels_span(spec)
        digit_width = right - left
        digit_width /= len(spec.register)
        assert abs(min(xs) - left) < 0.5 * digit_width
        assert abs(max(xs) - right) < 0.5 * digit_width

    def test_a_photo_read_by_an_older_reader_is_read_again(
        self, optical_reads: list[bytes]
    ) -> None:
        image = meter_photo(MeterPhoto(register="04217"))
        PhotoReading.objects.create(
            sha256=hashlib.sha256(image).hexdigest(),
            wheels=[],
            box=[],
            engine="older",
            duration_ms=1,
            read_at=NOW,
        )
        assert photo_read(image=image, meter_digits=5, now=NOW).reading == "04217"
        assert len(optical_reads) == 1
        assert PhotoReading.objects.get().engine == ENGINE

    def test_bytes_that_are_no_image_give_no_reading_and_are_remembered(
        self, optical_reads: list[bytes]
    ) -> None:
        for _ in range(2):
            result = photo_read(image=b"GIF89a not really", meter_digits=5, now=NOW)
            assert result.reading is None
            assert result.box == ()
            assert not result.actionable
        assert len(optical_reads) == 1
        assert PhotoReading.objects.get().decoded is False

    def test_the_supply_s_history_reads_a_turning_wheel_as_its_upper_digit(
        self, optical_reads: list[bytes]
    ) -> None:
        image = b"\xff\xd8\xff a photo already read"
        turning = {"p": still(0)["p"], "between": [0, 1], "red": False}
        stored(image, [still(0), still(0), still(5), still(3), turning])
        supply = make_supply(installed_on=date(2026, 6, 1), initial_reading=531)
        history = register_history(supply=supply, read_on=date(2026, 12, 16))
        assert history is not None
        assert history.last.value == 531

        with_history = photo_read(image=image, meter_digits=5, history=history, now=NOW)
        without = photo_read(image=image, meter_digits=5, now=NOW)

        assert with_history.reading == "00531"
        assert with_history.plausible is True
        assert without.reading == "00530"
        assert "00531" in without.alternatives
        assert optical_reads == []

    @override_settings(AUTOLETTURA_PHOTO_CONFIDENCE=0.95)
    def test_a_reading_below_the_configured_confidence_is_not_actionable(self) -> None:
        image = b"\xff\xd8\xff another photo already read"
        wheels = [still(0), still(0), still(5), still(3)]
        unsure = {"p": [0.92 if d == 0 else 0.08 if d == 1 else 0.0 for d in range(10)]}
        stored(image, [*wheels, {**unsure, "between": None, "red": False}])
        result = photo_read(image=image, meter_digits=5, now=NOW)
        assert result.reading == "00530"
        assert result.confidence == pytest.approx(0.92)
        assert not result.actionable
