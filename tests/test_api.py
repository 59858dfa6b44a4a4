"""The JSON API v1, end to end through the test client (DESIGN.md section 7).

The clock is pinned at 20 December 2026, 10:00 in Rome, inside the December window
(15 to 30 December); the next window runs from 15 to 28 February 2027.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from autolettura.customers.models import Supply
from autolettura.readings.models import Channel, InboundMessage, Reading
from autolettura.readings.services import reading_submit
from tests.api_helpers import (
    PASSWORD,
    Clock,
    bearer,
    codes,
    post_reading,
    requires_postgres,
    run_together,
    submit,
    token_for,
)
from tests.conftest import make_customer_user, make_supply, rome

NOW = rome(2026, 12, 20, 10, 0)
DECEMBER = {"start": "2026-12-15", "end": "2026-12-30"}
FEBRUARY = {"start": "2027-02-15", "end": "2027-02-28"}
RECEIPT = re.compile(r"AL-\d{4}-\d{6}")


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(NOW)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture
def fitted_dec_1(db: None) -> Supply:
    """A meter fitted on 1 December 2026 showing 1000: 19 days before the clock."""
    return make_supply(installed_on=date(2026, 12, 1), initial_reading=1000)


def error_codes(response: object) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in response.json()["errors"]]  # type: ignore[attr-defined]


@pytest.mark.django_db
class TestSubmitAReading:
    def test_takes_a_reading_in_charge_with_201_and_the_whole_answer(
        self, api: Client, supply: Supply
    ) -> None:
        response = submit(api, supply, "00012")

        assert response.status_code == 201
        body = response.json()
        assert body == {
            "receipt": "AL-2026-000001",
            "status": "accepted",
            "reason": None,
            "message": body["message"],
            "consumption_m3": 12,
            "window": DECEMBER,
            "supply_code": supply.supply_code,
            "reading": "00012",
            "read_on": "2026-12-20",
            "source": "self",
            "channel": "app",
        }
        assert "AL-2026-000001" in body["message"]
        reading = Reading.objects.get()
        assert (reading.receipt, reading.value, reading.channel) == ("AL-2026-000001", 12, "APP")

    def test_takes_an_integer_reading_an_iso_date_and_the_web_channel(
        self, api: Client, supply: Supply
    ) -> None:
        response = post_reading(
            api, {**codes(supply), "reading": 12, "read_on": "2026-12-19", "channel": "web"}
        )

        assert response.status_code == 201
        assert (response.json()["read_on"], response.json()["channel"]) == ("2026-12-19", "web")

    def test_logs_the_submission_before_taking_it(self, api: Client, supply: Supply) -> None:
        response = submit(api, supply, "12", address="203.0.113.7")

        message = InboundMessage.objects.get()
        assert (message.channel, message.sender) == ("APP", "203.0.113.7")
        assert message.reading is not None
        assert message.reading.receipt == response.json()["receipt"]
        assert message.errors is None

    def test_a_repeat_answers_200_with_the_first_receipt(
        self, api: Client, supply: Supply, clock: Clock
    ) -> None:
        first = submit(api, supply, "12")
        clock.now = NOW + timedelta(hours=3)

        again = submit(api, supply, "0012", read_on="2026-12-20")

        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["receipt"] == first.json()["receipt"]
        assert again.json()["status"] == "accepted"
        assert Reading.objects.count() == 1

    def test_an_idempotency_key_retry_returns_the_first_answer(
        self, api: Client, supply: Supply, clock: Clock
    ) -> None:
        first = submit(api, supply, "12", idempotency_key="retry-7f3a")
        clock.now = NOW + timedelta(minutes=2)

        retry = submit(api, supply, "12", idempotency_key="retry-7f3a")

        assert (first.status_code, retry.status_code) == (201, 200)
        assert retry.json() == first.json()
        assert Reading.objects.count() == InboundMessage.objects.count() == 1

    def test_an_idempotency_key_does_not_answer_another_submission(
        self, api: Client, supply: Supply
    ) -> None:
        other = make_supply()
        first = submit(api, supply, "12", idempotency_key="1")

        second = submit(api, other, "34", idempotency_key="1")

        assert second.status_code == 201
        assert second.json()["supply_code"] == other.supply_code
        assert second.json()["receipt"] != first.json()["receipt"]
        assert Reading.objects.count() == 2

    def test_takes_an_idempotency_key_of_any_length(self, api: Client, supply: Supply) -> None:
        key = "k" * 500

        first = submit(api, supply, "12", idempotency_key=key)
        retry = submit(api, supply, "12", idempotency_key=key)

        assert (first.status_code, retry.status_code) == (201, 200)
        assert InboundMessage.objects.count() == 1

    def test_an_idempotency_key_retry_of_a_format_error_gives_the_same_errors(
        self, api: Client, supply: Supply
    ) -> None:
        first = submit(api, supply, "12,5", idempotency_key="k-1")

        retry = submit(api, supply, "12,5", idempotency_key="k-1")

        assert first.status_code == retry.status_code == 422
        assert retry.content == first.content
        assert not Reading.objects.exists()


@pytest.mark.django_db
class TestFormatErrors:
    @pytest.mark.parametrize(
        ("reading", "read_on", "field", "code"),
        [
            ("12,5", "20/12/2026", "reading", "decimals_not_allowed"),
            ("12.5", "20/12/2026", "reading", "decimals_not_allowed"),
            (12.5, "20/12/2026", "reading", "decimals_not_allowed"),
            ("12a45", "20/12/2026", "reading", "reading_invalid"),
            ("dodici", "20/12/2026", "reading", "reading_invalid"),
            ("123456", "20/12/2026", "reading", "too_many_digits"),
            (10**12, "20/12/2026", "reading", "too_many_digits"),
            (-5, "20/12/2026", "reading", "reading_invalid"),
            ("12", "31/02/2026", "read_on", "date_invalid"),
            ("12", "2026-02-31", "read_on", "date_invalid"),
            ("12", "20/12/26", "read_on", "date_invalid"),
            ("12", "20 dicembre", "read_on", "date_invalid"),
            ("12", "21/12/2026", "read_on", "date_in_future"),
            ("12", "01/01/2020", "read_on", "date_before_meter"),
        ],
    )
    def test_answers_422_naming_the_field_and_logs_the_message_without_a_reading(
        self,
        api: Client,
        supply: Supply,
        reading: object,
        read_on: str,
        field: str,
        code: str,
    ) -> None:
        response = submit(api, supply, reading, read_on=read_on)

        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert (error["field"], error["code"]) == (field, code)
        assert error["message"]
        message = InboundMessage.objects.get()
        assert message.errors == [{"field": field, "code": code}]
        assert message.reading is None
        assert message.processed_at == NOW
        assert not Reading.objects.exists()

    def test_says_how_many_digits_the_meter_has(self, api: Client, db: None) -> None:
        supply = make_supply(digits=4)

        response = submit(api, supply, "12345")

        assert error_codes(response) == [("reading", "too_many_digits")]
        assert "4" in response.json()["errors"][0]["message"]

    def test_reports_every_format_error_of_a_request(self, api: Client, supply: Supply) -> None:
        response = post_reading(
            api,
            {
                "supply_code": supply.supply_code,
                "customer_code": "",
                "reading": "12,5",
                "read_on": "31/02/2026",
            },
        )

        assert response.status_code == 422
        errors = response.json()["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [
            ("customer_code", "required"),
            ("reading", "decimals_not_allowed"),
            ("read_on", "date_invalid"),
        ]
        assert all(e["message"] for e in errors)
        assert len({e["message"] for e in errors}) == 3
        assert InboundMessage.objects.get().errors == [
            {"field": "customer_code", "code": "required"},
            {"field": "reading", "code": "decimals_not_allowed"},
            {"field": "read_on", "code": "date_invalid"},
        ]
        assert not Reading.objects.exists()

    def test_names_every_missing_field(self, api: Client, db: None) -> None:
        response = post_reading(api, {})

        assert response.status_code == 422
        assert error_codes(response) == [
            ("supply_code", "required"),
            ("customer_code", "required"),
            ("reading", "required"),
        ]

    def test_a_missing_date_is_today(self, api: Client, supply: Supply) -> None:
        response = post_reading(api, {**codes(supply), "reading": "12"})

        assert response.status_code == 201
        assert response.json()["read_on"] == "2026-12-20"

    def test_answers_a_body_of_the_wrong_shape_in_the_same_format(
        self, api: Client, supply: Supply
    ) -> None:
        response = post_reading(api, {**codes(supply), "reading": [1, 2], "channel": "fax"})

        assert response.status_code == 422
        assert sorted(error_codes(response)) == [
            ("channel", "channel_invalid"),
            ("reading", "reading_invalid"),
        ]
        assert all(e["message"] for e in response.json()["errors"])
        assert not Reading.objects.exists()

    def test_a_code_sent_as_a_number_is_named(self, api: Client, supply: Supply) -> None:
        response = post_reading(
            api, {"supply_code": 123, "customer_code": supply.holder.customer_code, "reading": "1"}
        )

        assert response.status_code == 422
        assert error_codes(response) == [("supply_code", "code_invalid")]
        assert "codice utenza" in response.json()["errors"][0]["message"]

    @pytest.mark.parametrize("reading", [True, False, None, {"value": 12}])
    def test_a_reading_that_is_not_a_string_or_a_number_is_refused(
        self, api: Client, supply: Supply, reading: object
    ) -> None:
        response = submit(api, supply, reading)

        assert response.status_code == 422
        assert error_codes(response)[0][0] == "reading"
        assert not Reading.objects.exists()

    def test_answers_a_body_that_is_not_json_in_the_same_format(self, api: Client) -> None:
        response = api.post("/api/v1/readings", "reading=12", content_type="application/json")

        assert response.status_code == 400
        assert error_codes(response) == [(None, "body_invalid")]
        assert response.json()["errors"][0]["message"]

    def test_speaks_italian_by_default(self, api: Client, supply: Supply) -> None:
        response = submit(api, supply, "12,5")

        assert "decimali" in response.json()["errors"][0]["message"]

    def test_speaks_english_on_request(self, api: Client, supply: Supply) -> None:
        response = submit(api, supply, "12,5", language="en")

        assert response.json()["errors"][0]["message"].startswith(
            "Send the reading without decimals"
        )


@pytest.mark.django_db
class TestIdentification:
    def test_refuses_codes_that_do_not_match(self, api: Client, supply: Supply) -> None:
        response = post_reading(
            api,
            {**codes(supply), "customer_code": "U999999", "reading": "1", "read_on": "20/12/2026"},
        )

        assert response.status_code == 422
        assert error_codes(response) == [("codes", "codes_mismatch")]
        assert InboundMessage.objects.get().errors == [{"field": "codes", "code": "codes_mismatch"}]
        assert not Reading.objects.exists()

    def test_a_wrong_customer_code_and_an_unknown_supply_give_identical_answers(
        self, api: Client, supply: Supply
    ) -> None:
        other = make_supply()
        body = {"reading": "12", "read_on": "20/12/2026"}
        attempts = [
            # an existing supply, a customer code that does not exist
            {"supply_code": supply.supply_code, "customer_code": "U999999"},
            # an existing supply, the code of a customer who holds another supply
            {"supply_code": supply.supply_code, "customer_code": other.holder.customer_code},
            # a supply that does not exist, an existing customer code
            {"supply_code": "S999999", "customer_code": supply.holder.customer_code},
            # neither exists
            {"supply_code": "S999998", "customer_code": "U999998"},
        ]

        responses = [post_reading(api, {**attempt, **body}) for attempt in attempts]

        assert {r.status_code for r in responses} == {422}
        assert len({r.content for r in responses}) == 1
        assert error_codes(responses[0]) == [("codes", "codes_mismatch")]

    def test_the_same_holds_alongside_other_errors(self, api: Client, supply: Supply) -> None:
        body = {"reading": "123456", "read_on": "31/02/2026"}

        wrong_customer = post_reading(
            api, {"supply_code": supply.supply_code, "customer_code": "U999999", **body}
        )
        unknown_supply = post_reading(
            api, {"supply_code": "S999999", "customer_code": supply.holder.customer_code, **body}
        )

        assert wrong_customer.status_code == unknown_supply.status_code == 422
        assert wrong_customer.content == unknown_supply.content


@pytest.mark.django_db
class TestOutcomes:
    def test_discards_a_reading_outside_the_window_naming_the_next_one(
        self, api: Client, supply: Supply, clock: Clock
    ) -> None:
        clock.now = rome(2027, 1, 10, 9, 0)

        response = submit(api, supply, "12", read_on="10/01/2027")

        assert response.status_code == 201
        body = response.json()
        assert (body["status"], body["reason"]) == ("discarded", "outside_window")
        assert RECEIPT.fullmatch(body["receipt"])
        assert body["window"] == FEBRUARY
        assert "15/02/2027" in body["message"]
        assert "28/02/2027" in body["message"]
        assert body["receipt"] in body["message"]

    def test_discards_a_value_lower_than_the_previous(
        self, api: Client, fitted_dec_1: Supply
    ) -> None:
        body = submit(api, fitted_dec_1, "900").json()

        assert (body["status"], body["reason"], body["consumption_m3"]) == (
            "discarded",
            "lower_than_previous",
            None,
        )
        assert body["message"]

    def test_accepts_a_rollover_with_the_consumption_across_the_wrap(
        self, api: Client, db: None
    ) -> None:
        supply = make_supply(installed_on=date(2026, 1, 1), initial_reading=99950)

        response = submit(api, supply, "00020")

        assert response.status_code == 201
        body = response.json()
        assert (body["status"], body["reason"], body["consumption_m3"]) == ("accepted", None, 70)
        assert "70" in body["message"]

    def test_discards_a_reading_older_than_the_last_one(
        self, api: Client, fitted_dec_1: Supply
    ) -> None:
        assert submit(api, fitted_dec_1, "1005", read_on="18/12/2026").json()["status"] == (
            "accepted"
        )

        body = submit(api, fitted_dec_1, "1003", read_on="16/12/2026").json()

        assert (body["status"], body["reason"]) == ("discarded", "older_than_last_reading")

    def test_discards_an_implausible_consumption(self, api: Client, fitted_dec_1: Supply) -> None:
        body = submit(api, fitted_dec_1, "10050").json()

        assert (body["status"], body["reason"], body["consumption_m3"]) == (
            "discarded",
            "implausible",
            9050,
        )
        assert "9050" in body["message"]

    def test_sends_a_high_consumption_for_review_and_warns_of_a_leak(
        self, api: Client, fitted_dec_1: Supply
    ) -> None:
        response = submit(api, fitted_dec_1, "1100", language="en")

        assert response.status_code == 201
        body = response.json()
        assert (body["status"], body["reason"], body["consumption_m3"]) == (
            "under_review",
            "high_consumption",
            100,
        )
        assert "leak" in body["message"]


@pytest.mark.django_db
class TestThrottling:
    @pytest.fixture(autouse=True)
    def _mid_minute(self, clock: Clock) -> None:
        # Counters run per minute: at 10:00:45 the current minute has 15 seconds left.
        clock.now = NOW + timedelta(seconds=45)

    @override_settings(AUTOLETTURA_THROTTLE_PER_ADDRESS=3)
    def test_limits_anonymous_submissions_per_client_address(self, api: Client, db: None) -> None:
        supplies = [make_supply() for _ in range(4)]

        answers = [submit(api, s, "12", address="198.51.100.1") for s in supplies]
        elsewhere = submit(api, supplies[3], "12", address="198.51.100.2")

        assert [r.status_code for r in answers] == [201, 201, 201, 429]
        assert answers[3]["Retry-After"] == "15"
        assert error_codes(answers[3]) == [(None, "throttled")]
        assert "15" in answers[3].json()["errors"][0]["message"]
        assert elsewhere.status_code == 201
        assert Reading.objects.count() == 4

    @override_settings(AUTOLETTURA_THROTTLE_PER_ADDRESS=1)
    def test_lets_the_address_in_again_when_the_minute_is_over(
        self, api: Client, supply: Supply, clock: Clock
    ) -> None:
        assert submit(api, supply, "12").status_code == 201
        throttled = submit(api, supply, "13")
        clock.now += timedelta(seconds=int(throttled["Retry-After"]))

        assert throttled.status_code == 429
        assert submit(api, supply, "13").status_code == 201

    @override_settings(AUTOLETTURA_THROTTLE_PER_ADDRESS=2)
    def test_a_forged_forwarded_for_header_does_not_change_the_address(
        self, api: Client, supply: Supply
    ) -> None:
        answers = [
            api.post(
                "/api/v1/readings",
                {**codes(supply), "reading": str(n)},
                content_type="application/json",
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
                REMOTE_ADDR="198.51.100.1",
            )
            for n in range(3)
        ]

        assert [r.status_code for r in answers] == [201, 201, 429]

    @override_settings(
        AUTOLETTURA_THROTTLE_PER_ADDRESS=1,
        AUTOLETTURA_TRUSTED_PROXIES=1,
    )
    def test_behind_a_trusted_proxy_counts_the_address_it_saw(
        self, api: Client, supply: Supply
    ) -> None:
        def via_proxy(forwarded_for: str, reading: str) -> int:
            return post_reading(
                api,
                {**codes(supply), "reading": reading},
                address="10.0.0.1",
                forwarded_for=forwarded_for,
            ).status_code

        # The client may prepend anything; the proxy appends the address it saw.
        assert via_proxy("198.51.100.1", "10") == 201
        assert via_proxy("192.0.2.77, 198.51.100.1", "11") == 429
        assert via_proxy("198.51.100.2", "12") == 201

    @override_settings(
        AUTOLETTURA_THROTTLE_PER_ADDRESS=100,
        AUTOLETTURA_FAILURES_PER_SOURCE=100,
        AUTOLETTURA_FAILURES_PER_TARGET=2,
    )
    def test_limits_wrong_codes_per_supply_code_from_the_addresses_that_failed(
        self, api: Client, supply: Supply
    ) -> None:
        answers = [
            post_reading(
                api,
                {"supply_code": supply.supply_code, "customer_code": f"U{n}", "reading": "1"},
                address=f"198.51.100.{n}",
            )
            for n in range(2)
        ]
        # The same code written differently is the same code.
        respelled = post_reading(
            api,
            {
                "supply_code": f" {supply.supply_code.lower()} ",
                "customer_code": "U9",
                "reading": "1",
            },
            address="198.51.100.0",
        )

        assert [r.status_code for r in answers] == [422, 422]
        assert respelled.status_code == 429
        assert int(respelled["Retry-After"]) > 0
        assert "Retry-After" not in answers[0]

    @override_settings(AUTOLETTURA_THROTTLE_PER_ADDRESS=100, AUTOLETTURA_FAILURES_PER_SOURCE=1)
    def test_an_unknown_supply_code_is_limited_like_an_existing_one(
        self, api: Client, supply: Supply
    ) -> None:
        def twice(supply_code: str, address: str) -> list[tuple[int, bytes]]:
            body = {"supply_code": supply_code, "customer_code": "U999999", "reading": "1"}
            return [
                (r.status_code, r.content)
                for r in (post_reading(api, body, address=address) for _ in range(2))
            ]

        assert twice(supply.supply_code, "198.51.100.1") == twice("S999999", "198.51.100.2")

    @override_settings(AUTOLETTURA_THROTTLE_PER_ADDRESS=1, AUTOLETTURA_FAILURES_PER_SOURCE=1)
    def test_does_not_limit_a_customer_signed_in_with_a_token(
        self, api: Client, supply: Supply
    ) -> None:
        token = token_for(api, supply)

        answers = [
            post_reading(api, {"reading": str(v), "read_on": "20/12/2026"}, token=token)
            for v in (10, 11, 12)
        ]

        assert [r.status_code for r in answers] == [201, 201, 201]

    @override_settings(AUTOLETTURA_THROTTLE_PER_ADDRESS=2)
    def test_limits_following_receipts_per_client_address(
        self, api: Client, supply: Supply
    ) -> None:
        answers = [
            api.get("/api/v1/readings/AL-2026-000001", codes(supply), REMOTE_ADDR="198.51.100.5")
            for _ in range(3)
        ]

        assert [r.status_code for r in answers] == [404, 404, 429]
        assert answers[2]["Retry-After"] == "15"

    @override_settings(AUTOLETTURA_FAILURES_PER_SOURCE=2, AUTOLETTURA_FAILURES_PER_TARGET=2)
    def test_limits_password_guesses_per_address_and_per_account(
        self, api: Client, supply: Supply
    ) -> None:
        user = make_customer_user(supply.holder)

        def guess(username: str, address: str) -> int:
            return api.post(
                "/api/v1/auth/token",
                {"username": username, "password": "guess"},
                content_type="application/json",
                REMOTE_ADDR=address,
            ).status_code

        many_usernames = [guess(f"user{n}", "203.0.113.1") for n in range(3)]
        # Many addresses guessing one account: those that failed on it are stopped.
        from_many_addresses = [guess(user.username, f"198.51.100.{n}") for n in range(2)]
        again = guess(f"  {user.username}  ", "198.51.100.0")

        assert many_usernames == [401, 401, 429]
        assert from_many_addresses == [401, 401]
        assert again == 429


@pytest.mark.django_db
class TestTokens:
    def test_issues_a_token_for_a_customers_password(self, api: Client, supply: Supply) -> None:
        user = make_customer_user(supply.holder)

        response = api.post(
            "/api/v1/auth/token",
            {"username": user.username, "password": PASSWORD},
            content_type="application/json",
        )

        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert len(body["token"]) >= 32
        assert body["expires_at"].startswith("2027-01-19")

    def test_refuses_a_wrong_password(self, api: Client, supply: Supply) -> None:
        user = make_customer_user(supply.holder)

        response = api.post(
            "/api/v1/auth/token",
            {"username": user.username, "password": "wrong"},
            content_type="application/json",
        )

        assert response.status_code == 401
        assert "token" not in response.json()
        assert response.json()["errors"][0]["message"]

    def test_refuses_a_staff_user_who_is_not_a_customer(self, api: Client, db: None) -> None:
        User.objects.create_user(username="operatore", password=PASSWORD, is_staff=True)
        User.objects.create_superuser(username="admin", password=PASSWORD)

        answers = [
            api.post(
                "/api/v1/auth/token",
                {"username": name, "password": PASSWORD},
                content_type="application/json",
            )
            for name in ("operatore", "admin")
        ]

        assert [r.status_code for r in answers] == [401, 401]

    def test_refuses_an_unknown_a_malformed_and_an_expired_token(
        self, api: Client, supply: Supply, clock: Clock
    ) -> None:
        token = token_for(api, supply)
        headers = [
            bearer("not-a-token"),
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": "Bearer"},
        ]

        answers = [api.get("/api/v1/me/supplies", headers=h) for h in headers]
        answers.append(api.get("/api/v1/me/supplies"))
        clock.now = NOW + timedelta(days=31)
        answers.append(api.get("/api/v1/me/supplies", headers=bearer(token)))

        assert [r.status_code for r in answers] == [401] * 5
        assert all(error_codes(r) == [(None, "unauthorized")] for r in answers)

    def test_a_submission_with_a_bad_token_is_refused_not_taken_anonymously(
        self, api: Client, supply: Supply
    ) -> None:
        response = submit(api, supply, "12", token="not-a-token")

        assert response.status_code == 401
        assert not Reading.objects.exists()

    def test_a_token_stops_working_when_the_user_is_deactivated(
        self, api: Client, supply: Supply
    ) -> None:
        token = token_for(api, supply)
        User.objects.filter(customer=supply.holder).update(is_active=False)

        assert api.get("/api/v1/me/supplies", headers=bearer(token)).status_code == 401


@pytest.mark.django_db
class TestTokenIsolation:
    @pytest.fixture
    def mine(self, db: None) -> Supply:
        return make_supply(installed_on=date(2026, 12, 1), initial_reading=1000)

    @pytest.fixture
    def theirs(self, db: None) -> Supply:
        return make_supply(installed_on=date(2026, 12, 1), initial_reading=1000)

    def test_submits_for_the_only_supply_without_codes(self, api: Client, mine: Supply) -> None:
        token = token_for(api, mine)

        response = post_reading(api, {"reading": "1004", "read_on": "20/12/2026"}, token=token)

        assert response.status_code == 201
        assert response.json()["supply_code"] == mine.supply_code
        assert response.json()["consumption_m3"] == 4

    def test_refuses_another_customers_supply_code_with_the_generic_error(
        self, api: Client, mine: Supply, theirs: Supply
    ) -> None:
        token = token_for(api, mine)

        with_their_codes = post_reading(
            api, {**codes(theirs), "reading": "1004", "read_on": "20/12/2026"}, token=token
        )
        with_their_supply_code = post_reading(
            api,
            {"supply_code": theirs.supply_code, "reading": "1004", "read_on": "20/12/2026"},
            token=token,
        )

        for response in (with_their_codes, with_their_supply_code):
            assert response.status_code == 422
            assert error_codes(response) == [("codes", "codes_mismatch")]
        assert not Reading.objects.exists()

    def test_another_customers_supply_is_not_found_under_me(
        self, api: Client, mine: Supply, theirs: Supply
    ) -> None:
        token = token_for(api, mine)

        theirs_answers = [
            api.get(f"/api/v1/me/supplies/{theirs.supply_code}/{what}", headers=bearer(token))
            for what in ("readings", "consumption")
        ]
        missing_answers = [
            api.get(f"/api/v1/me/supplies/S999999/{what}", headers=bearer(token))
            for what in ("readings", "consumption")
        ]

        assert [r.status_code for r in theirs_answers] == [404, 404]
        assert [r.content for r in theirs_answers] == [r.content for r in missing_answers]
        assert error_codes(theirs_answers[0]) == [(None, "not_found")]
        mine_listed = api.get("/api/v1/me/supplies", headers=bearer(token)).json()
        assert [s["supply_code"] for s in mine_listed] == [mine.supply_code]

    def test_an_operators_session_does_not_open_the_customer_api(
        self, api: Client, mine: Supply
    ) -> None:
        receipt = submit(api, mine, "1004").json()["receipt"]
        operator = User.objects.create_user(username="operatore", is_staff=True)
        api.force_login(operator)

        assert api.get("/api/v1/me/supplies").status_code == 401
        assert api.get(f"/api/v1/readings/{receipt}").status_code == 404

    def test_follows_a_receipt_with_a_token_or_the_codes_and_refuses_others(
        self, api: Client, mine: Supply, theirs: Supply
    ) -> None:
        receipt = submit(api, mine, "1004").json()["receipt"]
        my_token = token_for(api, mine)
        their_token = token_for(api, theirs)
        url = f"/api/v1/readings/{receipt}"

        by_token = api.get(url, headers=bearer(my_token))
        by_codes = api.get(url, codes(mine))
        by_codes_lower_receipt = api.get(url.lower(), codes(mine))
        refused = [
            api.get(url, headers=bearer(their_token)),
            api.get(url, codes(theirs)),
            api.get(url, {**codes(mine), "customer_code": theirs.holder.customer_code}),
            api.get(url),
            api.get("/api/v1/readings/AL-2026-999999", codes(mine)),
        ]

        assert by_token.status_code == by_codes.status_code == 200
        assert by_codes_lower_receipt.status_code == 200
        assert by_token.json() == by_codes.json()
        assert by_token.json()["receipt"] == receipt
        assert by_token.json()["status"] == "accepted"
        assert [r.status_code for r in refused] == [404] * 5
        assert len({r.content for r in refused}) == 1
        assert error_codes(refused[0]) == [(None, "not_found")]
        assert api.get(url, headers=bearer("not-a-token")).status_code == 401


@pytest.mark.django_db
class TestMySupplies:
    def test_lists_the_customers_supplies_with_meter_and_window(
        self, api: Client, supply: Supply
    ) -> None:
        second = make_supply(customer=supply.holder, digits=6, household_members=2)
        token = token_for(api, supply)

        response = api.get("/api/v1/me/supplies", headers=bearer(token))

        assert response.status_code == 200
        assert response.json() == [
            {
                "supply_code": s.supply_code,
                "address": s.address,
                "usage": "domestic_resident",
                "household_members": s.household_members,
                "meter": {
                    "serial": s.meters.get().serial,
                    "digits": s.meters.get().digits,
                    "installed_on": "2024-01-01",
                },
                "window": DECEMBER,
                "last_reading": None,
            }
            for s in sorted([supply, second], key=lambda s: s.supply_code)
        ]

    def test_lists_a_supplys_readings_newest_first(
        self, api: Client, supply: Supply, clock: Clock
    ) -> None:
        token = token_for(api, supply)
        first = submit(api, supply, "10", read_on="18/12/2026").json()
        clock.now = rome(2026, 12, 21, 8, 0)
        second = submit(api, supply, "9", read_on="21/12/2026").json()

        response = api.get(
            f"/api/v1/me/supplies/{supply.supply_code.lower()}/readings", headers=bearer(token)
        )

        assert response.status_code == 200
        assert response.json() == [
            {
                "receipt": second["receipt"],
                "read_on": "2026-12-21",
                "reading": "00009",
                "source": "self",
                "channel": "app",
                "status": "discarded",
                "reason": "lower_than_previous",
                "consumption_m3": None,
                "submitted_at": "2026-12-21T07:00:00Z",
                "voided": False,
            },
            {
                "receipt": first["receipt"],
                "read_on": "2026-12-18",
                "reading": "00010",
                "source": "self",
                "channel": "app",
                "status": "accepted",
                "reason": None,
                "consumption_m3": 10,
                "submitted_at": "2026-12-20T09:00:00Z",
                "voided": False,
            },
        ]

    def test_shows_the_consumption_profile(self, api: Client, db: None) -> None:
        supply = make_supply(installed_on=date(2025, 1, 1), initial_reading=0)
        for value, day in ((150, date(2025, 12, 20)), (300, date(2026, 12, 20))):
            reading_submit(
                channel=Channel.APP,
                supply_code=supply.supply_code,
                customer_code=supply.holder.customer_code,
                reading=value,
                read_on=day,
                now=rome(day.year, day.month, day.day, 9, 0),
            )
        token = token_for(api, supply)

        response = api.get(
            f"/api/v1/me/supplies/{supply.supply_code}/consumption", headers=bearer(token)
        )

        assert response.status_code == 200
        body = response.json()
        assert Decimal(body["cma_m3"]) == Decimal("150")
        assert body["cma_from_history"] is True
        assert [
            (p["start"], p["end"], p["consumption_m3"], Decimal(p["daily_average_m3"]))
            for p in body["periods"]
        ] == [
            ("2025-01-01", "2025-12-20", 150, Decimal("0.425")),
            ("2025-12-20", "2026-12-20", 150, Decimal("0.411")),
        ]

    def test_a_new_supply_has_the_default_consumption_and_no_periods(
        self, api: Client, supply: Supply
    ) -> None:
        token = token_for(api, supply)

        body = api.get(
            f"/api/v1/me/supplies/{supply.supply_code}/consumption", headers=bearer(token)
        ).json()

        assert (Decimal(body["cma_m3"]), body["cma_from_history"], body["periods"]) == (
            Decimal("150"),
            False,
            [],
        )


@pytest.mark.django_db
class TestOpenApi:
    def test_the_openapi_document_describes_the_endpoints(self, api: Client) -> None:
        response = api.get("/api/v1/openapi.json")

        assert response.status_code == 200
        paths = response.json()["paths"]
        for path in (
            "/api/v1/readings",
            "/api/v1/readings/{receipt}",
            "/api/v1/auth/token",
            "/api/v1/me/supplies",
            "/api/v1/me/supplies/{supply_code}/readings",
            "/api/v1/me/supplies/{supply_code}/consumption",
        ):
            assert path in paths
        assert set(paths["/api/v1/readings"]["post"]["responses"]) >= {"200", "201", "422", "429"}

    def test_the_docs_page_loads(self, api: Client) -> None:
        assert api.get("/api/v1/docs").status_code == 200


@pytest.mark.postgres
@requires_postgres
@pytest.mark.django_db(transaction=True)
class TestParallelSubmissionsThroughTheApi:
    @override_settings(AUTOLETTURA_THROTTLE_PER_ADDRESS=1000)
    def test_the_same_reading_sent_at_once_gets_one_receipt(self) -> None:
        supply = make_supply()
        body = {**codes(supply), "reading": "00042", "read_on": "20/12/2026"}

        answers = run_together(8, lambda _: post_reading(Client(), body))

        assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
        assert len({r.json()["receipt"] for r in answers}) == 1
        assert Reading.objects.count() == 1
        assert InboundMessage.objects.count() == 8
        assert set(InboundMessage.objects.values_list("reading_id", flat=True)) == {
            Reading.objects.get().pk
        }
