"""SPID sign-in through the Django test client, against the local pysaml2 identity provider:
the account a fiscal code opens, the one-time link with the bill's codes, and what an
attacker might try (a Response replayed, posted into another browser, addressed to another
service provider, without a signed assertion; a fiscal code claiming someone else's
supply)."""

from __future__ import annotations

import base64
import html
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from autolettura.customers.models import Customer
from autolettura.identity.models import SignInRequest
from tests.identity.idp import LocalIdp, Person
from tests.portal.support import customer_with_supply, with_account

pytestmark = pytest.mark.django_db

FISCAL_CODE = "RSSMRA80A01H501U"


def start(client: Client, idp: LocalIdp, next_path: str = "") -> str:
    """Press "Entra con SPID" and choose the identity provider: the SAMLRequest the page
    posts to it."""
    query = {"idp": idp.entity_id, **({"next": next_path} if next_path else {})}
    page = client.get("/accedi/spid/", query)
    assert page.status_code == 200
    body = page.content.decode()
    assert f'action="{idp.sso_url}"' in body
    assert idp.sso_url.rsplit("/", 1)[0] in page["Content-Security-Policy"]
    found = re.search(r'name="SAMLRequest" value="([^"]+)"', body)
    assert found
    return html.unescape(found.group(1))


def finish(client: Client, saml_response: str) -> object:
    return client.post("/accedi/spid/acs/", {"SAMLResponse": saml_response, "RelayState": "x"})


def test_login_page_offers_spid_with_the_providers_from_settings(sp: LocalIdp) -> None:
    page = Client().get("/accedi/").content.decode()
    assert "italia-it-button" in page
    assert f"?idp={sp.entity_id.replace(':', '%3A').replace('/', '%2F')}" in page
    assert "IdP di prova" in page


def test_login_page_has_no_spid_button_when_not_configured(settings: object) -> None:
    page = Client().get("/accedi/").content.decode()
    assert "italia-it-button" not in page
    assert Client().get("/accedi/spid/metadata/").status_code == 404


def test_customer_with_the_fiscal_code_goes_straight_in(sp: LocalIdp) -> None:
    supply = customer_with_supply()
    Customer.objects.filter(pk=supply.holder_id).update(fiscal_code=FISCAL_CODE)
    client = Client()
    answer = finish(client, sp.response_for(start(client, sp)))
    assert answer.status_code == 302 and answer["Location"] == "/area-clienti/"
    dashboard = client.get("/area-clienti/")
    assert dashboard.status_code == 200
    assert supply.supply_code in dashboard.content.decode()
    user = User.objects.get(customer__pk=supply.holder_id)
    assert user.username == f"cf-{FISCAL_CODE.lower()}" and not user.has_usable_password()
    assert user.first_name == "Mario" and user.email == "mario.rossi@example.org"


def test_existing_account_with_the_fiscal_code_is_the_one_signed_in(sp: LocalIdp) -> None:
    supply = customer_with_supply()
    account = with_account(supply)
    Customer.objects.filter(pk=supply.holder_id).update(fiscal_code=FISCAL_CODE)
    client = Client()
    finish(client, sp.response_for(start(client, sp, next_path="/area-clienti/preferenze/")))
    assert client.session["_auth_user_id"] == str(account.pk)


def test_first_sign_in_asks_the_bill_codes_once(sp: LocalIdp) -> None:
    supply = customer_with_supply()
    client = Client()
    answer = finish(client, sp.response_for(start(client, sp)))
    assert answer["Location"] == "/accedi/spid/collega/"
    assert "_auth_user_id" not in client.session
    page = client.get("/accedi/spid/collega/").content.decode()
    assert "Mario" in page
    wrong = client.post(
        "/accedi/spid/collega/", {"customer_code": "1004127", "supply_code": "400120735"}
    )
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    right = client.post(
        "/accedi/spid/collega/", {"customer_code": "1004127", "supply_code": "400120734"}
    )
    assert right["Location"] == "/area-clienti/"
    customer = Customer.objects.get(pk=supply.holder_id)
    assert customer.fiscal_code == FISCAL_CODE and customer.user is not None
    # The next sign-in, in another browser, goes straight in: no codes asked again.
    other = Client()
    again = finish(other, sp.response_for(start(other, sp)))
    assert again["Location"] == "/area-clienti/"
    assert other.session["_auth_user_id"] == str(customer.user_id)


