"""`autolettura demo`: a realistic data set, loaded through the real service, idempotent."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from autolettura.billing.models import Bill, Tariff
from autolettura.customers.models import Customer, Meter, Supply
from autolettura.demo.services import (
    CUSTOMER_PASSWORD,
    CUSTOMER_USERNAME,
    DEMO_SUPPLY_CODE,
    STAFF_PASSWORD,
    STAFF_USERNAME,
    DemoLoad,
    demo_load,
)
from autolettura.readings import selectors
from autolettura.readings.models import Channel, Reading, Source
from autolettura.readings.services import reading_submit
from autolettura.rules.window import ROME
from tests.api_helpers import Clock, bearer, post_reading
from tests.conftest import rome

# Inside the December 2026 window (15 to 30 December); the last one closed is October's.
NOW = rome(2026, 12, 20, 10, 0)
RECEIPT = re.compile(r"^AL-\d{4}-\d{6}$")
MARCO, ANNA, LUCA, ELENA, ROSA = "400087412", "400133908", "400101256", "400064417", "400031542"


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count() for model in (User, Customer, Supply, Meter, Reading)
    } | {"receipt years": len(selectors.receipt_last_numbers())}


def run_demo(monkeypatch: pytest.MonkeyPatch, now: datetime = NOW) -> str:
    monkeypatch.setattr("autolettura.clock.now", Clock(now))
    out = StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def outcomes(supply_code: str) -> list[tuple[str, str | None]]:
    return list(
        Reading.objects.filter(supply__supply_code=supply_code)
        .order_by("submitted_at")
        .values_list("status", "reason")
    )


@pytest.mark.django_db
class TestDemoLoad:
    def test_loads_nine_customers_ten_supplies_and_two_years_of_readings(self) -> None:
        loaded = demo_load(now=NOW)

        assert loaded.created is True
        found = counts()
        assert found.pop("Reading") > 80
        assert found == {"User": 2, "Customer": 9, "Supply": 10, "Meter": 11, "receipt years": 3}
        first = Reading.objects.order_by("read_on").first()
        assert first is not None
        assert first.read_on >= date(2024, 12, 20)

    def test_running_it_again_changes_nothing(self) -> None:
        demo_load(now=NOW)
        before = counts()
        receipts = set(Reading.objects.values_list("receipt", flat=True))

        again = demo_load(now=NOW)

        assert again.created is False
        assert counts() == before
        assert set(Reading.objects.values_list("receipt", flat=True)) == receipts

    def test_running_it_again_on_a_later_day_changes_nothing(self) -> None:
        demo_load(now=NOW)
        before = counts()

        again = demo_load(now=NOW + timedelta(days=45))

        assert again.created is False
        assert counts() == before

    def test_the_garden_leak_is_one_alert_found_the_morning_its_third_night_ended(self) -> None:
        from autolettura.telemetry.models import Alert

        demo_load(now=NOW)

        (alert,) = Alert.objects.all()
        assert (alert.supply.supply_code, alert.kind) == ("400118362", "continuous_flow")
        # Leaking since the 15th: the third night is the 17th's, found that morning.
        assert alert.seen_on == date(2026, 12, 17) and alert.closed_at is None
        assert alert.opened_at.astimezone(ROME).date() == date(2026, 12, 17)

    def test_every_reading_went_through_the_rules_and_has_a_receipt(self) -> None:
        demo_load(now=NOW)

        readings = Reading.objects.all()
        # Smart meters' readings come in bulk, as imports do: no receipt.
        assert all(RECEIPT.match(r.receipt or "") for r in readings if r.source != Source.REMOTE)
        assert {r.channel for r in readings if r.source == Source.REMOTE} == {Channel.TELEMETRY}
        assert {(r.source, r.channel) for r in readings if r.source == Source.OPERATOR} == {
            (Source.OPERATOR, Channel.IMPORT)
        }
        assert {r.channel for r in readings if r.source == Source.SELF} == {
            Channel.APP,
            Channel.WEB,
            Channel.EMAIL,
            Channel.WHATSAPP,
            Channel.SMS,
            Channel.PHONE,
            Channel.COUNTER,
        }
        assert all(r.submitted_at < NOW for r in readings)

    def test_tells_the_stories_of_a_late_reading_a_typo_and_a_leak(self) -> None:
        demo_load(now=NOW)

        assert ("DISCARDED", "outside_window") in outcomes(LUCA)
        elena = outcomes(ELENA)
        typo = elena.index(("DISCARDED", "implausible"))
        assert elena[typo + 1] == ("ACCEPTED", None)
        assert outcomes(ANNA)[-1] == ("UNDER_REVIEW", "high_consumption")
        discarded_or_reviewed = Reading.objects.exclude(status="ACCEPTED")
        assert discarded_or_reviewed.count() == 3

    def test_the_meter_replaced_a_year_ago_keeps_its_history(self) -> None:
        demo_load(now=NOW)

        old, new = Meter.objects.filter(supply__supply_code=MARCO).order_by("installed_on")
        assert old.removed_on == new.installed_on
        assert old.removed_on is not None
        assert abs((NOW.date() - old.removed_on).days - 365) <= 2
        last_on_old = old.readings.order_by("-read_on").first()
        assert last_on_old is not None
        assert (last_on_old.read_on, last_on_old.value) == (old.removed_on, old.final_reading)
        assert new.readings.filter(status="ACCEPTED").count() >= 3
        profile = selectors.consumption_profile(Supply.objects.get(supply_code=MARCO))
        assert profile.cma.from_history
        assert 150 < profile.cma.m3 < 260

    def test_the_register_near_99999_rolls_over_on_the_next_reading(self) -> None:
        demo_load(now=NOW)
        supply = Supply.objects.select_related("holder").get(supply_code=ROSA)
        assert selectors.last_valid_reading(supply.meters.get()).value == 99_962

        submission = reading_submit(
            channel=Channel.COUNTER,
            reading="00040",
            read_on="20/12/2026",
            supply_code=ROSA,
            customer_code=supply.holder.customer_code,
            now=NOW,
        )

        assert submission.reading.status == "ACCEPTED"
        assert submission.reading.rollover is True
        assert submission.reading.consumption_m3 == 100_000 - 99_962 + 40

    @pytest.mark.parametrize(
        "now",
        [
            rome(2026, 1, 1, 0, 30),
            rome(2026, 3, 29, 2, 30),  # the night the clocks go forward
            rome(2026, 10, 31, 23, 59),  # the last minute of a window
            rome(2028, 2, 29, 12, 0),
            rome(2027, 6, 15, 0, 0),  # the first minute of a window
        ],
    )
    def test_loads_on_any_day_of_the_year(self, now: datetime) -> None:
        demo_load(now=now)

        assert Supply.objects.count() == 10
        assert all(r.submitted_at < now for r in Reading.objects.all())
        assert ("UNDER_REVIEW", "high_consumption") in outcomes(ANNA)
        assert ("DISCARDED", "implausible") in outcomes(ELENA)
        assert ("DISCARDED", "outside_window") in outcomes(LUCA)

    def test_the_staff_user_signs_in_to_the_admin(self, api: Client) -> None:
        demo_load(now=NOW)

        assert api.login(username=STAFF_USERNAME, password=STAFF_PASSWORD)
        response = api.get("/admin/readings/reading/")

        assert response.status_code == 200
        assert b"AL-2026-" in response.content

    def test_keeps_an_existing_user_and_says_its_password_was_not_changed(self) -> None:
        User.objects.create_user(username=STAFF_USERNAME, password="someone-elses")

        loaded = demo_load(now=NOW)

        assert loaded.staff.password_is_demo is False
        assert User.objects.get(username=STAFF_USERNAME).check_password("someone-elses")
        assert loaded.customer.password_is_demo is True


@pytest.mark.django_db
class TestDemoCommand:
    def test_prints_the_same_sign_in_instructions_every_time(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        first = run_demo(monkeypatch)
        second = run_demo(monkeypatch)

        assert first.splitlines()[0] == "Demo data for Acque di Valmora loaded."
        assert (
            second.splitlines()[0]
            == "Demo data for Acque di Valmora already loaded: nothing changed."
        )
        assert first.splitlines()[1:] == second.splitlines()[1:]
        for expected in (
            "http://127.0.0.1:8000/accedi/",
            "http://127.0.0.1:8000/backoffice/",
            "http://127.0.0.1:8000/admin/",
            f"username: {STAFF_USERNAME}",
            f"password: {STAFF_PASSWORD}",
            "http://127.0.0.1:8000/api/v1/docs",
            f"username: {CUSTOMER_USERNAME}",
            f"password: {CUSTOMER_PASSWORD}",
            "curl -s -X POST http://127.0.0.1:8000/api/v1/auth/token",
            "curl -s -X POST http://127.0.0.1:8000/api/v1/readings",
            f'"supply_code": "{DEMO_SUPPLY_CODE}"',
            '"read_on": "20/12/2026"',
        ):
            assert expected in first

    def test_the_printed_reading_is_accepted_inside_the_window(
        self, api: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        printed = run_demo(monkeypatch)
        body = json.loads(re.findall(r"-d '(\{.*\})'", printed)[1])

        response = post_reading(api, body)

        assert response.status_code == 201, response.content
        assert response.json()["status"] == "accepted"
        assert 0 <= response.json()["consumption_m3"] < 40

    def test_outside_the_window_it_says_the_reading_will_be_discarded(
        self, api: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        printed = run_demo(monkeypatch, now=rome(2026, 11, 28, 9, 0))
        body = json.loads(re.findall(r"-d '(\{.*\})'", printed)[1])

        response = post_reading(api, body)

        assert "next window, 15/12/2026 to 30/12/2026" in printed
        assert response.status_code == 201, response.content
        assert (response.json()["status"], response.json()["reason"]) == (
            "discarded",
            "outside_window",
        )


@pytest.mark.django_db
class TestDemoCustomer:
    @pytest.fixture
    def loaded(self, monkeypatch: pytest.MonkeyPatch) -> DemoLoad:
        monkeypatch.setattr("autolettura.clock.now", Clock(NOW))
        return demo_load(now=NOW)

    def test_gets_a_token_and_sees_their_two_supplies(self, api: Client, loaded: DemoLoad) -> None:
        token = self.token(api, loaded)

        response = api.get("/api/v1/me/supplies", headers=bearer(token))

        assert response.status_code == 200
        assert [s["supply_code"] for s in response.json()] == ["400120734", "400120735"]

    def test_sees_their_readings_each_with_its_receipt(self, api: Client, loaded: DemoLoad) -> None:
        token = self.token(api, loaded)

        response = api.get(
            f"/api/v1/me/supplies/{DEMO_SUPPLY_CODE}/readings", headers=bearer(token)
        )

        assert response.status_code == 200
        rows = response.json()
        assert len(rows) == Reading.objects.filter(supply__supply_code=DEMO_SUPPLY_CODE).count()
        assert len(rows) >= 12
        assert all(RECEIPT.match(row["receipt"]) for row in rows)
        assert {row["status"] for row in rows} == {"accepted"}
        receipt = rows[0]["receipt"]
        detail = api.get(f"/api/v1/readings/{receipt}", headers=bearer(token))
        assert detail.status_code == 200
        assert detail.json()["receipt"] == receipt

    def test_cannot_see_another_customers_supply(self, api: Client, loaded: DemoLoad) -> None:
        token = self.token(api, loaded)

        response = api.get(f"/api/v1/me/supplies/{ANNA}/readings", headers=bearer(token))

        assert response.status_code == 404

    def token(self, api: Client, loaded: DemoLoad) -> str:
        response = api.post(
            "/api/v1/auth/token",
            {"username": loaded.customer.username, "password": loaded.customer.password},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        token: str = response.json()["token"]
        return token


@pytest.mark.django_db
class TestDemoBills:
    """The demo is a utility migrated onto the platform a year ago: its supplies are billed
    from 1 November 2025 (the day after the last period end more than a year before NOW),
    each bimonthly period's bill issued ten days after it ended."""

    @pytest.fixture
    def loaded(self, monkeypatch: pytest.MonkeyPatch) -> DemoLoad:
        monkeypatch.setattr("autolettura.clock.now", Clock(NOW))
        return demo_load(now=NOW)

    def test_issues_a_year_of_bills_from_the_billing_start(self, loaded: DemoLoad) -> None:
        assert loaded.billing_starts_on == date(2025, 11, 1)
        assert set(Supply.objects.values_list("billing_starts_on", flat=True)) == {
            date(2025, 11, 1)
        }
        ends = [date(2025, 12, 31)] + [date(2026, m, 28 if m == 2 else 30) for m in (2, 4, 6)]
        ends += [date(2026, 8, 31), date(2026, 10, 31)]
        for supply in Supply.objects.all():
            bills = list(Bill.objects.filter(supply=supply).order_by("period_start"))
            assert [b.period_end for b in bills] == ends, supply.supply_code
            assert bills[0].period_start == date(2025, 11, 1)
            assert all(b.issued_on == b.period_end + timedelta(days=10) for b in bills)
        assert loaded.bills == 60
        assert Tariff.objects.filter(year__in=(2025, 2026, 2027)).count() == 9

    def test_then_bill_run_bills_only_the_period_after_and_none_late(
        self, loaded: DemoLoad
    ) -> None:
        out = StringIO()
        call_command("bill_run", "--through", "2026-12-31", "--issued-on", "2027-01-10", stdout=out)

        made = Bill.objects.filter(issued_on=date(2027, 1, 10))
        assert made.count() == 10
        assert set(made.values_list("period_start", "period_end")) == {
            (date(2026, 11, 1), date(2026, 12, 31))
        }
        printed = out.getvalue()
        assert "10 bills made" in printed
        assert "0 supplies not billed" in printed
        assert "later than the regulator allows" not in printed

    def test_loading_it_again_issues_no_second_bill(self, loaded: DemoLoad) -> None:
        again = demo_load(now=NOW + timedelta(days=45))

        assert again.bills == loaded.bills == Bill.objects.count()

    def test_the_demo_customer_sees_their_bills_and_opens_a_pdf(self, loaded: DemoLoad) -> None:
        client = Client()
        signed_in = client.post(
            "/accedi/", {"username": CUSTOMER_USERNAME, "password": CUSTOMER_PASSWORD}
        )
        assert signed_in.status_code == 302, signed_in.content

        page = client.get(f"/area-clienti/utenze/{DEMO_SUPPLY_CODE}/")

        assert page.status_code == 200
        html = page.content.decode()
        links = re.findall(rf'href="(/area-clienti/utenze/{DEMO_SUPPLY_CODE}/[^"]+)"', html)
        pdfs = [link for link in links if "bollett" in link or link.endswith(".pdf")]
        assert len(pdfs) == 6, links
        document = client.get(pdfs[0])
        assert document.status_code == 200
        assert document["Content-Type"] == "application/pdf"
        assert document.content.startswith(b"%PDF-")
        assert "Nessuna bolletta" not in html and "No bill yet" not in html

    def test_prints_the_billing_start_and_the_next_run(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        printed = run_demo(monkeypatch)

        assert "Bills: 60, issued from 01/11/2025" in printed
        assert "autolettura bill-run --through 2026-12-31" in printed
