"""Upload limits and type checks, on every path where a photo enters the product.

- the portal's "Comunica la lettura" (multipart), 5 MB: over it, or not a picture, the form
  comes back with everything typed and the photo's error naming the limit; nothing is stored
  (sent again without the photo, the reading is taken);
- the API's `POST /api/v1/readings` takes JSON only: a multipart body is refused, nothing stored;
- the API's `POST /api/v1/faults/{ticket}/photo`, AUTOLETTURA_FAULT_PHOTO_MAX_MB: 422 naming
  the limit, or the type; the report stays, and a smaller photo can follow;
- a WhatsApp image (Graph API media, read no further than 5 MB) and an e-mail attachment:
  the reading is taken all the same, and the reply says why the photo was not kept;
- any request above AUTOLETTURA_REQUEST_MAX_MB by its Content-Length: 413 naming the limit,
  answered before the body is read (also under gunicorn, while the client is still sending).

"Not a picture" is told from the content, never from the name or the declared type: a PDF,
an HTML page and an SVG drawing (which can carry scripts) renamed as photos are refused.
"""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from imap_tools.message import MailMessage
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.channels.email import email_receive
from autolettura.customers.models import Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.readings.models import Reading
from autolettura.readings.photos import MAX_BYTES, photo_error_message
from autolettura.rules.errors import FieldError
from autolettura.service.models import FaultReport
from tests import pictures
from tests.api_helpers import codes
from tests.channels.fakes import FakeGraphApi, whatsapp_image, whatsapp_signature
from tests.channels.test_email import make_mail
from tests.conftest import make_supply
from tests.ops.support import Gunicorn, production_env
from tests.portal.support import DECEMBER_20, customer_with_supply, with_account

MB = 1024 * 1024
JPEG = pictures.JPEG
OVERSIZED_JPEG = JPEG + b"\x00" * (MAX_BYTES + 1 - len(JPEG))

