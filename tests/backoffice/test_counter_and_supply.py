"""The counter and call-centre entry with its receipt, the search and the supply page."""

from __future__ import annotations

import pytest
from django.test import Client

from autolettura.backoffice.models import AuditAction, AuditEntry
from autolettura.backoffice.roles import BILLING, CALL_CENTRE, COUNTER
from autolettura.outbox.services import outbox_enqueue
from autolettura.readings.models import Reading, Status
from tests import pictures
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, operator, supply_with_history
from tests.e2e.browser import PNG
from tests.portal.support import DECEMBER_20, customer_with_supply, with_bills

pytestmark = pytest.mark.django_db


def signed_in(client: Client, role: str) -> Client:
    client.force_login(operator(role), backend=BACKEND)
    return client


def form(**changes: str) -> dict[str, str]:
    return {
        "channel": "COUNTER",
        "supply_code": "400120734",
        "customer_code": "1004127",
        "reading": "446",
        "read_on": "20/12/2026",
        **changes,
    }


class TestCounterEntry:
    def test_a_paper_form_is_taken_in_charge_with_a_printable_receipt(
        self, client: Client, clock: Clock
    ) -> None:
        supply_with_history()
        counter = signed_in(client, COUNTER)
        response = counter.post("/backoffice/sportello/", form())
        assert response.status_code == 302
        reading = Reading.objects.get(channel="COUNTER")
        assert response["Location"] == f"/backoffice/letture/{reading.receipt}/ricevuta/"
        assert reading.status == Status.ACCEPTED
        assert reading.submitted_by is not None and reading.submitted_by.username == "sportello"
        (entry,) = AuditEntry.objects.filter(reading=reading)
        assert entry.action == AuditAction.ENTERED

        page = counter.get(response["Location"]).content.decode()
        assert reading.receipt in page
        assert f"protocollo {reading.receipt} e accettata" in page
        assert "window.print()" in page

    def test_a_call_is_recorded_as_the_call_centres(self, client: Client, clock: Clock) -> None:
        supply_with_history()
        signed_in(client, CALL_CENTRE).post("/backoffice/sportello/", form(channel="CALL_CENTRE"))
        assert Reading.objects.filter(channel="CALL_CENTRE").count() == 1

    def test_a_repeat_gives_the_first_receipt_and_no_second_reading(
        self, client: Client, clock: Clock
    ) -> None:
        supply_with_history()
        counter = signed_in(client, COUNTER)
        first = counter.post("/backoffice/sportello/", form())
        second = counter.post("/backoffice/sportello/", form())
        assert first["Location"] == second["Location"]
        assert Reading.objects.filter(channel="COUNTER").count() == 1

    def test_errors_are_shown_beside_their_fields(self, client: Client, clock: Clock) -> None:
        supply_with_history()
        response = signed_in(client, COUNTER).post(
            "/backoffice/sportello/", form(reading="446,5", read_on="31/02/2026")
        )
        assert response.status_code == 422
        page = response.content.decode()
        assert 'id="id_reading-error"' in page and "senza i decimali" in page
        assert 'id="id_read_on-error"' in page
        assert not Reading.objects.filter(channel="COUNTER").exists()

    def test_codes_that_do_not_match_get_the_one_generic_message(
        self, client: Client, clock: Clock
    ) -> None:
        supply_with_history()
        response = signed_in(client, COUNTER).post(
            "/backoffice/sportello/", form(customer_code="9999999")
        )
        assert response.status_code == 422
        assert "I codici non corrispondono" in response.content.decode()

    def test_the_same_outcome_as_every_channel_outside_the_window(
        self, client: Client, clock: Clock
    ) -> None:
        from tests.portal.support import NOVEMBER_10

        supply_with_history()
        clock.now = NOVEMBER_10
        response = signed_in(client, COUNTER).post(
            "/backoffice/sportello/", form(read_on="10/11/2026")
        )
        reading = Reading.objects.get(channel="COUNTER")
        assert (reading.status, reading.reason) == (Status.DISCARDED, "outside_window")
        assert "15/12/2026" in client.get(response["Location"]).content.decode()


class TestSearch:
    @pytest.mark.parametrize(
        "query", ["400120", "1004127", "ferrari", "via roma 12", "VM400120734", "vm4001"]
    )
    def test_finds_a_supply_by_code_name_address_or_meter_serial(
        self, client: Client, query: str
    ) -> None:
        customer_with_supply()
        customer_with_supply(
            customer_code="2008811",
            supply_code="500777001",
            name="Luca Bianchi",
            address="Corso Po 3",
        )
        page = signed_in(client, BILLING).get("/backoffice/", {"q": query}).content.decode()
        assert "400120734" in page
        assert "500777001" not in page

    def test_results_are_paginated(self, client: Client) -> None:
        for n in range(30):
            customer_with_supply(
                customer_code=f"30{n:05d}", supply_code=f"7000{n:05d}", address="Via Lunga 1"
            )
        counter = signed_in(client, COUNTER)
        first = counter.get("/backoffice/", {"q": "via lunga"}).content.decode()
        second = counter.get("/backoffice/", {"q": "via lunga", "page": 2}).content.decode()
        assert "700000000" in first and "700000029" not in first
        assert "700000029" in second


class TestSupplyPage:
    def test_shows_readings_chart_bills_messages_and_photo_links(
        self, client: Client, clock: Clock, settings: object
    ) -> None:
        from django.core.files.uploadedfile import SimpleUploadedFile

        from autolettura.readings.services import reading_submit

        supply = supply_with_history()
        holder = supply.holder
        holder.email = "giulia@example.org"
        holder.save()
        with_bills()
        reading = reading_submit(
            channel="WEB",
            customer=holder,
            reading="446",
            read_on=None,
            now=DECEMBER_20,
            photo=SimpleUploadedFile("m.png", PNG, content_type="image/png"),
        ).reading
        outbox_enqueue(
            route="EMAIL",
            recipient="giulia@example.org",
            body="Promemoria lettura",
            dedupe_key="t1",
            now=DECEMBER_20,
        )
        counter = signed_in(client, COUNTER)
        page = counter.get(f"/backoffice/utenze/{supply.supply_code}/").content.decode()
        assert reading.receipt in page and "<svg" in page
        assert "Promemoria lettura" in page
        assert f"/backoffice/letture/{reading.receipt}/foto/" in page
        assert "/backoffice/utenze/400120734/bollette/" in page

        photo = counter.get(f"/backoffice/letture/{reading.receipt}/foto/")
        assert photo.status_code == 200
        assert pictures.describe(b"".join(photo.streaming_content)) == pictures.describe(PNG)  # type: ignore[attr-defined]

    def test_an_unknown_supply_is_not_found(self, client: Client) -> None:
        assert signed_in(client, COUNTER).get("/backoffice/utenze/NOPE/").status_code == 404

    def test_bill_pdfs_for_billing_staff(self, client: Client, clock: Clock) -> None:
        supply = supply_with_history()
        with_bills()
        bill = supply.bills.order_by("-period_end").first()
        assert bill is not None
        url = f"/backoffice/utenze/{supply.supply_code}/bollette/{bill.year}/{bill.sequence}.pdf"
        response = signed_in(client, BILLING).get(url)
        assert response.status_code == 200
        assert response.content.startswith(b"%PDF")
        client.logout()
        assert signed_in(client, CALL_CENTRE).get(url).status_code == 403
