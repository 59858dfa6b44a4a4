"""Bills through the JSON API (a customer's own, as data and as PDF) and the admin
(tariffs edited with their bands checked, bills only looked at).

Every permission is tried with the owner, another customer and, for the admin, a superuser.
Bills for 2026 are made by a real bill run issued on 12 January 2027.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.forms import BaseInlineFormSet, inlineformset_factory
from django.test import Client

from autolettura.billing.admin import TariffBandFormSet
from autolettura.billing.models import Bill, Tariff, TariffBand
from autolettura.billing.tariffs import tariffs_load
from autolettura.customers.models import Customer, Supply, Usage
from tests.api_helpers import bearer, token_for
from tests.conftest import make_supply
from tests.test_bill_pdf import bill_run, pdf_text, read


@pytest.fixture
def owner_supply(db: None) -> Supply:
    tariffs_load(year=2026)
    supply = make_supply(installed_on=date(2026, 9, 1), initial_reading=500)
    read(supply, date(2026, 10, 31), 520)
    read(supply, date(2026, 12, 20), 535)
    return supply


@pytest.fixture
def other_supply(owner_supply: Supply) -> Supply:
    """Another customer's supply, billed in the same run."""
    supply = make_supply(installed_on=date(2026, 9, 1), initial_reading=10)
    read(supply, date(2026, 12, 1), 40)
    return supply


@pytest.fixture
def billed(owner_supply: Supply, other_supply: Supply) -> None:
    bill_run(through=date(2026, 12, 31), issued_on=date(2027, 1, 12))


def bills_url(supply_code: str) -> str:
    return f"/api/v1/me/supplies/{supply_code}/bills"


def pdf_url(supply_code: str, bill: Bill) -> str:
    return f"/api/v1/me/supplies/{supply_code}/bills/{bill.year}/{bill.sequence:06d}.pdf"


def bills_of(supply: Supply) -> list[Bill]:
    return list(Bill.objects.filter(supply=supply).order_by("-period_end"))


@pytest.mark.django_db
class TestListMyBills:
    def test_lists_the_owners_bills_latest_first(
        self, api: Client, owner_supply: Supply, billed: None
    ) -> None:
        token = token_for(api, owner_supply)

        response = api.get(bills_url(owner_supply.supply_code), headers=bearer(token))

        assert response.status_code == 200
        body = response.json()
        latest, first = bills_of(owner_supply)
        assert [b["number"] for b in body] == [latest.number, first.number]
        assert body[0] == {
            "number": latest.number,
            "period_start": "2026-11-01",
            "period_end": "2026-12-31",
            "issued_on": "2027-01-12",
            "due_on": "2027-02-01",
            "billed_m3": latest.billed_m3,
            "effective_m3": 15,
            "estimated_m3": latest.estimated_m3,
            "adjustment_m3": 0,
            "cma_m3": str(latest.cma_m3),
            "net_eur": str(latest.net_eur),
            "vat_eur": str(latest.vat_eur),
            "total_eur": str(latest.total_eur),
            "current_register_source": "estimate",
            "next_window": {"start": "2027-02-15", "end": "2027-02-28"},
            "pdf": pdf_url(owner_supply.supply_code, latest),
        }
        # The first period ends on the operator's reading of 31 October.
        assert body[1]["current_register_source"] == "operator"
        assert body[1]["billed_m3"] == 20

    def test_takes_the_supply_code_in_any_case(
        self, api: Client, owner_supply: Supply, billed: None
    ) -> None:
        token = token_for(api, owner_supply)

        response = api.get(bills_url(owner_supply.supply_code.lower()), headers=bearer(token))

        assert response.status_code == 200
        assert len(response.json()) == 2

    def test_lists_nothing_for_a_supply_not_billed_yet(
        self, api: Client, owner_supply: Supply
    ) -> None:
        token = token_for(api, owner_supply)

        response = api.get(bills_url(owner_supply.supply_code), headers=bearer(token))

        assert (response.status_code, response.json()) == (200, [])

    def test_answers_404_for_another_customers_supply_as_for_a_missing_one(
        self, api: Client, owner_supply: Supply, other_supply: Supply, billed: None
    ) -> None:
        token = token_for(api, owner_supply)

        others = api.get(bills_url(other_supply.supply_code), headers=bearer(token))
        missing = api.get(bills_url("S999999"), headers=bearer(token))

        assert others.status_code == missing.status_code == 404
        assert others.json() == missing.json()
        assert others.json()["errors"][0]["code"] == "not_found"

    def test_refuses_without_a_token(self, api: Client, owner_supply: Supply) -> None:
        response = api.get(bills_url(owner_supply.supply_code))

        assert response.status_code == 401

    def test_shows_each_holder_only_the_bills_made_out_to_them(
        self, api: Client, owner_supply: Supply, billed: None
    ) -> None:
        previous_holder = owner_supply.holder
        previous_token = token_for(api, owner_supply)
        newcomer = Customer.objects.create(customer_code="U900001", name="Nuovo Titolare")
        owner_supply.holder = newcomer
        owner_supply.save(update_fields=["holder"])
        new_token = token_for(api, owner_supply)

        theirs = api.get(bills_url(owner_supply.supply_code), headers=bearer(new_token))
        mine = api.get(bills_url(owner_supply.supply_code), headers=bearer(previous_token))

        assert (theirs.status_code, theirs.json()) == (200, [])
        assert mine.status_code == 200
        assert len(mine.json()) == Bill.objects.filter(customer=previous_holder).count() == 2