# Files that are not pictures, under a picture's name and declared type.
NOT_PICTURES = {
    "pdf": ("meter.jpg", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n", "image/jpeg"),
    "html": (
        "meter.png",
        b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
        "image/png",
    ),
    "svg": (
        "meter.jpg",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
        b"<rect width='10' height='10'/></svg>",
        "image/jpeg",
    ),
}


def upload(kind: str) -> SimpleUploadedFile:
    name, content, content_type = NOT_PICTURES[kind]
    return SimpleUploadedFile(name, content, content_type=content_type)


def italian(error: FieldError) -> str:
    with translation.override("it"):
        return photo_error_message(error)


TOO_LARGE = FieldError("photo", "photo_too_large", {"max_mb": 5})
NOT_A_PICTURE = FieldError("photo", "photo_type_invalid")


# --- The portal ------------------------------------------------------------------------------


@pytest.fixture
def mine(db: None) -> Supply:
    return customer_with_supply()


@pytest.fixture
def owner(client: Client, mine: Supply) -> Client:
    client.force_login(with_account(mine), backend=settings.AUTHENTICATION_BACKENDS[1])
    return client


def send_reading(owner: Client, mine: Supply, **photo: Any) -> Any:
    return owner.post(
        "/area-clienti/comunica-la-lettura/",
        {"supply": mine.supply_code, "reading": "00042", "read_on": "20/12/2026", **photo},
    )


class TestPortal:
    def assert_form_kept_and_nothing_stored(self, response: Any, mine: Supply) -> None:
        assert response.status_code == 200
        form = response.context["form"]
        assert set(form.errors) == {"photo"}
        assert (form["supply"].value(), form["reading"].value(), form["read_on"].value()) == (
            mine.supply_code,
            "00042",
            "20/12/2026",
        )
        # Browsers drop a chosen file when the page comes back: the customer is told.
        assert response.context["photo_dropped"]
        assert not Reading.objects.exists()

    def test_a_photo_over_5_mb_is_refused_naming_the_limit_and_the_form_kept(
        self, owner: Client, mine: Supply
    ) -> None:
        response = send_reading(owner, mine, photo=SimpleUploadedFile("m.jpg", OVERSIZED_JPEG))

        self.assert_form_kept_and_nothing_stored(response, mine)
        assert response.context["form"].errors["photo"] == [italian(TOO_LARGE)]
        assert "5 MB" in italian(TOO_LARGE)
        assert italian(TOO_LARGE) in response.content.decode()
        # Sent again as it was kept, without the photo, the reading is taken.
        again = send_reading(owner, mine)
        assert again.status_code == 302
        assert Reading.objects.get().value == 42

    def test_a_photo_of_exactly_5_mb_is_taken(self, owner: Client, mine: Supply) -> None:
        at_limit = OVERSIZED_JPEG[:MAX_BYTES]

        response = send_reading(owner, mine, photo=SimpleUploadedFile("m.jpg", at_limit))

        assert response.status_code == 302
        with Reading.objects.get().photo.open("rb") as kept:
            # The picture, encoded anew: not the padding that followed it.
            assert pictures.describe(kept.read()) == pictures.describe(JPEG)

    @pytest.mark.parametrize("kind", sorted(NOT_PICTURES))
    def test_a_file_that_is_not_a_picture_is_refused(
        self, owner: Client, mine: Supply, kind: str
    ) -> None:
        response = send_reading(owner, mine, photo=upload(kind))

        self.assert_form_kept_and_nothing_stored(response, mine)
        assert response.context["form"].errors["photo"] == [italian(NOT_A_PICTURE)]


# --- The JSON API ----------------------------------------------------------------------------


@pytest.mark.django_db
class TestReadingsApi:
    def test_a_photo_that_is_an_svg_is_refused_by_its_content(self, client: Client) -> None:
        # A form may carry a photo of the meter (tests/photos/test_readings_api_photo.py):
        # a script dressed as a picture is not one.
        supply = make_supply()

        response = client.post(
            "/api/v1/readings",
            {**codes(supply), "reading": "42", "read_on": "20/12/2026", "photo": upload("svg")},
        )

        assert response.status_code == 422
        assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
            ("photo", "photo_type_invalid")
        ]
        assert not Reading.objects.exists()

    def test_a_json_body_above_djangos_in_memory_bound_is_refused(self, client: Client) -> None:
        supply = make_supply()
        body = {**codes(supply), "reading": "42", "padding": "x" * (3 * MB)}
        assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < 3 * MB

        response = client.post("/api/v1/readings", body, content_type="application/json")

        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "body_invalid"
        assert not Reading.objects.exists()


LEAK = {
    "category": "leak",
    "description": "Acqua che esce dal tombino",
    "address": "Via Roma 12, Alessandria",
    "contact_name": "Maria Rossi",
    "contact_phone": "347 1234567",
}


