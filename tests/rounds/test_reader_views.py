"""The reader's app's pages and endpoints: who may open them, what they answer."""

from __future__ import annotations

import pytest
from django.test import Client

from autolettura.backoffice.roles import ADMINISTRATOR, CALL_CENTRE, COUNTER
from autolettura.readings.models import Channel, Reading
from autolettura.rounds.models import AttemptState, ReadingAttempt
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, operator
from tests.portal.support import DECEMBER_20, with_account
from tests.rounds.support import planned_visit, reader, supply_on_round

pytestmark = pytest.mark.django_db

KEY = "0b6f2c1e-5d7a-4e0b-9a51-3c2d1e0f9a77"


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(DECEMBER_20)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture
def visit() -> ReadingAttempt:
    return planned_visit(supply_on_round())


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


class TestWhoMay:
    def test_a_reader_opens_the_round_and_nothing_of_the_back_office(
        self, visit: ReadingAttempt
    ) -> None:
        client = signed_in(reader())

        page = client.get("/letturisti/")

        assert page.status_code == 200
        text = page.content.decode()
        assert visit.supply.address in text and visit.supply.meters.get().serial in text
        assert "00420 m³" in text  # the last valid reading, as the register shows it
        assert client.get("/backoffice/").status_code == 403
        assert client.get(f"/backoffice/utenze/{visit.supply.supply_code}/").status_code == 403

    @pytest.mark.parametrize("role", [COUNTER, CALL_CENTRE])
    def test_other_operators_and_customers_may_not_record_a_visit(
        self, visit: ReadingAttempt, role: str
    ) -> None:
        customer = with_account(visit.supply)
        for user in (operator(role), customer):
            client = signed_in(user)
            assert client.get("/letturisti/").status_code == 403
            answer = client.post(f"/letturisti/visite/{visit.pk}/lettura/", {"reading": "445"})
            assert answer.status_code == 403
        assert ReadingAttempt.objects.get(pk=visit.pk).state == AttemptState.PLANNED

    def test_a_visitor_is_sent_to_the_operators_sign_in(self, visit: ReadingAttempt) -> None:
        answer = Client().get("/letturisti/")
        assert answer.status_code == 302
        assert answer["Location"].startswith("/backoffice/accedi/?next=/letturisti/")

    def test_a_reader_signing_in_lands_on_the_round(self, visit: ReadingAttempt) -> None:
        from tests.backoffice.support import PASSWORD

        who = reader()
        answer = Client().post(
            "/backoffice/accedi/", {"username": who.username, "password": PASSWORD}
        )
        assert answer.status_code == 302 and answer["Location"] == "/letturisti/"

    def test_the_counter_sees_the_days_visits_in_the_back_office(
        self, visit: ReadingAttempt
    ) -> None:
        signed_in(reader()).post(
            f"/letturisti/visite/{visit.pk}/mancata/",
            {"cause": "NOT_REACHABLE", "cause_note": "cancello chiuso"},
        )
        page = signed_in(operator(COUNTER)).get("/backoffice/giri/?giorno=2026-12-20")
        text = page.content.decode()
        assert page.status_code == 200
        assert "contatore non raggiungibile: cancello chiuso" in text
        assert signed_in(operator(ADMINISTRATOR)).get("/backoffice/giri/").status_code == 200


class TestRecording:
    def test_a_reading_answers_its_outcome_at_once_and_once(self, visit: ReadingAttempt) -> None:
        client = signed_in(reader())
        url = f"/letturisti/visite/{visit.pk}/lettura/"

        first = client.post(url, {"reading": "445"}, headers={"Idempotency-Key": KEY})
        again = client.post(url, {"reading": "445"}, headers={"Idempotency-Key": KEY})
        other = client.post(url, {"reading": "446"}, headers={"Idempotency-Key": KEY})

        assert first.status_code == 201
        body = first.json()
        assert (body["state"], body["status"], body["label"]) == ("made", "accepted", "Accettata")
        assert "25 m³" in body["message"] and body["receipt"] in body["message"]
        assert again.status_code == 200 and again.json()["receipt"] == body["receipt"]
        assert again.json()["message"] == body["message"]
        assert other.status_code == 409 and other.json()["code"] == "key_reused"
        assert Reading.objects.filter(channel=Channel.ROUND).count() == 1

    def test_a_malformed_value_says_what_to_fix(self, visit: ReadingAttempt) -> None:
        answer = signed_in(reader()).post(
            f"/letturisti/visite/{visit.pk}/lettura/", {"reading": "445,3"}
        )
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["code"] == "decimals_not_allowed"
        assert "decimali" in answer.json()["errors"][0]["message"]

    def test_a_failed_visit_in_english(self, visit: ReadingAttempt) -> None:
        client = signed_in(reader())
        client.cookies["django_language"] = "en"
        answer = client.post(
            f"/letturisti/visite/{visit.pk}/mancata/",
            {"cause": "OTHER"},
            headers={"Accept-Language": "en"},
        )
        assert answer.status_code == 422
        assert "'other'" in answer.json()["errors"][0]["message"]

    def test_the_app_files_are_scoped_to_the_readers_pages(self) -> None:
        manifest = Client().get("/letturisti/manifest.webmanifest").json()
        worker = Client().get("/letturisti/sw.js")
        assert (manifest["scope"], manifest["start_url"]) == ("/letturisti/", "/letturisti/")
        assert worker["Cache-Control"] == "no-cache"
        assert b"letturisti-round" in worker.content and b"reader-queue.js" in worker.content
