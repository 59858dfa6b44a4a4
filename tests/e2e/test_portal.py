"""The Sportello Online in a real browser: one test per feature of issue 4.

The portal speaks Italian by default (the browser asks for it-IT), so the texts checked here
are the Italian ones customers read.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from autolettura.outbox.models import OutboundMessage
from autolettura.readings.models import Reading, Status
from tests import pictures
from tests.api_helpers import Clock
from tests.e2e.browser import MOBILE, PNG, screenshot, serious_violations, sign_in
from tests.portal.support import (
    NOVEMBER_10,
    PASSWORD,
    customer_with_supply,
    with_account,
    with_bills,
    with_history,
)

pytestmark = pytest.mark.django_db(transaction=True)


def submit(page: Any) -> Any:
    with page.expect_navigation() as navigation:
        page.click("main form button[type=submit]")
    return navigation.value


class TestSignUpToHistory:
    def test_a_customer_signs_up_confirms_signs_in_sends_a_reading_and_sees_it(
        self, page: Any, clock: Clock
    ) -> None:
        supply = customer_with_supply()
        with_history(supply)

        page.goto("/registrati/")
        page.fill("#id_customer_code", "1004127")
        page.fill("#id_supply_code", " 400120734 ")
        page.fill("#id_email", "giulia@example.org")
        page.fill("#id_password1", PASSWORD)
        page.fill("#id_password2", PASSWORD)
        page.check("#id_privacy", force=True)
        submit(page)
        assert page.locator("h1").inner_text() == "Controlla la tua e-mail"

        (message,) = mail.outbox
        assert message.to == ["giulia@example.org"]
        link = re.search(r"https?://\S+/registrati/conferma/\S+/", message.body)
        assert link is not None, message.body
        page.goto(link.group(0))
        assert page.url.endswith("/accedi/")
        assert "confermata" in page.locator(".portal-messages").inner_text()

        response = sign_in(page, "Giulia@Example.org", PASSWORD)
        assert response.url.endswith("/area-clienti/")
        screenshot(page, "area-clienti")

        page.click(f"a[href='/area-clienti/comunica-la-lettura/?supply={supply.supply_code}']")
        assert "aperto" in page.locator("#window-note").inner_text()
        assert page.input_value("#id_read_on") == "20/12/2026"
        page.fill("#id_reading", "00446")
        page.set_input_files(
            "#id_photo", {"name": "contatore.png", "mimeType": "image/png", "buffer": PNG}
        )
        screenshot(page, "comunica-la-lettura")
        with page.expect_navigation():
            page.click("#send-reading")

        assert page.locator("h1").inner_text() == "Lettura ricevuta"
        outcome = page.locator("#outcome").inner_text()
        receipt = page.locator(".portal-receipt-number").inner_text()
        assert re.fullmatch(r"AL-2026-\d{6}", receipt)
        assert f"protocollo {receipt} e accettata" in outcome
        assert "26 m³" in outcome  # 446 - 420
        # Where the outcome went: the address just confirmed.
        assert "Ti abbiamo inviato l'esito a giulia@example.org." in page.inner_text("main")
        screenshot(page, "ricevuta")

        page.click("text=Vedi le letture di questa utenza")
        row = page.locator("table.portal-readings tbody tr").first
        assert "20/12/2026" in row.inner_text()
        assert "00446" in row.inner_text()
        assert "accettata" in row.inner_text()
        assert "area clienti" in row.inner_text()
        assert receipt in row.inner_text()

        stored = Reading.objects.get(receipt=receipt)
        assert stored.status == Status.ACCEPTED
        assert stored.channel == "WEB"
        assert stored.submitted_by is not None
        assert pictures.describe(stored.photo.read()) == pictures.describe(PNG)
        # The outcome also goes by e-mail, as the customer chose at sign-up (the outbox
        # sends it when it is due: the pinned clock is ahead of the real one).
        assert OutboundMessage.objects.get(recipient="giulia@example.org").subject == (
            f"Lettura {receipt} accettata"
        )


class TestReadingErrors:
    def test_a_reading_with_decimals_is_told_beside_its_field_keeping_what_was_typed(
        self, page: Any, clock: Clock
    ) -> None:
        supply = customer_with_supply()
        user = with_account(supply)
        sign_in(page, user.username, PASSWORD)

        page.goto("/area-clienti/comunica-la-lettura/")
        page.fill("#id_reading", "123,5")
        page.fill("#id_read_on", "19/12/2026")
        submit(page)

        error = page.locator("#id_reading_error")
        assert error.inner_text().startswith("Comunica la lettura senza i decimali")
        assert page.get_attribute("#id_reading", "aria-invalid") == "true"
        assert "id_reading_error" in (page.get_attribute("#id_reading", "aria-describedby") or "")
        assert page.input_value("#id_reading") == "123,5"
        assert page.input_value("#id_read_on") == "19/12/2026"
        summary = page.locator("#error-summary")
        assert summary.locator("a[href='#id_reading']").count() == 1
        assert page.evaluate("document.activeElement.id") == "error-summary"
        assert not Reading.objects.filter(supply=supply).exists()
        screenshot(page, "comunica-la-lettura-errore")

    def test_a_reading_outside_the_window_names_the_next_window(
        self, page: Any, clock: Clock
    ) -> None:
        clock.now = NOVEMBER_10
        supply = customer_with_supply()
        with_history(supply)
        user = with_account(supply)
        sign_in(page, user.username, PASSWORD)

        page.goto("/area-clienti/comunica-la-lettura/")
        note = page.locator("#window-note").inner_text()
        assert "chiuso" in note
        assert "15/12/2026" in note and "30/12/2026" in note
        page.fill("#id_reading", "00430")
        submit(page)

        outcome = page.locator("#outcome").inner_text()
        assert "non accettata" in outcome
        assert "dal 15/12/2026 al 30/12/2026" in outcome
        assert Reading.objects.get(value=430).reason == "outside_window"


class TestPermissions:
    def test_another_customers_supply_cannot_be_reached_by_url(
        self, page: Any, clock: Clock
    ) -> None:
        mine = customer_with_supply()
        user = with_account(mine)
        theirs = customer_with_supply(
            customer_code="2008811", supply_code="400777001", name="Marco Rossi"
        )
        (their_reading, *_rest) = with_history(theirs)
        sign_in(page, user.username, PASSWORD)

        for url in (
            f"/area-clienti/utenze/{theirs.supply_code}/",
            f"/area-clienti/letture/{their_reading.receipt}/",
            f"/area-clienti/comunica-la-lettura/finestra/?supply={theirs.supply_code}",
        ):
            response = page.goto(url)
            assert response.status == 404, url
            assert "Marco Rossi" not in page.content()
            assert theirs.address not in page.content()
        assert page.goto(f"/area-clienti/utenze/{mine.supply_code}/").status == 200


class TestLockout:
    def test_five_wrong_passwords_lock_the_sign_in_even_with_the_right_one(
        self, page: Any, clock: Clock
    ) -> None:
        user = with_account(customer_with_supply())

        for attempt in range(1, 5):
            response = sign_in(page, user.username, f"wrong-{attempt}")
            assert response.status == 200
            assert "non sono corretti" in page.locator("#error-summary").inner_text()
        response = sign_in(page, user.username, "wrong-5")
        assert response.status == 429
        assert page.locator("h1").inner_text() == "Accesso bloccato per un po'"

        response = sign_in(page, user.username, PASSWORD)
        assert response.status == 429
        assert "15 minuti" in page.locator("main").inner_text()
        assert page.goto("/area-clienti/").url.endswith("/accedi/?next=/area-clienti/")
        screenshot(page, "accesso-bloccato", full_page=False)


class TestAccessibility:
    @pytest.fixture
    def signed_in(self, page: Any, clock: Clock) -> str:
        supply = customer_with_supply()
        with_history(supply)
        with_bills()
        user = with_account(supply)
        sign_in(page, user.username, PASSWORD)
        return supply.supply_code

    def test_the_main_pages_have_no_serious_violation(self, page: Any, signed_in: str) -> None:
        pages = {
            "home": "/",
            "come-leggere": "/come-leggere-il-contatore/",
            "cosa-serve": "/cosa-serve/",
            "quando": "/quando/",
            "canali": "/come-comunicare-la-lettura/",
            "contatti": "/contatti/",
            "comunica-la-lettura": "/area-clienti/comunica-la-lettura/",
            "utenza": f"/area-clienti/utenze/{signed_in}/",
            "preferenze": "/area-clienti/preferenze/",
        }
        found: dict[str, list[str]] = {}
        for name, url in pages.items():
            assert page.goto(url).status == 200, url
            found[name] = serious_violations(page)
            if name in ("home", "come-leggere", "cosa-serve", "quando", "utenza"):
                screenshot(page, name)
        with page.expect_navigation():
            page.click("header form[action='/esci/'] button[type=submit]")  # sign out
        assert page.locator("header a[href='/accedi/']").count() == 1
        for name, url in {"accedi": "/accedi/", "registrati": "/registrati/"}.items():
            assert page.goto(url).status == 200, url
            found[name] = serious_violations(page)
            screenshot(page, name)

        assert {name: v for name, v in found.items() if v} == {}

    def test_the_pages_fit_a_phone(self, page: Any, signed_in: str) -> None:
        page.set_viewport_size(MOBILE)
        for name, url in {
            "mobile-home": "/",
            "mobile-comunica-la-lettura": "/area-clienti/comunica-la-lettura/",
            "mobile-utenza": f"/area-clienti/utenze/{signed_in}/",
        }.items():
            page.goto(url)
            # Nothing wider than the screen: no sideways scrolling on a phone.
            assert page.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"], url
            assert serious_violations(page) == [], url
            screenshot(page, name)

    def test_the_bill_pdf_opens_from_the_supply_page(self, page: Any, signed_in: str) -> None:
        page.goto(f"/area-clienti/utenze/{signed_in}/")
        link = page.locator("a[href$='.pdf']").first
        response = page.request.get(link.get_attribute("href"))

        assert response.status == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.body().startswith(b"%PDF")
