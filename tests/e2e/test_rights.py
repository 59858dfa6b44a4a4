"""The customer's rights in a real browser: "Scarica i miei dati" from the preferences page,
the file prepared by the task, the e-mail, the download and its zip checked file by file;
another customer cannot download it; and a request to close the account, carried out by an
administrator in the back office before its deadline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from autolettura.backoffice.roles import ADMINISTRATOR
from autolettura.lifecycle.models import DataExport, ErasureRequest
from autolettura.outbox.models import OutboundMessage
from tests.api_helpers import Clock
from tests.backoffice.support import PASSWORD as OPERATOR_PASSWORD
from tests.backoffice.support import operator
from tests.e2e.browser import screenshot, serious_violations, sign_in
from tests.lifecycle.rights_support import assert_export_matches, household, open_zip
from tests.portal.support import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _exports(settings: Any, tmp_path: Path) -> None:
    settings.AUTOLETTURA_EXPORT_DIR = tmp_path / "exports"


def click_and_wait(page: Any, selector: str, *, timeout: float = 15_000) -> Any:
    with page.expect_navigation(timeout=timeout) as navigation:
        page.click(selector, timeout=timeout)
    return navigation.value


class TestDataExport:
    def test_a_customer_asks_for_their_data_and_downloads_the_zip(
        self, page: Any, browser: Any, live_server: Any, clock: Clock
    ) -> None:
        mine = household()
        theirs = household(
            customer_code="2008811",
            supply_code="400777001",
            name="Marco Bianchi",
            email="marco@example.org",
            phone="+393339876543",
            bills=False,
        )
        sign_in(page, mine.user.username, PASSWORD)
        page.goto("/area-clienti/preferenze/")

        # Without a broker the task runs in the request: it renders every bill's PDF.
        landed = click_and_wait(page, "#rights-export", timeout=120_000)

        assert landed.url.endswith("/area-clienti/i-miei-dati/")
        assert "I tuoi dati sono pronti" in page.inner_text(".portal-messages")
        assert "Il tuo file è pronto" in page.inner_text("#export-status")
        export = DataExport.objects.get(user=mine.user)
        assert export.status == DataExport.Status.READY
        # Through the outbox, like every message to a customer.
        told = OutboundMessage.objects.get(dedupe_key=f"data-export-ready-{export.pk}")
        assert (told.recipient, told.subject) == (
            "giulia@example.org",
            "I tuoi dati di Acque di Valmora sono pronti da scaricare",
        )
        assert "/area-clienti/i-miei-dati/" in told.body
        assert serious_violations(page) == []
        screenshot(page, "i-miei-dati")

        with page.expect_download() as waiting:
            page.click("#export-download")
        download = waiting.value
        assert download.suggested_filename == "i-miei-dati-2026-12-20.zip"
        archive = open_zip(Path(download.path()).read_bytes())
        assert_export_matches(archive, mine, foreign=theirs)

        # Another customer, signed in, gets "not found" for the same address.
        other = browser.new_context(base_url=live_server.url, locale="it-IT")
        try:
            intruder = other.new_page()
            sign_in(intruder, theirs.user.username, PASSWORD)
            response = intruder.request.get(
                f"/area-clienti/i-miei-dati/scarica/{export.token}/dati.zip"
            )
            assert response.status == 404
        finally:
            other.close()


class TestAccountClosing:
    def test_a_customer_asks_and_an_administrator_carries_it_out_before_the_deadline(
        self, page: Any, browser: Any, live_server: Any, clock: Clock
    ) -> None:
        mine = household(bills=False)
        admin = operator(ADMINISTRATOR)
        sign_in(page, mine.user.username, PASSWORD)
        page.goto("/area-clienti/i-miei-dati/")
        page.fill("#id_password", "not-my-password")
        page.check("#id_understood", force=True)

        click_and_wait(page, "#close-ask")
        assert "La password non è corretta" in page.inner_text("main")
        assert not ErasureRequest.objects.exists()

        page.fill("#id_password", PASSWORD)
        page.check("#id_understood", force=True)
        click_and_wait(page, "#close-ask")

        assert "entro il 20/01/2027" in page.inner_text(".portal-messages")
        assert "20/01/2027" in page.inner_text("#erasure-status")
        request = ErasureRequest.objects.get(user=mine.user)
        assert request.status == ErasureRequest.Status.PENDING

        office = browser.new_context(base_url=live_server.url, locale="it-IT")
        try:
            operator_page = office.new_page()
            operator_page.goto("/backoffice/accedi/")
            operator_page.fill("#id_username", admin.username)
            operator_page.fill("#id_password", OPERATOR_PASSWORD)
            click_and_wait(operator_page, "main form button[type=submit]")
            deadlines = operator_page.inner_text("#erasure-deadlines")
            assert "1004127" in deadlines and "entro il 20/01/2027" in deadlines
            assert "mancano 31 giorni" in deadlines
            click_and_wait(operator_page, "#erasure-deadlines a")
            click_and_wait(operator_page, "#erasures-open button[type=submit]")
            assert "è stato chiuso" in operator_page.inner_text("main")
            assert "1004127" in operator_page.inner_text("#erasures-done")
        finally:
            office.close()

        request.refresh_from_db()
        assert (request.status, request.handled_by_id) == (ErasureRequest.Status.DONE, admin.pk)
        assert not User.objects.get(pk=mine.user.pk).is_active
        page.goto("/area-clienti/")  # the session ends with the account
        assert "/accedi/" in page.url
        told = OutboundMessage.objects.get(dedupe_key=f"erasure-done-{request.pk}")
        assert (told.recipient, told.subject) == (
            "giulia@example.org",
            "Il tuo account Acque di Valmora è stato chiuso",
        )