@pytest.mark.django_db
class TestGetMyBillPdf:
    def test_serves_the_bill_as_a_pdf(
        self, api: Client, owner_supply: Supply, billed: None
    ) -> None:
        token = token_for(api, owner_supply)
        listed = api.get(bills_url(owner_supply.supply_code), headers=bearer(token)).json()

        response = api.get(listed[0]["pdf"], headers=bearer(token))

        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        bill = bills_of(owner_supply)[0]
        assert response["Content-Disposition"] == (
            f'inline; filename="bolletta-{bill.year}-{bill.sequence:06d}.pdf"'
        )
        text = pdf_text(response.content)
        assert f"Bolletta n. {bill.number}" in text
        assert owner_supply.supply_code in text and owner_supply.holder.customer_code in text

    def test_answers_404_for_another_customers_bill_as_for_a_missing_one(
        self, api: Client, owner_supply: Supply, other_supply: Supply, billed: None
    ) -> None:
        token = token_for(api, owner_supply)
        others_bill = bills_of(other_supply)[0]
        missing = Bill(year=2027, sequence=999_999)

        answers = [
            api.get(pdf_url(other_supply.supply_code, others_bill), headers=bearer(token)),
            # Another's bill number under the customer's own supply code.
            api.get(pdf_url(owner_supply.supply_code, others_bill), headers=bearer(token)),
            api.get(pdf_url(owner_supply.supply_code, missing), headers=bearer(token)),
        ]

        assert [a.status_code for a in answers] == [404, 404, 404]
        assert answers[0].json() == answers[1].json() == answers[2].json()

    def test_refuses_without_a_token(self, api: Client, owner_supply: Supply, billed: None) -> None:
        bill = bills_of(owner_supply)[0]

        response = api.get(pdf_url(owner_supply.supply_code, bill))

        assert response.status_code == 401


@pytest.mark.django_db
class TestOpenApi:
    def test_lists_the_bills_next_to_the_other_me_endpoints(self, api: Client) -> None:
        paths = api.get("/api/v1/openapi.json").json()["paths"]

        assert "/api/v1/me/supplies" in paths
        assert "/api/v1/me/supplies/{supply_code}/bills" in paths
        pdf = paths["/api/v1/me/supplies/{supply_code}/bills/{year}/{sequence}.pdf"]["get"]
        assert "application/pdf" in pdf["responses"]["200"]["content"]


# --- The admin ----------------------------------------------------------------------------------


@pytest.fixture
def admin_client(db: None) -> Client:
    user = User.objects.create_superuser("admin", "admin@example.invalid", "s3gret-passw0rd")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def tariff(db: None) -> Tariff:
    tariffs_load(year=2026)
    return Tariff.objects.get(year=2026, usage=Usage.DOMESTIC_RESIDENT)


def tariff_post(tariff: Tariff, **band_changes: dict[str, str]) -> dict[str, Any]:
    """The admin change form of `tariff` as a browser posts it; `band_changes` maps
    "band<position>" to the fields to change in that band."""
    data: dict[str, Any] = {
        "year": tariff.year,
        "usage": tariff.usage,
        "fixed_quota_eur_year": tariff.fixed_quota_eur_year,
        "agevolata_m3_per_member": tariff.agevolata_m3_per_member,
        "sewerage_eur_m3": tariff.sewerage_eur_m3,
        "treatment_eur_m3": tariff.treatment_eur_m3,
        "vat_rate": tariff.vat_rate,
    }
    bands = list(tariff.bands.order_by("position"))
    data.update(
        {
            "bands-TOTAL_FORMS": len(bands),
            "bands-INITIAL_FORMS": len(bands),
            "bands-MIN_NUM_FORMS": 0,
            "bands-MAX_NUM_FORMS": 1000,
        }
    )
    for index, band in enumerate(bands):
        fields = {
            "id": band.pk,
            "tariff": tariff.pk,
            "position": band.position,
            "name": band.name,
            "upper_m3_year": "" if band.upper_m3_year is None else band.upper_m3_year,
            "price_eur_m3": band.price_eur_m3,
        }
        fields.update(band_changes.get(f"band{band.position}", {}))
        data.update({f"bands-{index}-{name}": value for name, value in fields.items()})
    return data


