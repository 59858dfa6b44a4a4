"""A fault reported from the Sportello Online, through the fault service, and followed there:
at once from the browser that sent it, by ticket and contact from anywhere else."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.customers.models import Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.service.models import FaultReport, FaultStatus, Urgency
from autolettura.service.services import fault_report_advance
from tests.api_helpers import Clock
from tests.e2e.browser import PNG
from tests.portal.support import DECEMBER_20, customer_with_supply, with_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(DECEMBER_20)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture(autouse=True)
def _media(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


def text(response: object) -> str:
    page = response.content.decode()  # type: ignore[attr-defined]
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


LEAK = {
    "category": "LEAK",
    "description": "Acqua in strada davanti al civico 12",
    "address": "Via Roma 12, Valmora",
    "contact_name": "Giulia Ferrari",
    "contact_phone": "347 123 4567",
    "contact_email": "",
}


class TestReportAFault:
    def test_the_page_is_there_for_everyone_with_the_categories(self, client: Client) -> None:
        page = text(client.get("/segnala-un-guasto/"))
        for category in ("Perdita", "Mancanza d'acqua", "Bassa pressione", "Altro"):
            assert category in page
        assert "800 000 111" in page

    def test_a_report_gets_a_ticket_and_leads_to_its_page(self, client: Client) -> None:
        response = client.post("/segnala-un-guasto/", LEAK)

        report = FaultReport.objects.get()
        assert (report.channel, report.urgency) == ("WEB", Urgency.EMERGENCY)
        assert report.description == LEAK["description"]
        assert response["Location"] == f"/segnala-un-guasto/segui/?ticket={report.ticket}"
        page = text(client.get(response["Location"]))
        assert f"Segnalazione ricevuta con il numero {report.ticket}" in page
        assert "Perdita" in page and "Via Roma 12, Valmora" in page
        assert "Ricevuta · 20 dicembre 2026, 10:00" in page

    def test_with_a_photo_checked_by_its_content(self, client: Client) -> None:
        photo = SimpleUploadedFile("perdita.png", PNG, content_type="image/png")
        client.post("/segnala-un-guasto/", {**LEAK, "photo": photo})
        report = FaultReport.objects.get()
        assert report.photo.name.endswith(".png")

    def test_a_file_that_is_not_a_picture_is_refused_beside_the_photo(self, client: Client) -> None:
        fake = SimpleUploadedFile("perdita.jpg", b"<script>alert(1)</script>")
        response = client.post("/segnala-un-guasto/", {**LEAK, "photo": fake})

        assert FaultReport.objects.count() == 0
        assert "photo" in response.context["form"].errors
        assert "La foto deve essere un'immagine JPEG, PNG o HEIC" in text(response)
        assert 'value="Via Roma 12, Valmora"' in response.content.decode()

    def test_what_is_missing_is_told_beside_its_field(self, client: Client) -> None:
        response = client.post("/segnala-un-guasto/", {**LEAK, "address": "", "contact_phone": ""})

        errors = response.context["form"].errors
        assert FaultReport.objects.count() == 0
        assert "Indica dove si trova il guasto" in " ".join(errors["address"])
        assert "contact_phone" in errors

    def test_an_email_left_gets_the_confirmation_whose_link_leads_to_the_report(
        self, client: Client
    ) -> None:
        client.post("/segnala-un-guasto/", {**LEAK, "contact_email": "giulia@example.org"})
        report = FaultReport.objects.get()

        message = OutboundMessage.objects.get(recipient="giulia@example.org")
        assert message.subject == f"Segnalazione guasto {report.ticket} ricevuta"
        assert f"Segnalazione ricevuta con il numero {report.ticket}" in message.body
        # The service's public address, never the Host the request came with.
        link = re.search(r"http://127\.0\.0\.1:8000(/\S+)", message.body)
        assert link is not None, message.body
        stranger = Client()
        asked = stranger.get(link.group(1))
        assert asked.status_code == 200
        assert f'value="{report.ticket}"' in asked.content.decode()
        shown = stranger.post(
            link.group(1), {"ticket": report.ticket, "contact": "giulia@example.org"}
        )
        assert "Via Roma 12, Valmora" in text(shown)

    def test_without_an_email_the_confirmation_goes_by_sms(self, client: Client) -> None:
        client.post("/segnala-un-guasto/", LEAK)
        report = FaultReport.objects.get()

        message = OutboundMessage.objects.get()
        assert (message.route, message.recipient) == ("SMS", "+393471234567")
        assert f"Segnalazione ricevuta con il numero {report.ticket}" in message.body
        assert f"/segnala-un-guasto/segui/?ticket={report.ticket}" in message.body

    def test_a_signed_in_customer_finds_their_contacts_filled_in(self, client: Client) -> None:
        supply: Supply = customer_with_supply()
        client.force_login(with_account(supply), backend=settings.AUTHENTICATION_BACKENDS[1])

        page = client.get("/segnala-un-guasto/").content.decode()

        assert 'value="giulia@example.org"' in page
        assert 'value="Giulia Ferrari"' in page


class TestFollowAFault:
    def report(self, client: Client) -> FaultReport:
        client.post("/segnala-un-guasto/", LEAK)
        return FaultReport.objects.get()

    def test_from_elsewhere_the_ticket_and_the_contact_show_it(
        self, client: Client, clock: Clock
    ) -> None:
        report = self.report(client)
        fault_report_advance(
            report=report, to_status=FaultStatus.DISPATCHED, by=None, now=DECEMBER_20
        )
        stranger = Client()

        asked = stranger.get(f"/segnala-un-guasto/segui/?ticket={report.ticket}")
        shown = stranger.post(
            "/segnala-un-guasto/segui/",
            {"ticket": report.ticket.lower(), "contact": "+39 347 1234567"},
        )

        assert f'value="{report.ticket}"' in asked.content.decode()
        assert "Via Roma" not in text(asked)
        assert f"Segnalazione {report.ticket}: abbiamo inviato una squadra." in text(shown)
        assert "Squadra inviata · 20 dicembre 2026, 10:00" in text(shown)
        assert "Via Roma 12, Valmora" in text(shown)

    def test_a_wrong_contact_shows_nothing_and_says_what_to_write(self, client: Client) -> None:
        report = self.report(client)
        stranger = Client()

        response = stranger.post(
            "/segnala-un-guasto/segui/", {"ticket": report.ticket, "contact": "333 000 0000"}
        )

        assert response.status_code == 404
        assert "Via Roma" not in text(response)
        assert "Nessuna segnalazione con questo numero" in text(response)

    def test_the_confirmation_link_in_the_footer_and_the_form_lead_to_pages_that_exist(
        self, client: Client
    ) -> None:
        home = client.get("/").content.decode()
        assert 'href="/segnala-un-guasto/"' in home
        assert 'href="/segnala-un-guasto/segui/"' in home
        assert client.get("/segnala-un-guasto/segui/").status_code == 200
