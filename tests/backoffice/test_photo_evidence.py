"""The review queue and the reading's page show the photo sent with a reading, the outline of
where its register was read, the value read and how sure, in plain words."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.backoffice import words
from autolettura.backoffice.roles import COUNTER
from autolettura.readings.models import Reading
from autolettura.readings.services import reading_submit
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, operator
from tests.conftest import make_supply
from tests.photos.images import MeterPhoto, meter_photo
from tests.portal.support import DECEMBER_20

pytestmark = pytest.mark.django_db


@pytest.fixture
def counter(client: Client) -> Client:
    client.force_login(operator(COUNTER), backend=BACKEND)
    return client


def with_photo(typed: str, register: str = "00530") -> Reading:
    supply = make_supply(initial_reading=500)
    return reading_submit(
        channel="APP",
        supply_code=supply.supply_code,
        customer_code=supply.holder.customer_code,
        reading=typed,
        read_on=None,
        photo=SimpleUploadedFile("meter.jpg", meter_photo(MeterPhoto(register=register))),
        now=DECEMBER_20,
    ).reading


@pytest.fixture(autouse=True)
def _read_in_time(settings: SettingsWrapper) -> None:
    settings.AUTOLETTURA_PHOTO_READ_SECONDS = 60


class TestPhotoInTheReviewQueue:
    def test_a_mismatch_shows_both_values_the_outline_and_how_sure(
        self, counter: Client, clock: Clock
    ) -> None:
        reading = with_photo("00580")
        assert reading.reason == "photo_mismatch"

        page = counter.get("/backoffice/revisione/", headers={"Accept-Language": "en"})
        html = page.content.decode()

        assert reading.receipt in html
        assert "the value is not the one the photo shows" in html
        assert "00580 m³" in html
        assert "The photo shows 00530 m³, not the 00580 m³ sent; the reader is almost certain" in (
            html
        )
        # The photo, as an SVG of the photo's own size, with the register's corners on it.
        photo_url = f"/backoffice/letture/{reading.receipt}/foto/"
        assert f'href="{photo_url}"' in html
        points = re.search(r'<polygon class="bo-photo-box" points="([^"]+)"', html)
        assert points is not None
        drawn = [tuple(int(v) for v in p.split(",")) for p in points.group(1).split()]
        assert drawn == [tuple(corner) for corner in reading.photo_box or []]
        assert len(drawn) == 4
        assert counter.get(photo_url).status_code == 200

    def test_the_operator_reads_it_in_italian_by_default(
        self, counter: Client, clock: Clock
    ) -> None:
        with_photo("00580")
        html = counter.get("/backoffice/revisione/").content.decode()
        assert "La foto mostra 00530 m³, non i 00580 m³ comunicati" in html
        assert "quasi certo" in html

    def test_the_reading_s_page_shows_the_photo_that_agrees(
        self, counter: Client, clock: Clock
    ) -> None:
        reading = with_photo("00530")
        html = counter.get(
            f"/backoffice/letture/{reading.receipt}/ricevuta/", headers={"Accept-Language": "en"}
        ).content.decode()

        assert "The photo shows 00530 m³, the value sent; the reader is almost certain" in html
        assert 'class="bo-photo-box"' in html


class TestPhotoSaidInPlainWords:
    def test_a_photo_not_read_yet_says_so(self) -> None:
        reading = Reading(value=530, photo_sha256="a" * 64)
        assert "not been read yet" in words.photo_said(reading)

    def test_a_photo_with_no_register_says_so(self) -> None:
        reading = Reading(value=530, photo_sha256="a" * 64, photo_confidence=0.0)
        assert "No register could be read" in words.photo_said(reading)

    def test_no_photo_says_nothing(self) -> None:
        assert words.photo_said(Reading(value=530)) == ""

    @pytest.mark.parametrize(
        ("confidence", "said"),
        [(0.97, "almost certain (97%)"), (0.7, "fairly sure (70%)"), (0.3, "unsure (30%)")],
    )
    def test_confidence_in_words(self, confidence: float, said: str) -> None:
        assert words.confidence(confidence) == said