def test_link_page_without_a_verified_identity_goes_to_sign_in(sp: LocalIdp) -> None:
    client = Client()
    assert client.get("/accedi/spid/collega/")["Location"] == "/accedi/"
    posted = client.post(
        "/accedi/spid/collega/", {"customer_code": "1004127", "supply_code": "400120734"}
    )
    assert posted["Location"] == "/accedi/"
    assert Customer.objects.filter(fiscal_code=FISCAL_CODE).count() == 0


def test_codes_of_a_customer_with_another_fiscal_code_are_refused(sp: LocalIdp) -> None:
    supply = customer_with_supply()
    Customer.objects.filter(pk=supply.holder_id).update(fiscal_code="MRTMTT25D09F205Z")
    client = Client()
    finish(client, sp.response_for(start(client, sp)))
    page = client.post(
        "/accedi/spid/collega/", {"customer_code": "1004127", "supply_code": "400120734"}
    )
    assert "registrato con un altro codice fiscale" in page.content.decode()
    assert "_auth_user_id" not in client.session
    assert Customer.objects.get(pk=supply.holder_id).fiscal_code == "MRTMTT25D09F205Z"


def test_codes_of_a_customer_with_an_account_do_not_hand_it_over(sp: LocalIdp) -> None:
    supply = customer_with_supply()
    account = with_account(supply)
    client = Client()
    finish(client, sp.response_for(start(client, sp)))
    page = client.post(
        "/accedi/spid/collega/", {"customer_code": "1004127", "supply_code": "400120734"}
    )
    assert "ha già un account" in page.content.decode()
    assert "_auth_user_id" not in client.session
    customer = Customer.objects.get(pk=supply.holder_id)
    assert customer.user_id == account.pk and customer.fiscal_code == ""


def test_wrong_codes_are_throttled_like_on_every_channel(sp: LocalIdp, settings: object) -> None:
    customer_with_supply()
    settings.AUTOLETTURA_FAILURES_PER_SOURCE = 3  # type: ignore[attr-defined]
    client = Client()
    finish(client, sp.response_for(start(client, sp)))
    for _ in range(3):
        client.post("/accedi/spid/collega/", {"customer_code": "1004127", "supply_code": "1"})
    # Right codes now get the same answer as wrong ones: the page is no oracle.
    right = client.post(
        "/accedi/spid/collega/", {"customer_code": "1004127", "supply_code": "400120734"}
    )
    assert right.status_code == 429
    assert Customer.objects.get(customer_code="1004127").fiscal_code == ""


def test_a_response_is_taken_once(sp: LocalIdp) -> None:
    supply = customer_with_supply()
    Customer.objects.filter(pk=supply.holder_id).update(fiscal_code=FISCAL_CODE)
    client = Client()
    response = sp.response_for(start(client, sp))
    assert finish(client, response).status_code == 302
    client.logout()
    replayed = finish(client, response)
    assert replayed.status_code == 403
    assert "_auth_user_id" not in client.session
    assert SignInRequest.objects.get().consumed_at is not None


def test_a_response_posted_into_another_browser_signs_no_one_in(sp: LocalIdp) -> None:
    supply = customer_with_supply()
    Customer.objects.filter(pk=supply.holder_id).update(fiscal_code=FISCAL_CODE)
    victim, attacker = Client(), Client()
    response = sp.response_for(start(attacker, sp))
    assert finish(victim, response).status_code == 403
    assert "_auth_user_id" not in victim.session
    # The browser that asked can still use it: the refusal did not spend its request.
    assert finish(attacker, response).status_code == 302


def test_an_assertion_for_another_service_provider_is_refused(
    sp: LocalIdp, caplog: pytest.LogCaptureFixture
) -> None:
    supply = customer_with_supply()
    Customer.objects.filter(pk=supply.holder_id).update(fiscal_code=FISCAL_CODE)
    client = Client()
    response = sp.response_for(start(client, sp), audience="https://another-sp.example")
    assert finish(client, response).status_code == 403
    assert "_auth_user_id" not in client.session
    assert "AudienceRestrictions" in caplog.text


