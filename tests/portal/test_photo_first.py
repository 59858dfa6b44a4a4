""" "Comunica la lettura", photo first: the photo is read, its value proposed with the crop
where it was read, and the customer confirms or corrects it, the photo sent once."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.customers.models import Supply
from autolettura.photos import services as photo_services
from autolettura.readings.models import Reading
from tests.api_helpers import Clock
from tests.photos.images import MeterPhoto, meter_photo
from tests.portal.support import DECEMBER_20, customer_with_supply, with_account

pytestmark = pytest.mark.django_db

PAGE = "/area-clienti/comunica-la-lettura/"
PHOTO_00530 = meter_photo(MeterPhoto(register="00530"))


@pytest.fixture(autouse=True)
def _pinned(monkeypatch: pytest.MonkeyPatch, settings: SettingsWrapper, tmp_path: Path) -> None:
    monkeypatch.setattr("autolettura.clock.now", Clock(DECEMBER_20))
    settings.MEDIA_ROOT = tmp_path
    settings.AUTOLETTURA_PHOTO_READ_SECONDS = 60


@pytest.fixture
def mine() -> Supply:
    supply = customer_with_supply()
    supply.meters.update(initial_reading=500)
    return supply


@pytest.fixture
def owner(client: Client, mine: Supply) -> Client:
    client.force_login(with_account(mine), backend=settings.AUTHENTICATION_BACKENDS[1])
    return client


def read_photo(client: Client, supply: Supply, photo: bytes = PHOTO_00530, **extra: str) -> str:
    response = client.post(
        PAGE,
        {
            "supply": supply.supply_code,
            "read_on": "20/12/2026",
            "step": "photo",
            "photo": SimpleUploadedFile("IMG_0042.jpg", photo),
            **extra,
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 200
    return response.content.decode()


def token_of(page: str) -> str:
    found = re.search(r'name="photo_token" value="([0-9a-f]{64})"', page)
    assert found is not None, page
    return found.group(1)


def media_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


class TestPhotoFirst:
    def test_the_page_opens_the_rear_camera_on_a_phone(self, owner: Client) -> None:
        page = owner.get(PAGE).content.decode()
        photo_input = re.search(r'<input type="file" name="photo"[^>]*>', page)
        assert photo_input is not None
        assert 'accept="image/*"' in photo_input.group(0)
        assert 'capture="environment"' in photo_input.group(0)
        # The photo comes before the value: take it first.
        assert page.index('name="photo"') < page.index('name="reading"')

    def test_the_value_read_is_proposed_with_the_crop_where_it_was_read(
        self, owner: Client, mine: Supply
    ) -> None:
        page = read_photo(owner, mine)

        assert "We read 00530 m³ on your photo" in page
        assert re.search(r'name="reading" value="00530"', page)
        token = token_of(page)
        crop = owner.get(f"{PAGE}foto/{token}/")
        assert crop.status_code == 200 and crop["Content-Type"] == "image/jpeg"
        assert "no-store" in crop["Cache-Control"]
        with Image.open(io.BytesIO(crop.content)) as image:
            # The register and a margin, not the whole photo.
            assert image.width < Image.open(io.BytesIO(PHOTO_00530)).width
            assert image.width > image.height
        assert f'src="{PAGE}foto/{token}/"' in page

    def test_confirming_sends_the_photo_kept_without_uploading_or_reading_it_again(
        self,
        owner: Client,
        mine: Supply,
        settings: SettingsWrapper,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        reads: list[bytes] = []
        real = photo_services._optical_read
        monkeypatch.setattr(
            photo_services, "_optical_read", lambda image: reads.append(image) or real(image)
        )
        token = token_of(read_photo(owner, mine))
        assert len(media_files(Path(settings.MEDIA_ROOT))) == 1  # kept once, for the session

        response = owner.post(
            PAGE,
            {
                "supply": mine.supply_code,
                "reading": "00530",
                "read_on": "20/12/2026",
                "photo_token": token,
                "step": "send",
            },
        )

        assert response.status_code == 302
        reading = Reading.objects.get()
        assert (reading.status, reading.value, reading.photo_value) == ("ACCEPTED", 530, 530)
        assert reading.photo_sha256 == token
        with reading.photo.open("rb") as kept:
            assert hashlib.sha256(kept.read()).hexdigest() == token
        assert len(reads) == 1
        # Only the reading's photo is left: the waiting copy went with it.
        assert [p.name for p in media_files(Path(settings.MEDIA_ROOT))] == [
            Path(reading.photo.name).name
        ]
        assert owner.get(f"{PAGE}foto/{token}/").status_code == 404

    def test_a_correction_that_disagrees_with_the_photo_goes_to_review(
        self, owner: Client, mine: Supply
    ) -> None:
        token = token_of(read_photo(owner, mine))
        owner.post(
            PAGE,
            {
                "supply": mine.supply_code,
                "reading": "00580",
                "read_on": "20/12/2026",
                "photo_token": token,
            },
        )
        reading = Reading.objects.get()
        assert (reading.status, reading.reason) == ("UNDER_REVIEW", "photo_mismatch")
        assert (reading.value, reading.photo_value) == (580, 530)
        page = owner.get(f"/area-clienti/letture/{reading.receipt}/").content.decode()
        assert "foto" in page and "00530" in page

    def test_another_customer_s_photo_cannot_be_sent_or_seen(
        self, owner: Client, mine: Supply
    ) -> None:
        token = token_of(read_photo(owner, mine))
        theirs = customer_with_supply(customer_code="2008811", supply_code="400777001")
        other = Client()
        user = with_account(theirs, email="marco@example.org")
        other.force_login(user, backend=settings.AUTHENTICATION_BACKENDS[1])

        assert other.get(f"{PAGE}foto/{token}/").status_code == 404
        response = other.post(
            PAGE,
            {
                "supply": theirs.supply_code,
                "reading": "00530",
                "read_on": "20/12/2026",
                "photo_token": token,
            },
            headers={"Accept-Language": "en"},
        )
        assert response.status_code == 200
        assert "Your photo was not kept: please choose it again." in response.content.decode()
        assert not Reading.objects.exists()

    def test_a_photo_with_no_register_says_how_to_take_a_better_one_and_is_still_sent(
        self, owner: Client, mine: Supply
    ) -> None:
        from tests import pictures

        page = read_photo(owner, mine, pictures.picture(size=(320, 240)))
        assert "We could not read the meter in this photo" in page
        assert "Or type the reading yourself" in page
        token = token_of(page)
        owner.post(
            PAGE,
            {
                "supply": mine.supply_code,
                "reading": "00530",
                "read_on": "20/12/2026",
                "photo_token": token,
            },
        )
        reading = Reading.objects.get()
        assert reading.photo and reading.photo_sha256 == token
        assert reading.photo_value is None

    def test_a_file_that_is_no_photo_is_told_beside_the_field(
        self, owner: Client, mine: Supply
    ) -> None:
        page = read_photo(owner, mine, b"GIF89a" + b"\x00" * 16)
        assert "The photo must be a JPEG, PNG or HEIC picture of the meter." in page
        assert 'name="photo_token"' in page and not re.search(r'name="photo_token" value=', page)

    def test_reading_the_photo_with_nothing_chosen_says_what_is_missing(
        self, owner: Client, mine: Supply
    ) -> None:
        response = owner.post(
            PAGE,
            {"supply": mine.supply_code, "read_on": "20/12/2026", "step": "photo"},
            headers={"Accept-Language": "en"},
        )
        assert "Take or choose a photo of the meter first, or type the reading." in (
            response.content.decode()
        )
        assert not Reading.objects.exists()

    def test_a_photo_not_read_in_time_leaves_the_customer_to_type_it(
        self, owner: Client, mine: Supply, settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_PHOTO_READ_SECONDS = 0.001
        page = read_photo(owner, mine, meter_photo(MeterPhoto(register="00530", seed=11)))
        assert "Reading the photo is taking longer than usual" in page
        assert re.search(r'name="reading"(?! value)', page)
        token_of(page)  # kept all the same, to go with the typed value

    def test_an_error_on_confirming_keeps_the_photo(self, owner: Client, mine: Supply) -> None:
        token = token_of(read_photo(owner, mine))
        response = owner.post(
            PAGE,
            {
                "supply": mine.supply_code,
                "reading": "00530",
                "read_on": "31/02/2026",
                "photo_token": token,
            },
            headers={"Accept-Language": "en"},
        )
        page = response.content.decode()
        assert "Your photo is kept: it will be sent with the reading." in page
        assert token_of(page) == token
        assert not response.context["photo_dropped"]

    def test_typing_the_value_without_a_photo_still_works(
        self, owner: Client, mine: Supply
    ) -> None:
        response = owner.post(
            PAGE, {"supply": mine.supply_code, "reading": "00530", "read_on": "20/12/2026"}
        )
        assert response.status_code == 302
        reading = Reading.objects.get()
        assert not reading.photo and reading.photo_sha256 is None


def test_a_value_typed_before_reading_the_photo_is_kept_and_compared(
    owner: Client, mine: Supply
) -> None:
    page = read_photo(owner, mine, reading="00580")
    assert "We read 00530 m³ on your photo" in page
    assert "The value you typed is not this one" in page
    assert re.search(r'name="reading" value="00580"', page)


def test_photos_read_and_never_sent_are_removed_once_no_session_can_send_them(
    owner: Client, mine: Supply, settings: SettingsWrapper
) -> None:
    import os
    import time

    from django.utils import timezone

    from autolettura.lifecycle.services import retention_run

    token = token_of(read_photo(owner, mine))
    (kept,) = media_files(Path(settings.MEDIA_ROOT))
    assert kept.name == f"{token}.jpg"

    assert retention_run(now=timezone.now()).counts["pending_photos"] == 0
    assert kept.exists()

    past = time.time() - settings.SESSION_COOKIE_AGE - 60
    os.utime(kept, (past, past))
    assert retention_run(now=timezone.now()).counts["pending_photos"] == 1
    assert not kept.exists()


def test_photos_are_limited_per_address_and_only_the_last_few_are_kept(
    owner: Client, mine: Supply, settings: SettingsWrapper
) -> None:
    settings.AUTOLETTURA_THROTTLE_PHOTOS_PER_ADDRESS = 4
    tokens = [
        token_of(read_photo(owner, mine, meter_photo(MeterPhoto(register="00530", seed=s))))
        for s in range(4)
    ]
    # Three kept for the session, the oldest forgotten and its file removed.
    kept = sorted(p.stem for p in media_files(Path(settings.MEDIA_ROOT)))
    assert kept == sorted(tokens[1:])
    assert owner.get(f"{PAGE}foto/{tokens[0]}/").status_code == 404

    response = owner.post(
        PAGE,
        {
            "supply": mine.supply_code,
            "step": "photo",
            "photo": SimpleUploadedFile("IMG_0043.jpg", PHOTO_00530),
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