@pytest.mark.django_db
class TestFaultPhotoApi:
    @pytest.fixture
    def ticket(self, client: Client) -> str:
        response = client.post("/api/v1/faults", LEAK, content_type="application/json")
        assert response.status_code == 201, response.content
        ticket: str = response.json()["ticket"]
        return ticket

    def send(self, client: Client, ticket: str, photo: SimpleUploadedFile) -> Any:
        return client.post(
            f"/api/v1/faults/{ticket}/photo",
            {"contact": "3471234567", "photo": photo},
            headers={"Accept-Language": "en"},
        )

    def test_over_the_limit_is_refused_naming_it_and_the_report_kept(
        self, client: Client, ticket: str, settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_FAULT_PHOTO_MAX_MB = 1
        big = SimpleUploadedFile("leak.jpg", JPEG + b"\x00" * MB, content_type="image/jpeg")

        refused = self.send(client, ticket, big)

        assert refused.status_code == 422
        (error,) = refused.json()["errors"]
        assert (error["field"], error["code"]) == ("photo", "photo_too_large")
        assert error["message"] == "The photo is too large: at most 1 MB."
        # The report is still there, without a photo, and a smaller one can follow.
        assert not FaultReport.objects.get(ticket=ticket).photo
        smaller = self.send(client, ticket, SimpleUploadedFile("leak.jpg", JPEG))
        assert smaller.status_code == 200, smaller.content
        assert FaultReport.objects.get(ticket=ticket).photo.name.endswith(".jpg")

    @pytest.mark.parametrize("kind", sorted(NOT_PICTURES))
    def test_a_file_that_is_not_a_picture_is_refused(
        self, client: Client, ticket: str, kind: str
    ) -> None:
        response = self.send(client, ticket, upload(kind))

        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert (error["field"], error["code"]) == ("photo", "photo_type")
        assert not FaultReport.objects.get(ticket=ticket).photo


# --- WhatsApp and e-mail: the reading is taken, the photo is not -------------------------------

APP_SECRET = "test-app-secret"
SENDER = "393471234567"


@pytest.fixture
def graph(settings: SettingsWrapper) -> Any:
    with FakeGraphApi(token="test-access-token", phone_number_id="1099") as fake:
        settings.AUTOLETTURA_WHATSAPP_API_URL = fake.api_url
        settings.AUTOLETTURA_WHATSAPP_TOKEN = "test-access-token"
        settings.AUTOLETTURA_WHATSAPP_PHONE_NUMBER_ID = "1099"
        settings.AUTOLETTURA_WHATSAPP_APP_SECRET = APP_SECRET
        yield fake


@pytest.mark.django_db
class TestWhatsAppImage:
    def send_photo(self, client: Client, supply: Supply, media_id: str) -> str:
        """An image whose caption is the whole reading; returns the reply queued."""
        caption = f"{supply.supply_code}#{supply.holder.customer_code}#42#20/12/2026"
        body = json.dumps(whatsapp_image(f"wamid.{media_id}", SENDER, media_id, caption=caption))
        response = client.post(
            "/channels/whatsapp/webhook",
            body,
            content_type="application/json",
            headers={"X-Hub-Signature-256": whatsapp_signature(body.encode(), APP_SECRET)},
        )
        assert response.status_code == 200, response.content
        reply: str = OutboundMessage.objects.get().body
        return reply

    def test_over_5_mb_the_reading_is_taken_and_the_reply_names_the_limit(
        self, client: Client, graph: FakeGraphApi
    ) -> None:
        supply = make_supply()
        graph.add_media("777", OVERSIZED_JPEG + b"\x00" * MB)

        reply = self.send_photo(client, supply, "777")

        reading = Reading.objects.get(supply=supply)
        assert (reading.value, reading.photo.name) == (42, "")
        assert reply.startswith(italian(TOO_LARGE))
        assert reading.receipt is not None and reading.receipt in reply

    @pytest.mark.parametrize("kind", sorted(NOT_PICTURES))
    def test_a_file_that_is_not_a_picture_is_not_kept(
        self, client: Client, graph: FakeGraphApi, kind: str
    ) -> None:
        supply = make_supply()
        _name, content, content_type = NOT_PICTURES[kind]
        graph.add_media("778", content, mime_type=content_type)

        reply = self.send_photo(client, supply, "778")

        reading = Reading.objects.get(supply=supply)
        assert (reading.value, reading.photo.name) == (42, "")
        assert reply.startswith(italian(NOT_A_PICTURE))


@pytest.mark.django_db
class TestEmailAttachment:
    def receive(self, supply: Supply, attachment: tuple[bytes, str, str]) -> str:
        text = (
            f"Lettura 00042 del 20/12/2026, utenza {supply.supply_code}, "
            f"codice utente {supply.holder.customer_code}."
        )
        raw = make_mail(text, sent_at=DECEMBER_20, attachments=[attachment])
        email_receive(message=MailMessage.from_bytes(raw), now=DECEMBER_20, arrived_at=DECEMBER_20)
        reply: str = OutboundMessage.objects.get().body
        return reply

    def test_over_5_mb_the_reading_is_taken_and_the_reply_names_the_limit(self) -> None:
        supply = make_supply()

        reply = self.receive(supply, (OVERSIZED_JPEG, "image/jpeg", "contatore.jpg"))

        reading = Reading.objects.get(supply=supply)
        assert (reading.value, reading.photo.name) == (42, "")
        assert italian(TOO_LARGE) in reply
        assert reading.receipt is not None and reading.receipt in reply

    @pytest.mark.parametrize("kind", sorted(NOT_PICTURES))
    def test_a_file_that_is_not_a_picture_is_not_kept(self, kind: str) -> None:
        supply = make_supply()
        name, content, content_type = NOT_PICTURES[kind]

        reply = self.receive(supply, (content, content_type, name))

        reading = Reading.objects.get(supply=supply)
        assert (reading.value, reading.photo.name) == (42, "")
        assert italian(NOT_A_PICTURE) in reply


# --- The whole request -------------------------------------------------------------------------


@pytest.mark.django_db
class TestRequestBodyLimit:
    def test_an_upload_over_the_limit_is_refused_with_413_naming_it(
        self, client: Client, settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_REQUEST_MAX_MB = 1
        photo = SimpleUploadedFile("leak.jpg", JPEG + b"\x00" * MB)

        response = client.post(
            "/api/v1/faults/GU-2026-000001/photo",
            {"contact": "3471234567", "photo": photo},
            headers={"Accept-Language": "en"},
        )

        assert response.status_code == 413
        (error,) = response.json()["errors"]
        assert error["code"] == "request_too_large"
        assert "at most 1 MB" in error["message"]

    def test_below_the_limit_the_request_goes_through(
        self, client: Client, settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_REQUEST_MAX_MB = 1
        photo = SimpleUploadedFile("leak.jpg", JPEG + b"\x00" * (MB // 2))

        response = client.post(
            "/api/v1/faults/GU-2026-000001/photo", {"contact": "3471234567", "photo": photo}
        )

        assert response.status_code == 404  # no such report: read, then looked up

    def test_the_body_is_not_read_when_its_declared_length_is_too_large(
        self, owner: Client
    ) -> None:
        # A body Django would read for the CSRF check and the form: declared 1 GB, it is
        # answered without a byte read (the test client's stream would fail on a read).
        response = owner.post(
            "/area-clienti/comunica-la-lettura/",
            {"reading": "00042"},
            CONTENT_LENGTH=str(1024 * MB),
        )

        assert response.status_code == 413
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        text = response.content.decode()
        assert f"{settings.AUTOLETTURA_REQUEST_MAX_MB} MB" in text
        assert text.startswith("La richiesta è troppo grande")
        assert not Reading.objects.exists()

    def test_the_limit_holds_the_largest_photo_and_its_form(self) -> None:
        largest = max(MAX_BYTES, settings.AUTOLETTURA_FAULT_PHOTO_MAX_MB * MB)
        assert largest + MB < settings.AUTOLETTURA_REQUEST_MAX_MB * MB


def test_gunicorn_answers_413_before_a_huge_upload_is_sent(tmp_path: Path) -> None:
    """The production server: the answer comes while the client has sent 256 KB of a
    declared 2 GB, and nothing of the upload was written to disk. (Without the bound the
    answer never comes: Django streams the file to a temporary file while it arrives.)"""
    # Django writes an upload larger than FILE_UPLOAD_MAX_MEMORY_SIZE to the temporary folder
    # as it arrives: a folder of this test's own shows whether any of it was.
    uploads = tmp_path / "tmp"
    uploads.mkdir()
    env = production_env(tmp_path / "home", WEB_CONCURRENCY="1", TMPDIR=str(uploads))
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    boundary = "----upload-limit-test"
    head = (
        "POST /api/v1/faults/GU-2026-000001/photo HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {2048 * MB}\r\n"
        "Accept-Language: en\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="photo"; filename="leak.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    try:
        server.start()
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
            sock.sendall(head + JPEG + b"\x00" * (256 * 1024))
            answer = http.client.HTTPResponse(sock)
            answer.begin()
            status, body = answer.status, answer.read()
    finally:
        server.stop()

    assert status == 413, (body[:500], server.log.read_text()[-2000:])
    (error,) = json.loads(body)["errors"]
    assert error["code"] == "request_too_large"
    assert "at most 12 MB" in error["message"]
    assert not list(uploads.iterdir())
