"""Operators' access on the record: opening a supply's page, downloading a bill or a photo in
the back office leaves an entry (who, what, when), and an administrator lists them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.backoffice.roles import ADMINISTRATOR, BILLING, CALL_CENTRE, COUNTER
from autolettura.customers.models import Supply
from autolettura.customers.services import supply_holder_change
from autolettura.lifecycle.models import AccessEntry, AccessKind, AppendOnly
from tests.backoffice.support import operator
from tests.conftest import make_supply, rome
from tests.lifecycle.support import bill, reading

pytestmark = pytest.mark.django_db

NOON = rome(2026, 12, 6, 12, 0)


@pytest.fixture(autouse=True)
def _setup(settings: SettingsWrapper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr("autolettura.clock.now", lambda: NOON)
    # Who downloaded a bill is the question here, not how it is drawn (a second a page).
    monkeypatch.setattr("autolettura.billing.pdf.bill_pdf", lambda bill: b"%PDF-1.7 stub")


@pytest.fixture
def supply() -> Supply:
    supply = make_supply(installed_on=date(2026, 1, 1))
    reading(supply, date(2026, 10, 20), 120, with_photo=True, receipt="AL-2026-000042")
    bill(supply, year=2026, period_start=date(2026, 9, 1), period_end=date(2026, 10, 31))
    return supply


def signed_in(role: str) -> Client:
    client = Client()
    client.force_login(operator(role))
    return client


def entries() -> list[tuple[str, str, str, str, str]]:
    return [
        (e.by.username, e.kind, e.customer.customer_code, e.supply.supply_code, e.item)
        for e in AccessEntry.objects.order_by("id")
    ]


class TestWhatIsRecorded:
    def test_opening_a_supply_page_downloading_a_photo_and_a_bill(self, supply: Supply) -> None:
        counter = signed_in(COUNTER)
        code = supply.holder.customer_code

        assert counter.get(f"/backoffice/utenze/{supply.supply_code}/").status_code == 200
        photo = counter.get("/backoffice/letture/AL-2026-000042/foto/")
        assert photo.status_code == 200
        assert b"".join(photo.streaming_content).startswith(b"\x89PNG")  # type: ignore[attr-defined]
        bill_url = f"/backoffice/utenze/{supply.supply_code}/bollette/2026/1.pdf"
        assert counter.get(bill_url).status_code == 200

        assert entries() == [
            ("sportello", AccessKind.SUPPLY_VIEWED, code, supply.supply_code, ""),
            ("sportello", AccessKind.PHOTO_DOWNLOADED, code, supply.supply_code, "AL-2026-000042"),
            ("sportello", AccessKind.BILL_DOWNLOADED, code, supply.supply_code, "2026/000001"),
        ]
        assert {e.at for e in AccessEntry.objects.all()} == {NOON}

    def test_nothing_is_recorded_for_a_refused_or_missing_page(self, supply: Supply) -> None:
        call_centre = signed_in(CALL_CENTRE)

        bill_url = f"/backoffice/utenze/{supply.supply_code}/bollette/2026/1.pdf"
        assert call_centre.get(bill_url).status_code == 403
        assert call_centre.get("/backoffice/utenze/S-NOTHING/").status_code == 404
        assert Client().get(f"/backoffice/utenze/{supply.supply_code}/").status_code == 302

        assert entries() == []

    def test_the_entry_stays_with_the_holder_of_the_moment(self, supply: Supply) -> None:
        earlier = supply.holder
        signed_in(COUNTER).get(f"/backoffice/utenze/{supply.supply_code}/")
        newcomer = make_supply().holder
        supply_holder_change(
            supply=supply, new_holder=newcomer, changed_on=date(2026, 11, 1), now=NOON
        )

        assert AccessEntry.objects.get().customer == earlier


class TestTheAdministratorsList:
    def test_lists_who_looked_at_a_customers_data_newest_first(self, supply: Supply) -> None:
        signed_in(COUNTER).get(f"/backoffice/utenze/{supply.supply_code}/")
        signed_in(BILLING).get(f"/backoffice/utenze/{supply.supply_code}/bollette/2026/1.pdf")
        admin = signed_in(ADMINISTRATOR)

        page = admin.get(f"/backoffice/clienti/{supply.holder.customer_code}/accessi/")

        assert page.status_code == 200
        text = page.content.decode()
        table = text[text.index("<tbody>") :]
        assert "Chi ha consultato i dati di" in text
        assert table.index("fatturazione") < table.index("sportello")
        assert "ha scaricato una bolletta" in text
        assert "ha aperto la pagina dell&#x27;utenza" in text
        assert "2026/000001" in text
        assert "6 dicembre 2026, 12:00" in text
        # Looking at the list is not itself a look at the customer's data.
        assert AccessEntry.objects.count() == 2

    def test_the_supply_page_links_to_it_for_administrators_only(self, supply: Supply) -> None:
        page = f"/backoffice/utenze/{supply.supply_code}/"
        link = f'href="/backoffice/clienti/{supply.holder.customer_code}/accessi/"'

        assert link in signed_in(ADMINISTRATOR).get(page).content.decode()
        assert link not in signed_in(COUNTER).get(page).content.decode()

    def test_only_the_administrator_role_may_see_it(self, supply: Supply) -> None:
        url = f"/backoffice/clienti/{supply.holder.customer_code}/accessi/"

        assert signed_in(COUNTER).get(url).status_code == 403
        assert signed_in(BILLING).get(url).status_code == 403
        assert Client().get(url).status_code == 302
        assert (
            signed_in(ADMINISTRATOR).get("/backoffice/clienti/NOBODY/accessi/").status_code == 404
        )


class TestAppendOnly:
    def test_entries_cannot_be_changed_or_removed(self, supply: Supply) -> None:
        signed_in(COUNTER).get(f"/backoffice/utenze/{supply.supply_code}/")
        entry = AccessEntry.objects.get()

        with pytest.raises(AppendOnly):
            AccessEntry.objects.all().update(item="x")
        with pytest.raises(AppendOnly):
            AccessEntry.objects.all().delete()
        with pytest.raises(AppendOnly):
            entry.save()
        with pytest.raises(AppendOnly):
            entry.delete()

    def test_the_database_refuses_an_update_whatever_the_client(self, supply: Supply) -> None:
        signed_in(COUNTER).get(f"/backoffice/utenze/{supply.supply_code}/")

        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("UPDATE lifecycle_accessentry SET item = 'changed'")
        assert AccessEntry.objects.get().item == ""
