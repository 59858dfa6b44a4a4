"""The fault queue as the call centre works it: what, where, who and the photo on each
report, emergencies marked, the next step named, a confirmation before resolving, and the
resolved reports found again."""

from __future__ import annotations

import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from autolettura.backoffice.roles import CALL_CENTRE
from autolettura.service.models import FaultReport, FaultStatus
from autolettura.service.services import fault_report_advance, fault_report_create
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, operator
from tests.conftest import rome
from tests.e2e.browser import PNG
from tests.portal.support import DECEMBER_20

pytestmark = pytest.mark.django_db


def text(response: object) -> str:
    page = response.content.decode()  # type: ignore[attr-defined]
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


def report(category: str = "LEAK", **fields: object) -> FaultReport:
    values: dict[str, object] = {
        "category": category,
        "description": "Acqua in strada davanti al civico 12",
        "address": "Via Roma 12, Valmora",
        "latitude": None,
        "longitude": None,
        "contact_name": "Giulia Ferrari",
        "contact_phone": "+39 347 123 4567",
        "contact_email": "giulia@example.org",
        "channel": "WEB",
        "now": DECEMBER_20,
        **fields,
    }
    return fault_report_create(**values)  # type: ignore[arg-type]


def on_site(fault: FaultReport) -> FaultReport:
    for status in (FaultStatus.DISPATCHED, FaultStatus.ON_SITE):
        fault = fault_report_advance(report=fault, to_status=status, by=None, now=DECEMBER_20)
    return fault


@pytest.fixture
def call(client: Client, clock: Clock) -> Client:
    client.force_login(operator(CALL_CENTRE), backend=BACKEND)
    return client


class TestQueue:
    def test_shows_description_reporter_place_and_photo(self, call: Client) -> None:
        fault = report(photo=SimpleUploadedFile("p.png", PNG, content_type="image/png"))

        page = call.get("/backoffice/guasti/")
        words = text(page)

        assert "Acqua in strada davanti al civico 12" in words
        assert "Giulia Ferrari · +39 347 123 4567 · giulia@example.org" in words
        assert "Via Roma 12, Valmora" in words
        assert f"/backoffice/guasti/{fault.ticket}/foto/" in page.content.decode()
        photo = call.get(f"/backoffice/guasti/{fault.ticket}/foto/")
        assert b"".join(photo.streaming_content) == PNG  # type: ignore[attr-defined]

    def test_a_position_is_shown_with_a_map_link(self, call: Client) -> None:
        report(address="", latitude="44.912345", longitude="8.615400")
        page = call.get("/backoffice/guasti/").content.decode()
        assert "44.912345, 8.615400" in page and "openstreetmap.org" in page

    def test_emergencies_are_marked_and_come_first(self, call: Client) -> None:
        low = report("LOW_PRESSURE", now=rome(2026, 12, 20, 8, 0))
        leak = report("LEAK")

        page = call.get("/backoffice/guasti/").content.decode()

        assert page.index(leak.ticket) < page.index(low.ticket)
        card = page[page.index(f'id="fault-{leak.ticket}"') :]
        assert card.startswith(f'id="fault-{leak.ticket}"')
        assert "bo-emergency" in page[: page.index(f'id="fault-{leak.ticket}"')][-80:]
        assert "Emergenza" in card[: card.index("</h2>")]

    def test_each_report_names_where_it_stands_and_the_next_step(self, call: Client) -> None:
        received = report()
        dispatched = fault_report_advance(
            report=report(), to_status=FaultStatus.DISPATCHED, by=None, now=DECEMBER_20
        )
        there = on_site(report())

        page = text(call.get("/backoffice/guasti/"))

        assert f"{received.ticket} · Perdita Da prendere in carico" in page
        assert "Invia una squadra" in page
        assert f"{dispatched.ticket} · Perdita Squadra in arrivo" in page
        assert "La squadra è sul posto" in page
        assert f"{there.ticket} · Perdita Squadra sul posto" in page
        assert "Segna come risolta" in page

    def test_the_next_step_moves_the_report_on(self, call: Client) -> None:
        fault = report()
        call.post(f"/backoffice/guasti/{fault.ticket}/avanza/", {"to_status": "DISPATCHED"})
        fault.refresh_from_db()
        assert fault.status == FaultStatus.DISPATCHED


class TestResolve:
    def test_resolving_without_the_confirmation_changes_nothing(self, call: Client) -> None:
        fault = on_site(report())

        response = call.post(
            f"/backoffice/guasti/{fault.ticket}/avanza/", {"to_status": "RESOLVED"}
        )

        fault.refresh_from_db()
        assert fault.status == FaultStatus.ON_SITE
        assert response.status_code == 422
        assert "Spunta la casella per confermare che il guasto è risolto." in text(response)

    def test_the_confirmation_page_shows_the_report_and_asks_to_tick(self, call: Client) -> None:
        fault = on_site(report())

        page = call.get(f"/backoffice/guasti/{fault.ticket}/risolvi/")

        assert "Acqua in strada davanti al civico 12" in text(page)
        assert 'name="confirm" required' in page.content.decode()
        assert "<script" not in page.content.decode() and "onclick" not in page.content.decode()

    def test_confirmed_it_is_resolved(self, call: Client) -> None:
        fault = on_site(report())

        call.post(
            f"/backoffice/guasti/{fault.ticket}/avanza/",
            {"to_status": "RESOLVED", "confirm": "on", "note": "Tubo riparato"},
        )

        fault.refresh_from_db()
        assert fault.status == FaultStatus.RESOLVED
        assert fault.events.last().note == "Tubo riparato"  # type: ignore[union-attr]

    def test_a_report_not_on_site_has_no_confirmation_page(self, call: Client) -> None:
        fault = report()
        response = call.get(f"/backoffice/guasti/{fault.ticket}/risolvi/")
        assert response["Location"] == "/backoffice/guasti/"


class TestFindingReports:
    def test_resolved_reports_leave_the_queue_and_are_found_with_the_filter(
        self, call: Client
    ) -> None:
        fault = on_site(report())
        fault_report_advance(report=fault, to_status=FaultStatus.RESOLVED, by=None, now=DECEMBER_20)
        still_open = report("NO_WATER", address="Corso Po 3")

        queue = call.get("/backoffice/guasti/").content.decode()
        resolved = call.get("/backoffice/guasti/", {"state": "resolved"}).content.decode()
        every = call.get("/backoffice/guasti/", {"state": "all"}).content.decode()

        assert fault.ticket not in queue and still_open.ticket in queue
        assert fault.ticket in resolved and still_open.ticket not in resolved
        assert fault.ticket in every and still_open.ticket in every

    @pytest.mark.parametrize("query", ["via roma", "Ferrari", "347 123", "GU-2026-000001"])
    def test_a_search_finds_by_place_reporter_contact_or_ticket(
        self, call: Client, query: str
    ) -> None:
        fault = report()
        other = report(
            "LOW_PRESSURE",
            address="Corso Po 3",
            contact_name="Luca Bianchi",
            contact_phone="333 000 0000",
            contact_email="",
        )

        page = call.get("/backoffice/guasti/", {"state": "all", "q": query}).content.decode()

        assert fault.ticket in page
        assert f'id="fault-{other.ticket}"' not in page
