"""A reading sent with a photo: the photo is read within the request, weighed against the
typed value, and what it said is kept on the reading (issue 12)."""

from __future__ import annotations

import hashlib
import io
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.customers.models import Supply
from autolettura.photos import services as photo_services
from autolettura.photos.models import PhotoReading
from autolettura.readings.messages import outcome_message
from autolettura.readings.models import Channel, Reading
from autolettura.readings.photos import photo_check
from autolettura.readings.selectors import current_window
from autolettura.readings.services import reading_submit
from tests.conftest import make_supply, rome

from .images import MeterPhoto, meter_photo

NOW = rome(2026, 12, 20, 10, 0)


@pytest.fixture(autouse=True)
def _media(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.AUTOLETTURA_PHOTO_READ_SECONDS = 60


def send(supply: Supply, typed: str, photo: bytes, **kw: Any) -> Reading:
    return reading_submit(
        channel=Channel.APP,
        supply_code=supply.supply_code,
        customer_code=supply.holder.customer_code,
        reading=typed,
        read_on="20/12/2026",
        photo=kw.pop("upload", None) or SimpleUploadedFile("meter.jpg", photo),
        now=NOW,
        **kw,
    ).reading


@pytest.mark.django_db
class TestReadingWithPhoto:
    def test_a_photo_that_agrees_is_kept_with_what_it_said(self) -> None:
        supply = make_supply(initial_reading=500)
        reading = send(supply, "00530", meter_photo(MeterPhoto(register="00530")))

        assert (reading.status, reading.reason, reading.value) == ("ACCEPTED", None, 530)
        assert reading.photo_value == 530
        assert reading.photo_confidence is not None and reading.photo_confidence >= 0.9
        assert len(reading.photo_box or []) == 4
        with reading.photo.open("rb") as kept:
            assert reading.photo_sha256 == hashlib.sha256(kept.read()).hexdigest()

    def test_a_photo_of_another_value_sends_the_reading_for_review_keeping_both(self) -> None:
        supply = make_supply(initial_reading=500)
        reading = send(supply, "00580", meter_photo(MeterPhoto(register="00530")))

        assert (reading.status, reading.reason) == ("UNDER_REVIEW", "photo_mismatch")
        assert (reading.value, reading.photo_value) == (580, 530)
        with translation.override("en"):
            told = outcome_message(reading, current_window(NOW, supply))
        assert "00580" in told and "00530" in told and "photo" in told

    def test_a_mismatch_is_reviewed_even_where_the_typed_value_would_be_discarded(self) -> None:
        # Lower than the last reading on the typed value; the photo shows a higher one.
        supply = make_supply(initial_reading=500)
        reading = send(supply, "00450", meter_photo(MeterPhoto(register="00530")))

        assert (reading.status, reading.reason) == ("UNDER_REVIEW", "photo_mismatch")

    def test_a_photo_that_shows_an_implausible_value_makes_it_reviewable(self) -> None:
        # Ten days since the meter was fitted: 3717 m³ is more than it can pass.
        supply = make_supply(initial_reading=500, installed_on=date(2026, 12, 10))
        reading = send(supply, "04217", meter_photo(MeterPhoto(register="04217")))

        assert (reading.status, reading.reason) == ("UNDER_REVIEW", "implausible")
        assert reading.photo_value == 4217
        with translation.override("en"):
            told = outcome_message(reading, current_window(NOW, supply))
        assert "photo" in told and "3717" in told

    def test_the_same_value_without_a_photo_is_still_discarded_as_implausible(self) -> None:
        supply = make_supply(initial_reading=500, installed_on=date(2026, 12, 10))
        reading = reading_submit(
            channel=Channel.APP,
            supply_code=supply.supply_code,
            customer_code=supply.holder.customer_code,
            reading="04217",
            read_on="20/12/2026",
            now=NOW,
        ).reading
        assert (reading.status, reading.reason) == ("DISCARDED", "implausible")
        assert reading.photo_sha256 is None and reading.photo_value is None

    def test_a_photo_with_no_register_changes_nothing_and_is_kept(self) -> None:
        from tests import pictures

        supply = make_supply(initial_reading=500)
        reading = send(supply, "00580", pictures.picture(size=(320, 240)))

        assert (reading.status, reading.reason) == ("ACCEPTED", None)
        assert reading.photo_value is None and reading.photo_confidence == 0.0
        assert reading.photo and reading.photo_sha256

    def test_a_photo_is_read_once_however_often_it_is_sent(
        self, optical_reads: list[bytes]
    ) -> None:
        supply = make_supply(initial_reading=500)
        photo = meter_photo(MeterPhoto(register="00530"))
        send(supply, "00530", photo)
        other = make_supply(initial_reading=500)
        send(other, "00530", photo)

        assert len(optical_reads) == 1
        assert PhotoReading.objects.count() == 1

    def test_a_photo_already_checked_is_kept_as_is_and_found_read(
        self, optical_reads: list[bytes]
    ) -> None:
        supply = make_supply(initial_reading=500)
        checked = photo_check(io.BytesIO(meter_photo(MeterPhoto(register="00530"))))
        image = checked.read()
        photo_services.photo_read(image=image, meter_digits=5, now=NOW)

        reading = send(supply, "00530", b"", upload=checked)

        assert reading.photo_sha256 == hashlib.sha256(image).hexdigest()
        with reading.photo.open("rb") as kept:
            assert kept.read() == image
        assert len(optical_reads) == 1


@pytest.mark.django_db
class TestReadingBoundedInTime:
    def test_a_photo_not_read_in_time_leaves_the_reading_to_the_typed_value(
        self, settings: SettingsWrapper, optical_reads: list[bytes]
    ) -> None:
        settings.AUTOLETTURA_PHOTO_READ_SECONDS = 0.001
        supply = make_supply(initial_reading=500)
        photo = meter_photo(MeterPhoto(register="00530", seed=7))
        reading = send(supply, "00580", photo)

        # Taken on the typed value; the photo kept, its reading still to come.
        assert (reading.status, reading.reason, reading.value) == ("ACCEPTED", None, 580)
        assert reading.photo and reading.photo_sha256
        assert reading.photo_value is None and reading.photo_confidence is None

        # The read went on in the background: the same photo later is found read, not
        # read again.
        with reading.photo.open("rb") as kept:
            image = kept.read()
        deadline = time.monotonic() + 60
        while not photo_services._PENDING[reading.photo_sha256].done():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        read = photo_services.photo_read(image=image, meter_digits=5, now=NOW, within=0.001)
        assert read.reading == "00530"
        assert len(optical_reads) == 1


@pytest.mark.django_db
def test_a_photo_not_read_in_time_is_read_later_keeping_the_outcome(
    settings: SettingsWrapper,
) -> None:
    from autolettura.readings.services import reading_photos_read_late
    from autolettura.readings.tasks import reading_photos_read_late_task

    settings.AUTOLETTURA_PHOTO_READ_SECONDS = 0.001
    supply = make_supply(initial_reading=500)
    reading = send(supply, "00580", meter_photo(MeterPhoto(register="00530", seed=21)))
    assert reading.photo_confidence is None

    assert reading_photos_read_late_task.delay().get() == 1  # eager: no broker in the tests
    reading.refresh_from_db()
    assert (reading.photo_value, len(reading.photo_box or [])) == (530, 4)
    assert reading.photo_confidence is not None and reading.photo_confidence >= 0.9
    # Told to the customer on the typed value: the outcome stands.
    assert (reading.status, reading.reason) == ("ACCEPTED", None)
    assert reading_photos_read_late(now=NOW) == 0
    assert "photos-read-late" in settings.CELERY_BEAT_SCHEDULE


@pytest.mark.django_db
def test_a_reader_that_fails_never_costs_the_customer_their_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(image: bytes) -> dict[str, Any]:
        raise RuntimeError("model file missing")

    monkeypatch.setattr(photo_services, "_optical_read", broken)
    supply = make_supply(initial_reading=500)
    reading = send(supply, "00530", meter_photo(MeterPhoto(register="00530", seed=5)))

    assert (reading.status, reading.value) == ("ACCEPTED", 530)
    assert reading.photo and reading.photo_sha256 and reading.photo_confidence is None


@pytest.mark.django_db
def test_a_failed_read_is_tried_afresh_next_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = photo_services._optical_read

    def once_broken(image: bytes) -> dict[str, Any]:
        calls.append(image)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return real(image)

    monkeypatch.setattr(photo_services, "_optical_read", once_broken)
    image = meter_photo(MeterPhoto(register="00530", seed=6))
    with pytest.raises(RuntimeError):
        photo_services.photo_read(image=image, meter_digits=5, now=NOW, within=60)

    read = photo_services.photo_read(image=image, meter_digits=5, now=NOW, within=60)
    assert read.reading == "00530" and len(calls) == 2
