"""An attacker locks a customer out with public information, or slips past a limit by
writing a name differently.

Before: ten wrong passwords for a username, from anywhere, refused the real customer's
token for a minute; ten sign-ups with a customer code (printed on the bill) refused the
real customer's sign-up for 52 minutes; a fault's ticket, the same for its reporter; and
`"  giulia.ferrari  "` or a ticket with trailing spaces were counted apart from the name
the lookup found. Sign-in allowed five wrong passwords for the username and five more for
the e-mail address of the same account.

Now failures are counted per (source, target), the target as the lookup normalises it: a
source that has not failed is never blocked, and a source that has is stopped whatever
spelling it uses.

A supply has two names, its supply code and the regulator's 16-digit user code (issue 14,
item 5), and each was a target of its own: a stranger who had used up the guesses at a
supply with one had as many again with the other. Now the target is the supply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.cache import cache
from django.test import Client, override_settings
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.customers.models import Supply
from autolettura.customers.services import supply_identify_guarded, supply_user_codes_assign
from autolettura.throttling import FailureLimit, Throttled
from tests.api_helpers import Clock, post_reading
from tests.ops.processes import REDIS_SERVER, PrivateRedis
from tests.portal.support import DECEMBER_20, PASSWORD, customer_with_supply, with_account

pytestmark = pytest.mark.django_db

SUPPLY_CODE, CUSTOMER_CODE = "400120734", "1004127"


@pytest.fixture
def mine() -> Supply:
    return customer_with_supply(customer_code=CUSTOMER_CODE, supply_code=SUPPLY_CODE)


@pytest.fixture
def giulia(mine: Supply) -> User:
    user = with_account(mine, email="giulia@example.org")
    user.username = "giulia.ferrari"
    user.save()
    return user


def token(username: str, password: str, address: str) -> Any:
    return Client().post(
        "/api/v1/auth/token",
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


class TestTokenEndpoint:
    def test_wrong_passwords_from_elsewhere_do_not_block_the_customers_token(
        self, giulia: User
    ) -> None:
        for n in range(12):
            token("giulia.ferrari", f"guess-{n}", f"203.0.113.{n}")

        response = token("giulia.ferrari", PASSWORD, "198.51.100.7")

        assert response.status_code == 200, response.content

    def test_spaces_around_the_username_count_as_the_same_account(self, giulia: User) -> None:
        # Four: the sign-in lockout stops the fifth failure from one address on one account.
        for n in range(4):
            assert token("giulia.ferrari", f"guess-{n}", "203.0.113.1").status_code == 401

        respelled = token("  giulia.ferrari  ", "guess-4", "203.0.113.1")
        by_email = token("GIULIA@example.org", "guess-5", "203.0.113.1")

        assert respelled.status_code == 429
        assert by_email.status_code == 429


def signup(address: str, **changes: str) -> Any:
    data = {
        "customer_code": CUSTOMER_CODE,
        "supply_code": SUPPLY_CODE,
        "email": "giulia@example.org",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "privacy": "on",
        **changes,
    }
    return Client(REMOTE_ADDR=address).post("/registrati/", data)


class TestSignUp:
    def test_wrong_codes_from_elsewhere_do_not_block_the_customers_sign_up(
        self, mine: Supply
    ) -> None:
        # The customer code is on the bill: tried with made-up supply codes, from many places.
        for n in range(12):
            signup(f"203.0.113.{n}", supply_code=f"{500000000 + n}", email=f"x{n}@example.org")

        response = signup("198.51.100.7")

        assert response.status_code == 302, response.content
        assert mail.outbox[-1].to == ["giulia@example.org"]

    def test_an_address_that_keeps_failing_is_stopped_even_with_the_right_codes(
        self, mine: Supply
    ) -> None:
        for n in range(10):
            response = signup("203.0.113.1", customer_code=f"{2000000 + n}")
            assert response.status_code == 200

        response = signup("203.0.113.1", supply_code=f" {SUPPLY_CODE} ")

        assert response.status_code == 429
        assert not User.objects.exists()


def fault(client: Client) -> str:
    response = client.post(
        "/api/v1/faults",
        {
            "category": "leak",
            "address": "Via Roma 12, Valmora",
            "contact_phone": "3471234567",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    ticket: str = response.json()["ticket"]
    return ticket


class TestFaultFollowUp:
    def test_wrong_contacts_from_elsewhere_do_not_block_the_reporter(self, db: None) -> None:
        ticket = fault(Client())
        for n in range(12):
            Client(REMOTE_ADDR=f"203.0.113.{n}").get(
                f"/api/v1/faults/{ticket}", {"contact": f"34700000{n:02d}"}
            )

        response = Client(REMOTE_ADDR="198.51.100.7").get(
            f"/api/v1/faults/{ticket}", {"contact": "3471234567"}
        )

        assert response.status_code == 200, response.content

    def test_trailing_spaces_on_the_ticket_count_as_the_same_ticket(
        self, db: None, settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_FAILURES_PER_TARGET = 3
        ticket = fault(Client())
        answers = [
            Client(REMOTE_ADDR=f"203.0.113.{n}")
            .get(f"/api/v1/faults/{ticket}", {"contact": f"34700000{n:02d}"})
            .status_code
            for n in range(3)
        ]

        respelled = Client(REMOTE_ADDR="203.0.113.0").get(
            f"/api/v1/faults/{ticket.lower()}%20%20", {"contact": "3470000099"}
        )

        assert answers == [404, 404, 404]
        assert respelled.status_code == 429


@pytest.fixture
def user_code(mine: Supply) -> str:
    supply_user_codes_assign()
    mine.refresh_from_db()
    assert mine.user_code is not None
    return mine.user_code


class TestOneTargetPerSupply:
    """Guesses at one supply's customer code from several addresses, first with one of the
    supply's names and then with the other: the target closes at the same count as with
    one name throughout."""

    @pytest.fixture(autouse=True)
    def _limits(self, settings: SettingsWrapper) -> None:
        settings.AUTOLETTURA_THROTTLE_PER_ADDRESS = 100
        settings.AUTOLETTURA_FAILURES_PER_SOURCE = 100
        settings.AUTOLETTURA_FAILURES_PER_TARGET = 3

    @staticmethod
    def guesses(names: list[str]) -> list[int]:
        """One wrong customer code per name, each from an address of its own; then the first
        address tries again, with the last name."""
        answers = [
            post_reading(
                Client(),
                {"supply_code": name, "customer_code": f"{2000000 + n}", "reading": "1"},
                address=f"203.0.113.{n}",
            ).status_code
            for n, name in enumerate(names)
        ]
        again = post_reading(
            Client(),
            {"supply_code": names[-1], "customer_code": "2999999", "reading": "1"},
            address="203.0.113.0",
        ).status_code
        return [*answers, again]

    def test_the_supply_code_then_the_user_code_reach_the_limit_of_one_code(
        self, user_code: str
    ) -> None:
        one_name = self.guesses([SUPPLY_CODE] * 3)
        cache.clear()  # fresh counters for the second attack
        with_both = self.guesses([SUPPLY_CODE, SUPPLY_CODE, user_code])

        assert one_name == [422, 422, 422, 429]
        assert with_both == one_name

    def test_the_user_code_then_the_supply_code_reach_the_limit_of_one_code(
        self, user_code: str
    ) -> None:
        assert self.guesses([user_code, user_code, SUPPLY_CODE]) == [422, 422, 422, 429]

    def test_following_a_receipt_counts_against_the_same_supply(self, user_code: str) -> None:
        def follow(name: str, address: str) -> int:
            return (
                Client()
                .get(
                    "/api/v1/readings/AL-2026-000001",
                    {"supply_code": name, "customer_code": "2999998"},
                    REMOTE_ADDR=address,
                )
                .status_code
            )

        first = [follow(SUPPLY_CODE, "203.0.113.0"), follow(user_code, "203.0.113.1")]
        third = follow(SUPPLY_CODE, "203.0.113.2")

        assert first == [404, 404]
        assert third == 404
        assert follow(SUPPLY_CODE, "203.0.113.1") == 429

    def test_every_channel_counts_against_the_supply_whatever_name_it_was_given(
        self, user_code: str
    ) -> None:
        # The service every channel identifies a supply through, with each channel's kind
        # of source: a phone (SMS, WhatsApp, the phone line), an e-mail address, an address.
        sources = ["phone:+393470000001", "email:someone@example.org", "address:203.0.113.9"]
        for source, name in zip(sources, [SUPPLY_CODE, user_code, SUPPLY_CODE], strict=True):
            found = supply_identify_guarded(
                supply_code=name, customer_code="2999999", source=source
            )
            assert found is None

        for source in sources:
            for name in (SUPPLY_CODE, user_code):
                with pytest.raises(Throttled):
                    supply_identify_guarded(
                        supply_code=name, customer_code=CUSTOMER_CODE, source=source
                    )
        # A source that has not failed still gets through, by either name.
        assert (
            supply_identify_guarded(
                supply_code=user_code, customer_code=CUSTOMER_CODE, source="phone:+393471234567"
            )
            is not None
        )

    def test_a_user_code_that_names_no_supply_is_a_target_of_its_own(self, user_code: str) -> None:
        unknown = "0100600399999999"
        assert unknown != user_code
        self.guesses([unknown] * 3)

        assert self.guesses([SUPPLY_CODE])[0] == 422


class TestSignInLockout:
    def test_switching_between_username_and_email_gives_no_more_tries(self, giulia: User) -> None:
        client = Client()
        names = ["giulia.ferrari", "giulia@example.org", "  giulia.ferrari ", "Giulia@Example.org"]
        for attempt in range(4):
            wrong = client.post(
                "/accedi/", {"username": names[attempt], "password": f"guess-{attempt}"}
            )
            assert wrong.status_code == 200

        fifth = client.post("/accedi/", {"username": "giulia@example.org", "password": "x"})
        right = client.post("/accedi/", {"username": "giulia.ferrari", "password": PASSWORD})

        assert fifth.status_code == 429
        assert right.status_code == 429

    def test_the_customer_elsewhere_still_signs_in(self, giulia: User) -> None:
        client = Client()
        for attempt in range(5):
            client.post("/accedi/", {"username": "giulia@example.org", "password": f"x{attempt}"})

        right = Client(REMOTE_ADDR="192.0.2.7").post(
            "/accedi/", {"username": "giulia.ferrari", "password": PASSWORD}
        )

        assert right.status_code == 302


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (Debian: redis-server)")
def test_failures_are_counted_in_redis_as_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production shares the counters between web processes through Redis (CACHE_URL).
    monkeypatch.setattr("autolettura.clock.now", Clock(DECEMBER_20))
    failures = FailureLimit("codes", per_source=3, per_target=2)
    with PrivateRedis(tmp_path) as redis_server:
        backend = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url(3),
        }
        with override_settings(CACHES={"default": backend}):
            for source in ("address:203.0.113.1", "address:203.0.113.2"):
                failures.check(source=source, target="400120734")
                failures.record(source=source, target="400120734")

            with pytest.raises(Throttled):
                failures.check(source="address:203.0.113.1", target="400120734")
            failures.check(source="address:198.51.100.7", target="400120734")
            for target in ("S1", "S2", "S3"):
                failures.record(source="address:198.51.100.7", target=target)
            with pytest.raises(Throttled):
                failures.check(source="address:198.51.100.7", target="S4")