def test_an_unsigned_assertion_is_refused(sp: LocalIdp, caplog: pytest.LogCaptureFixture) -> None:
    supply = customer_with_supply()
    Customer.objects.filter(pk=supply.holder_id).update(fiscal_code=FISCAL_CODE)
    client = Client()
    response = sp.response_for(start(client, sp), sign_assertion=False)
    assert finish(client, response).status_code == 403
    assert "Signature missing for assertion" in caplog.text


def test_a_level_below_the_one_asked_is_refused(sp: LocalIdp) -> None:
    client = Client()
    response = sp.response_for(start(client, sp), level="https://www.spid.gov.it/SpidL1")
    assert finish(client, response).status_code == 403


def test_an_identity_without_a_valid_fiscal_code_is_refused(sp: LocalIdp) -> None:
    sp.person = Person(fiscal_number="TINIT-RSSMRA80A01H501X")  # wrong check letter
    client = Client()
    answer = finish(client, sp.response_for(start(client, sp)))
    assert answer.status_code == 403
    assert "_auth_user_id" not in client.session


def test_an_unknown_provider_gets_the_list(sp: LocalIdp) -> None:
    page = Client().get("/accedi/spid/", {"idp": "https://evil.example"})
    assert page.status_code == 400
    assert "IdP di prova" in page.content.decode()
    assert SignInRequest.objects.count() == 0


def test_a_response_with_no_request_is_refused(sp: LocalIdp) -> None:
    assert finish(Client(), "bm90IHhtbA==").status_code == 403
    assert finish(Client(), "%%%").status_code == 403


def test_open_redirect_in_next_is_dropped(sp: LocalIdp) -> None:
    supply = customer_with_supply()
    Customer.objects.filter(pk=supply.holder_id).update(fiscal_code=FISCAL_CODE)
    client = Client()
    answer = finish(client, sp.response_for(start(client, sp, next_path="https://evil.example")))
    assert answer["Location"] == "/area-clienti/"


def test_sign_ins_from_one_address_are_throttled(sp: LocalIdp, settings: object) -> None:
    settings.AUTOLETTURA_SPID_PER_ADDRESS_HOUR = 2  # type: ignore[attr-defined]
    client = Client()
    start(client, sp)
    start(client, sp)
    assert client.get("/accedi/spid/", {"idp": sp.entity_id}).status_code == 429
    assert SignInRequest.objects.count() == 2


def test_cie_sign_in_asks_level_3_and_goes_straight_in(sp: LocalIdp, settings: object) -> None:
    settings.AUTOLETTURA_CIE_IDP_METADATA = [str(sp.metadata_file)]  # type: ignore[attr-defined]
    supply = customer_with_supply()
    Customer.objects.filter(pk=supply.holder_id).update(fiscal_code=FISCAL_CODE)
    assert "Entra con CIE" in Client().get("/accedi/").content.decode()
    client = Client()
    page = client.get("/accedi/cie/")
    found = re.search(r'name="SAMLRequest" value="([^"]+)"', page.content.decode())
    assert found
    request = html.unescape(found.group(1))
    assert b"SpidL3" in base64.b64decode(request)
    assert finish(client, sp.response_for(request))["Location"] == "/area-clienti/"
    assert SignInRequest.objects.get().scheme == "cie"


def test_the_codes_page_expires_with_the_sign_in(
    sp: LocalIdp, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_with_supply()
    client = Client()
    finish(client, sp.response_for(start(client, sp)))
    assert client.get("/accedi/spid/collega/").status_code == 200
    later = timezone.now() + timedelta(minutes=31)
    monkeypatch.setattr("autolettura.clock.now", lambda: later)
    posted = client.post(
        "/accedi/spid/collega/", {"customer_code": "1004127", "supply_code": "400120734"}
    )
    assert posted["Location"] == "/accedi/"
    assert Customer.objects.get(customer_code="1004127").fiscal_code == ""
