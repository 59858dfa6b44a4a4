"""End to end through the JSON API: POST /api/v1/faults, following a report, its photo, and
GET /api/v1/service-hours."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from autolettura.service.models import FaultReport
from autolettura.service.services import fault_report_advance
from tests.api_helpers import Clock
from tests.conftest import rome
from tests.service.conftest import APRIL_15, JPEG

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

LEAK = {
    "category": "leak",
    "description": "Acqua che esce dal tombino",
    "address": "Via Roma 12, Alessandria",
    "contact_name": "Maria Rossi",
    "contact_phone": "347 1234567",
}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(APRIL_15)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


def post_fault(
    api: Client, body: dict[str, Any], *, language: str | None = None, address: str = "10.0.0.1"
) -> Response:
    headers = {"Accept-Language": language} if language else {}
    return api.post(
        "/api/v1/faults",
        body,
        content_type="application/json",
        headers=headers,
        REMOTE_ADDR=address,
    )


def errors_of(response: Response) -> dict[str, tuple[str, str]]:
    return {e["field"]: (e["code"], e["message"]) for e in response.json()["errors"]}


@pytest.mark.usefixtures("clock")
class TestReportAFault:
    def test_takes_a_report_with_201_and_its_ticket(self, api: Client) -> None:
        response = post_fault(api, LEAK, language="en")

        assert response.status_code == 201, response.content
        body = response.json()
        assert body == {
            "ticket": "GU-2026-000001",
            "status": "received",
            "category": "leak",
            "urgency": "emergency",
            "message": (
                "Report received with ticket GU-2026-000001. It is an emergency: a crew will be "
                "sent as soon as possible. If there is danger to people or property, also call "
                "the fault line 800 000 111, free, 24 hours a day."
            ),
            "received_at": "2026-04-15T10:00:00+02:00",
            "follow_url": ("http://127.0.0.1:8000/segnala-un-guasto/segui/?ticket=GU-2026-000001"),
        }
        report = FaultReport.objects.get()
        assert (report.channel, report.language) == ("APP", "en")

    def test_answers_in_italian_by_default(self, api: Client) -> None:
        response = post_fault(api, {**LEAK, "category": "low_pressure"})

        assert response.status_code == 201, response.content
        assert response.json()["message"].startswith(
            "Segnalazione ricevuta con il numero GU-2026-000001."
        )
        assert FaultReport.objects.get().language == "it"

    def test_takes_a_position_in_place_of_an_address(self, api: Client) -> None:
        body = {**LEAK, "address": None, "latitude": 44.912345, "longitude": "8,6154"}

        response = post_fault(api, body, language="en")

        assert response.status_code == 201, response.content
        report = FaultReport.objects.get()
        assert (str(report.latitude), str(report.longitude)) == ("44.912345", "8.615400")

    def test_says_what_is_needed_when_location_and_contact_are_missing(self, api: Client) -> None:
        body = {"category": "no_water", "description": "Niente acqua da stamattina"}

        response = post_fault(api, body, language="en")

        assert response.status_code == 422, response.content
        assert errors_of(response) == {
            "location": (
                "location_required",
                "Say where the fault is: an address, or a position (latitude and longitude).",
            ),
            "contact": (
                "contact_required",
                "Leave a phone number or an e-mail so we can reach you.",
            ),
        }
        assert not FaultReport.objects.exists()

    def test_says_it_in_italian_by_default(self, api: Client) -> None:
        response = post_fault(api, {"category": "no_water"})

        assert response.status_code == 422, response.content
        assert errors_of(response) == {
            "location": (
                "location_required",
                "Indica dove si trova il guasto: un indirizzo oppure una posizione "
                "(latitudine e longitudine).",
            ),
            "contact": (
                "contact_required",
                "Lascia un numero di telefono o un indirizzo e-mail per poterti ricontattare.",
            ),
        }

    def test_refuses_an_unknown_category_with_the_ones_it_knows(self, api: Client) -> None:
        response = post_fault(api, {**LEAK, "category": "snow"}, language="en")

        assert response.status_code == 422
        code, message = errors_of(response)["category"]
        assert code == "category_invalid"
        assert "leak, no water, low pressure" in message

    def test_a_value_of_the_wrong_json_type_gets_the_same_error_shape(self, api: Client) -> None:
        response = post_fault(api, {**LEAK, "latitude": {"lat": 44}})

        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert (error["field"], error["code"]) == ("latitude", "invalid")

    @override_settings(AUTOLETTURA_THROTTLE_FAULTS_PER_ADDRESS=2)
    def test_throttles_many_reports_from_one_address(self, api: Client) -> None:
        answers = [post_fault(api, LEAK).status_code for _ in range(3)]
        other_address = post_fault(api, LEAK, address="10.0.0.2")

        assert answers == [201, 201, 429]
        assert other_address.status_code == 201

    @override_settings(AUTOLETTURA_THROTTLE_FAULTS_PER_ADDRESS=1)
    def test_a_throttled_report_says_when_to_try_again(self, api: Client) -> None:
        post_fault(api, LEAK)

        response = post_fault(api, LEAK, language="en")

        assert response.status_code == 429
        assert int(response["Retry-After"]) > 0
        assert response.json()["errors"][0]["code"] == "throttled"


@pytest.mark.usefixtures("clock")
class TestFollowAReport:
    def test_shows_the_status_and_its_history_to_whoever_has_the_contact(
        self, api: Client, operator: User
    ) -> None:
        ticket = post_fault(api, LEAK).json()["ticket"]
        fault_report_advance(
            report=FaultReport.objects.get(ticket=ticket),
            to_status="DISPATCHED",
            by=operator,
            now=APRIL_15 + timedelta(minutes=20),
            note="squadra 3",
        )

        response = api.get(
            f"/api/v1/faults/{ticket}",
            {"contact": "+39 347 123 4567"},
            headers={"Accept-Language": "en"},
        )

        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == "dispatched"
        assert body["message"] == f"Report {ticket}: a crew has been sent."
        assert body["history"] == [
            {"status": "received", "at": "2026-04-15T10:00:00+02:00"},
            {"status": "dispatched", "at": "2026-04-15T10:20:00+02:00"},
        ]
        # Operators' notes and names stay inside.
        assert "squadra" not in response.content.decode()

    @pytest.mark.parametrize("query", [{}, {"contact": "347 7654321"}, {"contact": "a@b.it"}])
    def test_answers_404_without_the_right_contact(
        self, api: Client, query: dict[str, str]
    ) -> None:
        ticket = post_fault(api, LEAK).json()["ticket"]

        response = api.get(f"/api/v1/faults/{ticket}", query)

        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "not_found"

    def test_answers_the_same_404_for_a_ticket_that_does_not_exist(self, api: Client) -> None:
        post_fault(api, LEAK)

        wrong_contact = api.get("/api/v1/faults/GU-2026-000001", {"contact": "3470000000"})
        no_ticket = api.get("/api/v1/faults/GU-2026-000099", {"contact": "3471234567"})

        assert wrong_contact.status_code == no_ticket.status_code == 404
        assert wrong_contact.json() == no_ticket.json()

    @override_settings(AUTOLETTURA_THROTTLE_PER_ADDRESS=100, AUTOLETTURA_FAILURES_PER_TARGET=3)
    def test_throttles_guessing_the_contact_of_one_ticket_from_many_addresses(
        self, api: Client
    ) -> None:
        ticket = post_fault(api, LEAK).json()["ticket"]

        answers = [
            api.get(
                f"/api/v1/faults/{ticket}",
                {"contact": f"34700000{i:02d}"},
                REMOTE_ADDR=f"10.1.0.{i}",
            ).status_code
            for i in range(3)
        ]
        again = api.get(
            f"/api/v1/faults/{ticket}", {"contact": "3470000099"}, REMOTE_ADDR="10.1.0.0"
        )

        assert answers == [404, 404, 404]
        assert again.status_code == 429


@pytest.mark.usefixtures("clock")
class TestAddAPhoto:
    def upload(
        self, api: Client, ticket: str, content: bytes, contact: str = "3471234567"
    ) -> Response:
        return api.post(
            f"/api/v1/faults/{ticket}/photo",
            {"contact": contact, "photo": SimpleUploadedFile("IMG_1.jpg", content)},
            headers={"Accept-Language": "en"},
        )

    def test_attaches_one_photo_to_a_report(self, api: Client) -> None:
        ticket = post_fault(api, LEAK).json()["ticket"]

        first = self.upload(api, ticket, JPEG)
        second = self.upload(api, ticket, JPEG)

        assert first.status_code == 200, first.content
        assert FaultReport.objects.get().photo.name.endswith(f"{ticket}.jpg")
        assert second.status_code == 422
        assert errors_of(second)["photo"][0] == "photo_already_attached"

    def test_refuses_a_file_that_is_not_a_picture(self, api: Client) -> None:
        ticket = post_fault(api, LEAK).json()["ticket"]

        response = self.upload(api, ticket, b"MZ\x90\x00 an executable")

        assert response.status_code == 422
        assert errors_of(response)["photo"] == (
            "photo_type",
            "The photo must be a picture: JPEG, PNG, WebP or HEIC.",
        )

    def test_needs_the_contact_too(self, api: Client) -> None:
        ticket = post_fault(api, LEAK).json()["ticket"]

        response = self.upload(api, ticket, JPEG, contact="3470000000")

        assert response.status_code == 404
        assert not FaultReport.objects.get().photo


class TestServiceHours:
    def get(self, api: Client, language: str | None = None) -> dict[str, Any]:
        headers = {"Accept-Language": language} if language else {}
        response = api.get("/api/v1/service-hours", headers=headers)
        assert response.status_code == 200, response.content
        body: dict[str, Any] = response.json()
        return body

    def test_open_now_says_until_when(self, api: Client, clock: Clock) -> None:
        body = self.get(api, "en")

        assert body == {
            "info_line": {
                "open_now": True,
                "opens_at": None,
                "closes_at": "2026-04-15T12:00:00+02:00",
                "hours": (
                    "From Monday to Friday, 8:15\N{EN DASH}12:00 and 14:15\N{EN DASH}16:57; closed "
                    "on public holidays and on the patron saint's day (10 November)."
                ),
                "message": "Open now, until 12:00.",
                "phone": "800 000 222",
            },
            "fault_line": {"open_now": True, "phone": "800 000 111"},
        }

    def test_closed_on_friday_evening_says_it_opens_on_monday(
        self, api: Client, clock: Clock
    ) -> None:
        clock.now = rome(2026, 4, 17, 18, 0)

        info = self.get(api, "en")["info_line"]

        assert info["open_now"] is False
        assert info["opens_at"] == "2026-04-20T08:15:00+02:00"
        assert info["closes_at"] is None
        assert info["message"] == "Closed now; opens on Monday 20 April at 8:15."

    def test_speaks_italian_by_default(self, api: Client, clock: Clock) -> None:
        clock.now = rome(2027, 3, 26, 18, 0)  # Friday before Easter

        info = self.get(api)["info_line"]

        assert info["opens_at"] == "2027-03-30T08:15:00+02:00"
        assert info["message"] == "Ora chiuso; riapre martedì 30 marzo alle 8:15."
        assert info["hours"] == (
            "Dal lunedì al venerdì, 8:15\N{EN DASH}12:00 e 14:15\N{EN DASH}16:57; chiuso nei "
            "giorni festivi e nel giorno del santo patrono (10 novembre)."
        )

    def test_the_fault_line_is_open_at_night_on_a_holiday(self, api: Client, clock: Clock) -> None:
        clock.now = rome(2026, 12, 25, 3, 0)

        body = self.get(api)

        assert body["info_line"]["open_now"] is False
        assert body["fault_line"]["open_now"] is True

    @override_settings(
        AUTOLETTURA_INFO_LINE_DAYS=frozenset({1, 2, 3, 4, 5, 6}),
        AUTOLETTURA_PATRON_DAY=None,
        AUTOLETTURA_PHONE_TOLL_FREE="800 123 456",
        AUTOLETTURA_PHONE_FAULTS="800 654 321",
    )
    def test_follows_the_settings(self, api: Client, clock: Clock) -> None:
        clock.now = rome(2026, 4, 17, 18, 0)

        body = self.get(api, "en")

        assert body["info_line"]["opens_at"] == "2026-04-18T08:15:00+02:00"
        assert body["info_line"]["hours"].startswith("From Monday to Saturday")
        assert body["info_line"]["hours"].endswith("closed on public holidays.")
        assert body["info_line"]["phone"] == "800 123 456"
        assert body["fault_line"]["phone"] == "800 654 321"

    def test_is_in_the_openapi_schema(self, api: Client) -> None:
        paths = api.get("/api/v1/openapi.json").json()["paths"]

        assert {"/api/v1/service-hours", "/api/v1/faults", "/api/v1/faults/{ticket}"} <= set(paths)
