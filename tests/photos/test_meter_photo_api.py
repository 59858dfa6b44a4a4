"""POST /api/v1/meter-photo: the register read from a photo, with the meter known by its codes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from PIL import Image

from autolettura.customers.models import Supply
from tests.api_helpers import Clock, bearer, codes, token_for
from tests.conftest import make_supply, rome

from .images import MeterPhoto, meter_photo

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

NOW = rome(2026, 12, 16, 10, 0)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(NOW)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture
def supply(db: None) -> Supply:
    return make_supply(initial_reading=480)


def send(
    api: Client,
    image: bytes,
    *,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    address: str = "127.0.0.1",
    name: str = "meter.jpg",
) -> Response:
    return api.post(
        "/api/v1/meter-photo",
        {"photo": SimpleUploadedFile(name, image, content_type="image/jpeg"), **(fields or {})},
        headers=headers or {},
        REMOTE_ADDR=address,
    )


def blank_photo() -> bytes:
    """A real JPEG of a grey wall: a photo, but no meter in it."""
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (128, 128, 128)).save(out, format="JPEG")
    return out.getvalue()


@pytest.mark.django_db
class TestMeterPhoto:
    def test_reads_a_rendered_register_with_the_codes(self, api: Client, supply: Supply) -> None:
        response = send(api, meter_photo(MeterPhoto(register="00530")), fields=codes(supply))

        assert response.status_code == 200, response.content
        body = response.json()
        assert body["reading"] == "00530"
        assert 0 < body["confidence"] <= 1
        x, y, w, h = body["box"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert isinstance(body["alternatives"], list)

    def test_reads_with_a_token_for_the_only_supply(self, api: Client, supply: Supply) -> None:
        token = token_for(api, supply)
        response = send(api, meter_photo(MeterPhoto(register="00530")), headers=bearer(token))

        assert response.status_code == 200, response.content
        assert response.json()["reading"] == "00530"

    def test_reads_without_codes(self, api: Client, db: None) -> None:
        response = send(api, meter_photo(MeterPhoto(register="04217")))

        assert response.status_code == 200, response.content
        assert response.json()["reading"] == "04217"

    @pytest.mark.parametrize(("language", "words"), [("it", "flash"), ("en", "without the flash")])
    def test_a_photo_without_a_register_says_how_to_take_a_better_one(
        self, api: Client, supply: Supply, language: str, words: str
    ) -> None:
        response = send(
            api, blank_photo(), fields=codes(supply), headers={"Accept-Language": language}
        )

        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert (error["field"], error["code"]) == ("photo", "photo_unreadable")
        assert words in error["message"]
        if language == "it":
            assert "vicino" in error["message"]

    def test_a_file_that_is_not_a_photo_gets_the_photo_error(
        self, api: Client, supply: Supply
    ) -> None:
        response = send(api, b"%PDF-1.4 not a picture", fields=codes(supply), name="meter.jpg")

        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert (error["field"], error["code"]) == ("photo", "photo_type_invalid")
        assert "JPEG" in error["message"]

    def test_wrong_codes_are_refused(self, api: Client, supply: Supply) -> None:
        response = send(
            api,
            meter_photo(MeterPhoto(register="00530")),
            fields={"supply_code": supply.supply_code, "customer_code": "U999999"},
        )

        assert response.status_code == 422
        assert [e["code"] for e in response.json()["errors"]] == ["codes_mismatch"]

    def test_a_supply_code_alone_is_asked_its_customer_code(
        self, api: Client, supply: Supply
    ) -> None:
        response = send(api, meter_photo(MeterPhoto()), fields={"supply_code": supply.supply_code})

        assert response.status_code == 422
        assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
            ("customer_code", "required")
        ]

    @override_settings(AUTOLETTURA_FAILURES_PER_SOURCE=100, AUTOLETTURA_FAILURES_PER_TARGET=2)
    def test_wrong_codes_count_per_supply_code_as_on_every_channel(
        self, api: Client, supply: Supply
    ) -> None:
        image = blank_photo()
        wrong = [
            send(
                api,
                image,
                fields={"supply_code": supply.supply_code, "customer_code": f"U{n}"},
                address=f"198.51.100.{n}",
            ).status_code
            for n in range(2)
        ]
        # The right codes, from an address that failed on this supply: stopped all the same.
        again = send(api, image, fields=codes(supply), address="198.51.100.0")
        # An address that never failed is not stopped by the others' failures.
        elsewhere = send(api, image, fields=codes(supply), address="203.0.113.9")

        assert wrong == [422, 422]
        assert again.status_code == 429
        assert int(again["Retry-After"]) > 0
        assert elsewhere.status_code == 422  # read, and no register in a grey wall

    @override_settings(AUTOLETTURA_THROTTLE_PHOTOS_PER_ADDRESS=2)
    def test_photos_are_limited_per_client_address(self, api: Client, db: None) -> None:
        image = blank_photo()
        answers = [send(api, image).status_code for _ in range(3)]
        other = send(api, image, address="203.0.113.9")

        assert answers == [422, 422, 429]
        assert other.status_code == 422