def change_url(tariff: Tariff) -> str:
    return f"/admin/billing/tariff/{tariff.pk}/change/"


def uppers(tariff: Tariff) -> list[str | None]:
    return [
        None if b.upper_m3_year is None else str(b.upper_m3_year)
        for b in tariff.bands.order_by("position")
    ]


@pytest.mark.django_db
class TestTariffAdmin:
    def test_saves_bands_that_follow_each_other(self, admin_client: Client, tariff: Tariff) -> None:
        data = tariff_post(tariff, band3={"upper_m3_year": "210"})

        response = admin_client.post(change_url(tariff), data)

        assert response.status_code == 302, response.content
        assert uppers(tariff) == [None, "120.00", "210.00", "300.00", None]

    def test_refuses_an_overlapping_band_naming_it(
        self, admin_client: Client, tariff: Tariff
    ) -> None:
        # The first excess band would end below the base band.
        data = tariff_post(tariff, band3={"upper_m3_year": "100"})

        response = admin_client.post(change_url(tariff), data)

        assert response.status_code == 200
        (error,) = response.context["inline_admin_formsets"][0].formset.non_form_errors()
        assert error.startswith("This tariff cannot be billed: band '1a eccedenza' ends at 100 m³")
        assert "(120 m³)" in error and "overlap" in error
        assert "the bands overlap" in response.content.decode()
        assert uppers(tariff) == [None, "120.00", "200.00", "300.00", None]

    def test_refuses_a_gap_left_by_a_band_without_an_upper_bound(
        self, admin_client: Client, tariff: Tariff
    ) -> None:
        data = tariff_post(tariff, band2={"upper_m3_year": ""})

        response = admin_client.post(change_url(tariff), data)

        assert response.status_code == 200
        assert "band &#x27;tariffa base&#x27; has no upper bound but is not the last" in (
            response.content.decode()
        )
        assert uppers(tariff)[1] == "120.00"

    def test_refuses_two_bands_in_one_position(self, tariff: Tariff) -> None:
        bands_formset: type[BaseInlineFormSet] = inlineformset_factory(
            Tariff, TariffBand, formset=TariffBandFormSet, fields="__all__", extra=0
        )
        formset = bands_formset(
            tariff_post(tariff, band2={"position": "3"}), instance=tariff, prefix="bands"
        )

        assert not formset.is_valid()
        assert "position" in str(formset.non_form_errors())

    def test_shows_the_bands_in_position_order(self, admin_client: Client, tariff: Tariff) -> None:
        TariffBand.objects.filter(tariff=tariff, position=1).update(position=9)

        response = admin_client.get(change_url(tariff))

        forms = response.context["inline_admin_formsets"][0].formset.forms
        assert [f.instance.position for f in forms] == [2, 3, 4, 5, 9]


@pytest.mark.django_db
class TestBillAdmin:
    def test_lists_bills_by_number(
        self, admin_client: Client, owner_supply: Supply, billed: None
    ) -> None:
        response = admin_client.get("/admin/billing/bill/")

        assert response.status_code == 200
        page = response.content.decode()
        for bill in Bill.objects.all():
            assert bill.number in page

    def test_cannot_add_change_or_delete_a_bill(
        self, admin_client: Client, owner_supply: Supply, billed: None
    ) -> None:
        bill = bills_of(owner_supply)[0]
        total = bill.total_eur

        added = admin_client.get("/admin/billing/bill/add/")
        changed = admin_client.post(f"/admin/billing/bill/{bill.pk}/change/", {"total_eur": "0"})
        deleted = admin_client.post(f"/admin/billing/bill/{bill.pk}/delete/", {"post": "yes"})

        assert added.status_code == 403
        assert changed.status_code == 403
        assert deleted.status_code == 403
        bill.refresh_from_db()
        assert bill.total_eur == total

    def test_shows_a_bill_with_its_lines_read_only(
        self, admin_client: Client, owner_supply: Supply, billed: None
    ) -> None:
        bill = bills_of(owner_supply)[0]

        response = admin_client.get(f"/admin/billing/bill/{bill.pk}/change/")

        assert response.status_code == 200
        page = response.content.decode()
        assert "Quota fissa" in page and "Depurazione" in page
        assert 'name="lines-0-amount"' not in page

    def test_reprints_the_pdf(
        self, admin_client: Client, owner_supply: Supply, billed: None
    ) -> None:
        bill = bills_of(owner_supply)[0]

        response = admin_client.get(f"/admin/billing/bill/{bill.pk}/pdf/")

        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"

    def test_keeps_the_pdf_from_someone_not_signed_in(
        self, api: Client, owner_supply: Supply, billed: None
    ) -> None:
        bill = bills_of(owner_supply)[0]

        response = api.get(f"/admin/billing/bill/{bill.pk}/pdf/")

        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
