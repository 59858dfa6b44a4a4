"""POST /api/v1/readings with a photo: a multipart form of the same fields, the photo read
and weighed against the reading; JSON keeps working (tests/test_api.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.customers.models import Supply
from autolettura.readings.models import Reading
from tests.api_helpers import Clock, codes
from tests.conftest import make_supply, rome

from .images import MeterPhoto, meter_photo

NOW = rome(2026, 12, 20, 10, 0)
PHOTO_00530 = meter_photo(MeterPhoto(register="00530"))


@pytest.fixture(autouse=True)
def _pinned(monkeypatch: pytest.MonkeyPatch, settings: SettingsWrapper, tmp_path: Path) -> None:
    monkeypatch.setattr("autolettura.clock.now", Clock(NOW))
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.AUTOLETTURA_PHOTO_READ_SECONDS = 60


@pytest.fixture
def supply(db: None) -> Supply:
    return make_supply(initial_reading=500)


def post_form(client: Client, fields: dict[str, Any], **headers: str) -> Any:
    return client.post("/api/v1/readings", fields, headers=headers)  # multipart by default


def jpeg(data: bytes = PHOTO_00530, name: str = "meter.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


@pytest.mark.django_db
class TestReadingWithPhotoOverTheApi:
    def test_a_photo_that_agrees_is_read_and_kept(self, client: Client, supply: Supply) -> None:
        response = post_form(
            client, {**codes(supply), "reading": "00530", "read_on": "20/12/2026", "photo": jpeg()}
        )

        assert response.status_code == 201, response.content
        assert (response.json()["status"], response.json()["reason"]) == ("accepted", None)
        reading = Reading.objects.get()
        assert reading.photo and reading.photo_value == 530
        assert reading.channel == "APP"

    def test_a_photo_of_another_value_is_answered_under_review_in_the_client_s_language(
        self, client: Client, supply: Supply
    ) -> None:
        response = post_form(
            client,
            {**codes(supply), "reading": "00580", "read_on": "20/12/2026", "photo": jpeg()},
            **{"Accept-Language": "en"},
        )

        assert response.status_code == 201
        body = response.json()
        assert (body["status"], body["reason"], body["reading"]) == (
            "under_review",
            "photo_mismatch",
            "00580",
        )
        assert "00530" in body["message"] and "photo" in body["message"]
        italian = post_form(
            client,
            {**codes(supply), "reading": "00580", "read_on": "20/12/2026", "photo": jpeg()},
        )
        assert italian.status_code == 200  # the same reading again (R4)
        assert "foto" in italian.json()["message"]

    def test_a_form_without_a_photo_is_a_reading_like_json(
        self, client: Client, supply: Supply
    ) -> None:
        response = post_form(client, {**codes(supply), "reading": "00530", "read_on": "20/12/2026"})

        assert response.status_code == 201
        reading = Reading.objects.get()
        assert not reading.photo and reading.photo_sha256 is None

    def test_a_file_that_is_no_photo_is_refused_saying_what_to_send(
        self, client: Client, supply: Supply
    ) -> None:
        response = post_form(
            client,
            {
                **codes(supply),
                "reading": "00530",
                "photo": jpeg(b"MZ\x90\x00 not a picture", "meter.jpg"),
            },
            **{"Accept-Language": "en"},
        )

        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert (error["field"], error["code"]) == ("photo", "photo_type_invalid")
        assert "JPEG, PNG or HEIC" in error["message"]
        assert not Reading.objects.exists()

    def test_two_photos_are_refused(self, client: Client, supply: Supply) -> None:
        response = post_form(
            client, {**codes(supply), "reading": "00530", "photo": [jpeg(), jpeg()]}
        )

        assert response.status_code == 422
        assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
            ("photo", "photo_count")
        ]

    def test_a_form_of_the_wrong_shape_names_every_field(
        self, client: Client, supply: Supply
    ) -> None:
        response = post_form(client, {**codes(supply), "reading": "1", "channel": "fax"})

        assert response.status_code == 422
        assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
            ("channel", "channel_invalid")
        ]

    def test_photos_are_limited_per_address(
        self, client: Client, supply: Supply, settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_THROTTLE_PHOTOS_PER_ADDRESS = 1
        fields = {**codes(supply), "reading": "00530", "read_on": "20/12/2026"}
        assert post_form(client, {**fields, "photo": jpeg()}).status_code == 201
        response = post_form(client, {**fields, "photo": jpeg()})

        assert response.status_code == 429
        # Without a photo the address may still send its readings.
        assert post_form(client, fields).status_code == 200

    def test_a_json_body_that_is_not_an_object_is_refused(
        self, client: Client, supply: Supply
    ) -> None:
        response = client.post("/api/v1/readings", [1, 2], content_type="application/json")

        assert response.status_code == 422
        assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
            ("body", "body_invalid")
        ]


@pytest.mark.django_db
def test_the_openapi_document_offers_the_photo_as_a_multipart_form(client: Client) -> None:
    document = client.get("/api/v1/openapi.json").json()
    body = document["paths"]["/api/v1/readings"]["post"]["requestBody"]["content"]

    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/ReadingIn"}
    form = body["multipart/form-data"]["schema"]
    assert form == {"$ref": "#/components/schemas/ReadingForm"}
    fields = document["components"]["schemas"]["ReadingForm"]["properties"]
    assert fields["photo"] == {**fields["photo"], "type": "string", "format": "binary"}
    assert {"supply_code", "customer_code", "reading", "read_on", "channel"} <= set(fields)
    assert set(document["components"]["schemas"]["ReadingIn"]["properties"]) == {
        "supply_code",
        "customer_code",
        "reading",
        "read_on",
        "channel",
    }
