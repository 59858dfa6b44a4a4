"""SPID sign-in in Chromium, end to end: the "Entra con SPID" button, the provider's list, the
signed request auto-posted to a local pysaml2 identity provider on loopback, its signed
answer posted back, the bill's codes asked once, and straight in the next time."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from autolettura.customers.models import Customer
from autolettura.identity import saml
from tests.e2e.browser import screenshot, serious_violations
from tests.identity.conftest import configure_sp, sp_keys  # noqa: F401 - a fixture
from tests.identity.idp import LocalIdp
from tests.portal.support import customer_with_supply

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


IDP_PORT = free_port()


@pytest.fixture
def idp(settings: Any, live_server: Any, sp_keys: tuple[Path, Path], tmp_path: Path) -> Any:  # noqa: F811
    # On "localhost" like the live server: the same site, as the sign-in cookie is SameSite=Lax
    # over plain HTTP (over HTTPS it is SameSite=None and Secure, for providers elsewhere).
    local = LocalIdp(base_url=f"http://localhost:{IDP_PORT}", folder=tmp_path)
    configure_sp(
        settings,
        base_url=live_server.url,
        keys=sp_keys,
        spid=[local.metadata_file],
        cie=[],
    )
    local.sp_metadata = saml.metadata_xml(saml.SPID)
    with local.serve(IDP_PORT):
        yield local


def sign_in_with_spid(page: Any) -> None:
    page.goto("/accedi/")
    page.click("summary.italia-it-button")
    with page.expect_navigation(url=f"http://localhost:{IDP_PORT}/sso"):
        page.click("text=IdP di prova")
    assert page.locator("h1").inner_text() == "IdP di prova"
    with page.expect_navigation():
        page.click("text=Accedi")


def test_first_spid_sign_in_links_the_supply_then_goes_straight_in(
    page: Any, idp: LocalIdp
) -> None:
    supply = customer_with_supply()
    page.goto("/accedi/")
    assert page.locator("summary.italia-it-button").inner_text().strip() == "Entra con SPID"
    screenshot(page, "portal-login-spid")
    assert serious_violations(page) == []

    sign_in_with_spid(page)
    assert page.url.endswith("/accedi/spid/collega/")
    assert page.locator("h1").inner_text() == "Collega la tua utenza"
    assert "Mario" in page.locator("main").inner_text()
    page.fill("#id_customer_code", "1004127")
    page.fill("#id_supply_code", "400120734")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.url.endswith("/area-clienti/")
    assert supply.supply_code in page.locator("main").inner_text()
    assert Customer.objects.get(pk=supply.holder_id).fiscal_code == "RSSMRA80A01H501U"

    # Signed out, and in again: no codes this time.
    page.context.clear_cookies()
    sign_in_with_spid(page)
    assert page.url.endswith("/area-clienti/")
    assert supply.supply_code in page.locator("main").inner_text()
