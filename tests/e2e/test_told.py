"""What the customer is told, in a real browser (issue 11): an operator discards a reading
under review giving the reason, the customer reads that reason in their e-mail, and both
the back office and the customer area keep showing the last valid reading, leading zeros
included."""

from __future__ import annotations

from typing import Any

import pytest

from autolettura.backoffice.roles import COUNTER
from autolettura.outbox.models import OutboundMessage
from autolettura.readings.models import Status
from tests.api_helpers import Clock
from tests.backoffice.support import PASSWORD as OPERATOR_PASSWORD
from tests.backoffice.support import operator, supply_with_history, under_review
from tests.e2e.browser import screenshot, sign_in
from tests.portal.support import PASSWORD, with_account

pytestmark = pytest.mark.django_db(transaction=True)


def operator_sign_in(page: Any, username: str) -> None:
    page.goto("/backoffice/accedi/")
    page.fill("#id_username", username)
    page.fill("#id_password", OPERATOR_PASSWORD)
    with page.expect_navigation():
        page.click("main form button[type=submit]")


class TestADiscardedReading:
    def test_the_customer_reads_the_operators_reason_and_the_last_valid_reading_stays(
        self, page: Any, clock: Clock
    ) -> None:
        supply = supply_with_history()
        with_account(supply, email="giulia@example.org")
        reading = under_review(supply, value=990)
        operator(COUNTER, username="mario")

        operator_sign_in(page, "mario")
        page.goto("/backoffice/revisione/")
        card = page.locator(f"#review-{reading.receipt}")
        assert "00990 m³" in card.inner_text()
        card.locator("select").select_option("digits_misread")
        card.locator("textarea").fill("Nella foto si legge 00460")
        screenshot(page, "backoffice-review-reason")
        with page.expect_navigation():
            card.locator("button[value=discard]").click()

        reading.refresh_from_db()
        assert (reading.status, reading.reason) == (Status.DISCARDED, "digits_misread")
        told = OutboundMessage.objects.get(dedupe_key__startswith=f"reading:{reading.pk}:")
        assert told.recipient == "giulia@example.org"
        assert "forse per una cifra in più" in told.body
        assert "Gentile Giulia Ferrari" in told.body
        assert "Nella foto" not in told.body

        page.goto(f"/backoffice/utenze/{supply.supply_code}/")
        assert "00420 m³, 20 ottobre 2026" in page.locator("#last-reading").inner_text()

        page.context.clear_cookies()
        sign_in(page, "giulia@example.org", PASSWORD)
        card_text = page.locator("main").inner_text()
        assert "Ultima lettura: 00420 m³ il 20/10/2026." in card_text
        assert "00990" not in card_text
        page.goto(f"/area-clienti/letture/{reading.receipt}/")
        assert "forse per una cifra in più" in page.locator("#outcome").inner_text()
        assert "Ti abbiamo inviato l'esito a giulia@example.org." in page.inner_text("main")
        screenshot(page, "ricevuta-scartata")
