"""The Content-Security-Policy in a real browser: the portal, the API docs and the back office
work under it, with no violation reported (headless Chromium, as tests/e2e).

Each test drives its own Chromium from a thread of its own: Playwright's sync API refuses to
start where another one (tests/e2e's session browser) is already running.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from autolettura.backoffice.roles import COUNTER
from tests.api_helpers import Clock
from tests.backoffice.support import PASSWORD as OPERATOR_PASSWORD
from tests.backoffice.support import operator, supply_with_history
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP
from tests.portal.support import DECEMBER_20, PASSWORD, customer_with_supply, with_account

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
]


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("autolettura.clock.now", Clock(DECEMBER_20))


def browse(base_url: str, steps: Callable[[Any], None]) -> list[str]:
    """Run `steps(page)` in a fresh headless Chromium; return the CSP violations it reported.

    The steps must not touch the ORM: they run in another thread."""

    def run() -> list[str]:
        from playwright.sync_api import sync_playwright

        violations: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                context = browser.new_context(viewport=DESKTOP, locale="it-IT", base_url=base_url)
                context.set_default_timeout(15_000)
                page = context.new_page()
                page.on(
                    "console",
                    lambda message: (
                        violations.append(message.text)
                        if "Content Security Policy" in message.text
                        else None
                    ),
                )
                steps(page)
            finally:
                browser.close()
        return violations

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=120)


def sign_in(page: Any, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("main form button[type=submit]")


class TestContentSecurityPolicy:
    def test_the_portal_runs_its_scripts_and_styles_with_no_violation(
        self, live_server: Any
    ) -> None:
        with_account(customer_with_supply())

        def steps(page: Any) -> None:
            for url in ["/", "/come-leggere-il-contatore/", "/contatti/", "/accedi/"]:
                page.goto(url)
                assert page.evaluate("typeof htmx") == "object"
                # htmx's own <style> is applied (allowed by its hash), not refused.
                assert page.evaluate(
                    """[...document.querySelectorAll('style')].some(
                        (s) => s.sheet && s.textContent.includes('htmx-indicator'))"""
                )
            sign_in(page, "/accedi/", "giulia@example.org", PASSWORD)
            page.goto("/area-clienti/comunica-la-lettura/")
            assert page.locator("main form").count() == 1

        assert browse(live_server.url, steps) == []

    def test_the_api_docs_load_from_this_site(self, live_server: Any) -> None:
        def steps(page: Any) -> None:
            page.goto("/api/v1/docs")
            page.wait_for_selector(".opblock")
            assert page.locator(".opblock").count() > 3

        assert browse(live_server.url, steps) == []

    def test_the_back_office_print_button_still_prints(self, live_server: Any) -> None:
        supply = supply_with_history()
        operator(COUNTER, username="mario")
        supply_code, customer_code = supply.supply_code, supply.holder.customer_code

        def steps(page: Any) -> None:
            # The browser's print dialog is replaced by a flag the test can read.
            page.add_init_script("window.print = () => { window.printed = true; };")
            sign_in(page, "/backoffice/accedi/", "mario", OPERATOR_PASSWORD)
            page.goto("/backoffice/sportello/")
            page.fill("#id_supply_code", supply_code)
            page.fill("#id_customer_code", customer_code)
            page.fill("#id_reading", "446")
            with page.expect_navigation():
                page.click("main form button[type=submit]")
            page.click("button[onclick]")
            assert page.evaluate("window.printed === true")

        assert browse(live_server.url, steps) == []
