"""What a customer and an operator notice, in a real browser: the password reset in the
portal's style, a fault reported and followed from the portal, the chart's unit and dates,
and the back office in words, on a phone, with its fault queue."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from autolettura.backoffice.roles import ADMINISTRATOR, CALL_CENTRE
from autolettura.readings.services import reading_review
from autolettura.service.models import FaultReport, FaultStatus
from autolettura.service.services import fault_report_advance, fault_report_create
from tests.api_helpers import Clock
from tests.backoffice.support import PASSWORD as OPERATOR_PASSWORD
from tests.backoffice.support import operator, supply_with_history, under_review
from tests.conftest import rome
from tests.e2e.browser import MOBILE, PNG, screenshot, serious_violations, sign_in
from tests.portal.support import DECEMBER_20, customer_with_supply, with_account

pytestmark = pytest.mark.django_db(transaction=True)


def submit(page: Any) -> Any:
    with page.expect_navigation() as navigation:
        page.click("main form button[type=submit]")
    return navigation.value


def operator_sign_in(page: Any, username: str) -> None:
    page.goto("/backoffice/accedi/")
    page.fill("#id_username", username)
    page.fill("#id_password", OPERATOR_PASSWORD)
    submit(page)


class TestPasswordReset:
    def test_a_customer_resets_the_password_on_pages_like_the_sign_in(
        self, page: Any, clock: Clock
    ) -> None:
        with_account(customer_with_supply())

        page.goto("/accedi/")
        page.click("text=Hai dimenticato la password?")
        assert page.locator("label[for=id_email]").inner_text() == "E-mail"
        assert "form-control" in (page.locator("#id_email").get_attribute("class") or "")
        assert serious_violations(page) == []
        screenshot(page, "password-dimenticata")
        page.fill("#id_email", "giulia@example.org")
        submit(page)
        assert page.locator("h1").inner_text() == "Controlla la tua e-mail"

        (message,) = mail.outbox
        link = re.search(r"https?://\S+/password/nuova/\S+/", message.body)
        assert link is not None, message.body
        page.goto(link.group(0))
        page.fill("#id_new_password1", "nuova-acqua-2027")
        page.fill("#id_new_password2", "nuova-acqua-2026")
        submit(page)
        assert "le due password sono diverse" in page.locator("#error-summary").inner_text()
        assert serious_violations(page) == []
        screenshot(page, "password-nuova")
        page.fill("#id_new_password1", "nuova-acqua-2027")
        page.fill("#id_new_password2", "nuova-acqua-2027")
        submit(page)
        assert page.locator("h1").inner_text() == "Password salvata"
        sign_in(page, "giulia@example.org", "nuova-acqua-2027")
        assert page.url.endswith("/area-clienti/")


class TestFaultFromThePortal:
    def test_a_customer_reports_a_leak_with_a_photo_and_follows_it(
        self, page: Any, clock: Clock, tmp_path: Any
    ) -> None:
        photo = tmp_path / "perdita.png"
        photo.write_bytes(PNG)

        page.goto("/")
        page.click("footer >> text=Segnala un guasto online")
        page.check("#id_category_0", force=True)  # Perdita
        page.fill("#id_description", "Acqua in strada davanti al civico 12")
        page.fill("#id_address", "Via Roma 12, Valmora")
        page.fill("#id_contact_phone", "347 123 4567")
        page.set_input_files("#id_photo", str(photo))
        assert serious_violations(page) == []
        screenshot(page, "segnala-un-guasto")
        submit(page)

        report = FaultReport.objects.get()
        assert page.locator("#fault-ticket").inner_text() == report.ticket
        assert report.ticket in page.locator(".portal-messages").inner_text()
        assert report.photo

        fault_report_advance(
            report=report, to_status=FaultStatus.DISPATCHED, by=None, now=DECEMBER_20
        )
        other = page.context.browser.new_context(
            base_url=page.url.split("/segnala")[0], locale="it-IT"
        )
        elsewhere = other.new_page()
        elsewhere.goto(f"/segnala-un-guasto/segui/?ticket={report.ticket}")
        elsewhere.fill("#id_contact", "+39 347 1234567")
        with elsewhere.expect_navigation():
            elsewhere.click("main form button[type=submit]")
        assert "abbiamo inviato una squadra" in elsewhere.locator("#fault-status").inner_text()
        assert len(elsewhere.locator("#fault-history li").all()) == 2
        assert serious_violations(elsewhere) == []
        screenshot(elsewhere, "segui-la-segnalazione")
        other.close()


class TestBackOfficeFinish:
    def test_the_supply_page_reads_in_words_and_fits_a_phone(self, page: Any, clock: Clock) -> None:
        supply = supply_with_history()
        held = under_review(supply, now=rome(2026, 12, 16, 9, 0))
        reading_review(
            reading=held,
            accept=False,
            by=operator(CALL_CENTRE, username="lucia"),
            now=DECEMBER_20,
            note="Foto illeggibile",
        )
        operator(ADMINISTRATOR, username="anna")
        fault_report_create(
            category="NO_WATER",
            description="Dal rubinetto non esce acqua da stamattina",
            address="Via Roma 12, Valmora",
            latitude=None,
            longitude=None,
            contact_name="Giulia Ferrari",
            contact_phone="+39 347 123 4567",
            contact_email="giulia.ferrari@example.org",
            channel="WEB",
            now=DECEMBER_20,
        )
        page.set_viewport_size(MOBILE)
        operator_sign_in(page, "anna")

        page.goto(f"/backoffice/utenze/{supply.supply_code}/")
        audit = page.locator("#audit").inner_text()
        assert "in verifica → scartata" in audit and "20 dicembre 2026, 10:00" in audit
        assert "UNDER_REVIEW" not in page.content()
        assert page.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
        # On a phone each reading is a card: the column's name beside each value.
        cell = page.locator("#readings tbody tr").first.locator("td").nth(1)
        assert (
            page.evaluate("(el) => getComputedStyle(el, '::before').content", cell.element_handle())
            == '"Data"'
        )
        assert serious_violations(page) == []
        screenshot(page, "backoffice-mobile-utenza")

        for url in ("/backoffice/revisione/", "/backoffice/cruscotto/", "/backoffice/guasti/"):
            page.goto(url)
            assert page.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"], url
            assert serious_violations(page) == [], url
        screenshot(page, "backoffice-mobile-guasti")

    def test_the_call_centre_works_the_fault_queue_and_confirms_before_resolving(
        self, page: Any, clock: Clock
    ) -> None:
        leak = fault_report_create(
            category="LEAK",
            description="Acqua in strada davanti al civico 12",
            address="Via Roma 12, Valmora",
            latitude=None,
            longitude=None,
            contact_name="Giulia Ferrari",
            contact_phone="+39 347 123 4567",
            contact_email="",
            channel="WEB",
            now=DECEMBER_20,
        )
        fault_report_create(
            category="LOW_PRESSURE",
            description="",
            address="Corso Po 3, Valmora",
            latitude=None,
            longitude=None,
            contact_name="",
            contact_phone="",
            contact_email="luca@example.org",
            channel="PHONE",
            now=rome(2026, 12, 20, 8, 0),
        )
        operator(CALL_CENTRE, username="lucia")
        operator_sign_in(page, "lucia")

        page.goto("/backoffice/guasti/")
        card = page.locator(f"#fault-{leak.ticket}")
        assert "Emergenza" in card.locator("h2").inner_text()
        assert "Da prendere in carico" in card.inner_text()
        assert serious_violations(page) == []
        screenshot(page, "backoffice-guasti")
        with page.expect_navigation():
            card.locator("button", has_text="Invia una squadra").click()
        with page.expect_navigation():
            page.locator(f"#fault-{leak.ticket} button", has_text="La squadra è sul posto").click()
        page.locator(f"#fault-{leak.ticket} a", has_text="Segna come risolta").click()
        page.wait_for_url(f"**/{leak.ticket}/risolvi/")
        page.fill("#id_note", "Tubo riparato")
        screenshot(page, "backoffice-guasto-risolvi")
        # The box is required: the browser does not send the form without it.
        page.click("main form button[type=submit]")
        assert page.url.endswith("/risolvi/")
        leak.refresh_from_db()
        assert leak.status == FaultStatus.ON_SITE
        page.click("label[for=id_confirm]")
        assert page.is_checked("#id_confirm")
        submit(page)
        leak.refresh_from_db()
        assert leak.status == FaultStatus.RESOLVED

        page.select_option("#id_state", "resolved")
        submit(page)
        assert page.locator(f"#fault-{leak.ticket}").is_visible()
        assert "Risolta · 20 dicembre 2026" in page.locator(f"#fault-{leak.ticket}").inner_text()
