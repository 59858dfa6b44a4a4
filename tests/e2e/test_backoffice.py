"""The back office in a real browser: an operator signs in, accepts a reading under review,
and enters a paper form at the counter, printing its receipt."""

from __future__ import annotations

from typing import Any

import pytest

from autolettura.backoffice.roles import COUNTER
from autolettura.outbox.models import OutboundMessage
from autolettura.readings.models import Reading, Status
from tests.api_helpers import Clock
from tests.backoffice.support import PASSWORD, operator, supply_with_history, under_review
from tests.e2e.browser import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page: Any, username: str) -> None:
    page.goto("/backoffice/")
    assert "/backoffice/accedi/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("main form button[type=submit]")


class TestBackOffice:
    def test_an_operator_signs_in_and_accepts_a_reading_under_review(
        self, page: Any, clock: Clock
    ) -> None:
        supply = supply_with_history()
        holder = supply.holder
        holder.email = "giulia@example.org"
        holder.save()
        reading = under_review(supply)
        operator(COUNTER, username="mario")

        sign_in(page, "mario")
        assert page.locator("h1").inner_text() == "Cerca un cliente o un'utenza"
        page.click("nav.bo-nav >> text=Letture da verificare")
        card = page.locator(f"#review-{reading.receipt}")
        assert "svg" in card.inner_html()
        assert "giorni lavorativi" in card.locator(".deadline").inner_text()
        screenshot(page, "backoffice-review-queue")
        card.locator("textarea").fill("Foto coerente, perdita riparata")
        with page.expect_navigation():
            card.locator("button[value=accept]").click()
        assert page.locator("#queue-empty").is_visible()

        reading.refresh_from_db()
        assert reading.status == Status.ACCEPTED
        assert OutboundMessage.objects.filter(
            recipient="giulia@example.org", body__contains="accettata"
        ).exists()

        page.goto(f"/backoffice/?q={supply.supply_code}")
        page.click(f"a[href='/backoffice/utenze/{supply.supply_code}/']")
        assert "Foto coerente" in page.locator("#audit").inner_text()
        screenshot(page, "backoffice-supply")

    def test_a_paper_form_entered_at_the_counter_gets_a_printable_receipt(
        self, page: Any, clock: Clock
    ) -> None:
        supply = supply_with_history()
        operator(COUNTER, username="mario")
        sign_in(page, "mario")
        page.goto("/backoffice/sportello/")
        page.fill("#id_supply_code", supply.supply_code)
        page.fill("#id_customer_code", supply.holder.customer_code)
        page.fill("#id_reading", "446,5")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        assert "senza i decimali" in page.locator("#id_reading-error").inner_text()
        page.fill("#id_reading", "446")
        screenshot(page, "backoffice-counter")
        with page.expect_navigation():
            page.click("main form button[type=submit]")

        reading = Reading.objects.get(channel="COUNTER")
        assert page.locator("#receipt-number").inner_text() == reading.receipt
        assert "accettata" in page.locator("#outcome").inner_text()
        page.emulate_media(media="print")
        assert not page.locator("header.bo-header").is_visible()
        assert page.locator("#receipt").is_visible()
        screenshot(page, "backoffice-receipt")
