"""The portal's bills (R17): each to pay, paid or overdue, and "Paga" handing the bill's
pagoPA notice to checkout (a local stand-in on 127.0.0.1) and sending the customer there."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.billing.models import Bill
from autolettura.customers.models import Supply
from autolettura.payments import services
from tests.api_helpers import Clock
from tests.payments.fakes import FakeCheckout
from tests.payments.support import FIRST_FLOW, imported_at, make_bill
from tests.portal.support import DECEMBER_20, customer_with_supply, with_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(DECEMBER_20)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture
def mine() -> Supply:
    return customer_with_supply()


@pytest.fixture
def owner(client: Client, mine: Supply) -> Client:
    client.force_login(with_account(mine), backend=settings.AUTHENTICATION_BACKENDS[1])
    return client


@pytest.fixture
def bills(mine: Supply) -> dict[str, Bill]:
    """Bill 1 paid (by the fixture flow), bill 4 still to pay, bill 3 past its due date."""
    made = {
        "paid": make_bill(total="123.45", sequence=1, supply=mine, period_start=date(2026, 9, 1)),
        "to_pay": make_bill(total="67.80", sequence=4, supply=mine, period_start=date(2026, 11, 1)),
        "overdue": make_bill(
            total="10.00",
            sequence=3,
            supply=mine,
            period_start=date(2026, 7, 1),
            due_on=date(2026, 12, 1),
        ),
    }
    services.flow_import(data=FIRST_FLOW.read_bytes(), now=imported_at())
    return made


def pay_url(bill: Bill) -> str:
    return (
        f"/area-clienti/utenze/{bill.supply.supply_code}/bollette/{bill.year}/{bill.sequence}/paga/"
    )


def row_of(html: str, bill: Bill) -> str:
    start = html.index(f">{bill.number}<")
    return html[start : html.index("</tr>", start)]


class TestBillsList:
    def test_shows_each_bill_as_paid_to_pay_or_overdue(
        self, owner: Client, mine: Supply, bills: dict[str, Bill]
    ) -> None:
        html = owner.get(
            f"/area-clienti/utenze/{mine.supply_code}/", HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()

        assert "Paid" in row_of(html, bills["paid"]) and "01/02/2027" in row_of(html, bills["paid"])
        assert "To pay" in row_of(html, bills["to_pay"])
        assert "Overdue" in row_of(html, bills["overdue"])
        assert pay_url(bills["paid"]) not in html
        assert pay_url(bills["to_pay"]) in row_of(html, bills["to_pay"])
        assert pay_url(bills["overdue"]) in row_of(html, bills["overdue"])

    def test_says_it_in_italian(self, owner: Client, mine: Supply, bills: dict[str, Bill]) -> None:
        owner.cookies[settings.LANGUAGE_COOKIE_NAME] = "it"
        html = owner.get(f"/area-clienti/utenze/{mine.supply_code}/").content.decode()

        assert "Pagata" in row_of(html, bills["paid"])
        assert "Da pagare" in row_of(html, bills["to_pay"])
        assert "Scaduta" in row_of(html, bills["overdue"])
        assert ">Paga<" in row_of(html, bills["to_pay"])


class TestPay:
    def test_sends_the_customer_to_checkout_with_the_bills_notice(
        self, owner: Client, bills: dict[str, Bill], settings: SettingsWrapper
    ) -> None:
        bill = bills["to_pay"]
        with FakeCheckout() as checkout:
            settings.AUTOLETTURA_PAGOPA_CHECKOUT_URL = checkout.carts_url

            response = owner.post(pay_url(bill))

        assert response.status_code == 302
        assert response["Location"] == f"{checkout.url}/c/carts/1"
        (cart,) = checkout.carts
        (notice,) = cart["paymentNotices"]
        assert notice == {
            "noticeNumber": bill.payment_notice.notice_number,
            "fiscalCode": "80012345678",
            "amount": 6780,
            "companyName": "Acque di Valmora",
            "description": f"Bolletta n. {bill.number}",
        }
        back = f"http://testserver/area-clienti/utenze/{bill.supply.supply_code}/?pagamento="
        assert cart["returnUrls"] == {
            "returnOkUrl": back + "ok",
            "returnCancelUrl": back + "annullato",
            "returnErrorUrl": back + "errore",
        }
        assert cart["emailNotice"] == "giulia@example.org"

    def test_a_paid_bill_is_not_sent_to_checkout(
        self, owner: Client, bills: dict[str, Bill], settings: SettingsWrapper
    ) -> None:
        with FakeCheckout() as checkout:
            settings.AUTOLETTURA_PAGOPA_CHECKOUT_URL = checkout.carts_url

            response = owner.post(pay_url(bills["paid"]), follow=True)

        assert checkout.carts == []
        assert b"nothing left to pay" in response.content or b"nulla da pagare" in response.content

    def test_says_what_to_do_when_checkout_does_not_answer(
        self, owner: Client, bills: dict[str, Bill], settings: SettingsWrapper
    ) -> None:
        with FakeCheckout(status=500) as checkout:
            settings.AUTOLETTURA_PAGOPA_CHECKOUT_URL = checkout.carts_url

            response = owner.post(pay_url(bills["to_pay"]), follow=True, HTTP_ACCEPT_LANGUAGE="en")

        assert len(checkout.carts) == 1
        assert response.redirect_chain[-1][0].endswith(
            f"/utenze/{bills['to_pay'].supply.supply_code}/"
        )
        assert b"pagoPA cannot take the payment right now" in response.content

    def test_is_refused_for_another_customers_bill(
        self, client: Client, bills: dict[str, Bill], settings: SettingsWrapper
    ) -> None:
        other = customer_with_supply(customer_code="2008811", supply_code="400777001")
        client.force_login(
            with_account(other, email="altro@example.org"),
            backend=settings.AUTHENTICATION_BACKENDS[1],
        )
        with FakeCheckout() as checkout:
            settings.AUTOLETTURA_PAGOPA_CHECKOUT_URL = checkout.carts_url

            response = client.post(pay_url(bills["to_pay"]))

        assert response.status_code == 404 and checkout.carts == []

    def test_is_a_post_only(self, owner: Client, bills: dict[str, Bill]) -> None:
        assert owner.get(pay_url(bills["to_pay"])).status_code == 405

    def test_welcomes_the_customer_back(
        self, owner: Client, mine: Supply, bills: dict[str, Any]
    ) -> None:
        html = owner.get(
            f"/area-clienti/utenze/{mine.supply_code}/?pagamento=ok", HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()

        assert "Thank you: payment done" in html
        assert "To pay" in row_of(html, bills["to_pay"])  # until pagoPA reports it


class TestBillsBeforePagopa:
    def test_a_bill_without_a_notice_claims_neither_paid_nor_overdue(
        self, owner: Client, mine: Supply
    ) -> None:
        old = make_bill(
            total="40.00",
            sequence=7,
            supply=mine,
            period_start=date(2026, 5, 1),
            due_on=date(2026, 7, 1),
        )
        old.payment_notice.delete()  # as a bill issued before pagoPA was set up

        html = owner.get(
            f"/area-clienti/utenze/{mine.supply_code}/", HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()

        row = row_of(html, old)
        assert "Overdue" not in row and "Paid" not in row and "/paga/" not in row


class TestWhereTheCustomerGoes:
    def test_never_to_a_site_other_than_checkouts(
        self, owner: Client, bills: dict[str, Bill], settings: SettingsWrapper
    ) -> None:
        with FakeCheckout(location="https://pagopa.example.net/pay") as checkout:
            settings.AUTOLETTURA_PAGOPA_CHECKOUT_URL = checkout.carts_url

            response = owner.post(pay_url(bills["to_pay"]), HTTP_ACCEPT_LANGUAGE="en")

        assert response.status_code == 302
        assert response["Location"] == f"/area-clienti/utenze/{bills['to_pay'].supply.supply_code}/"

    def test_to_checkouts_pages_when_it_sends_there(
        self, owner: Client, bills: dict[str, Bill], settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_PAGOPA_CHECKOUT_SITE = "https://checkout.pagopa.it"
        with FakeCheckout(location="https://checkout.pagopa.it/c/abc") as checkout:
            settings.AUTOLETTURA_PAGOPA_CHECKOUT_URL = checkout.carts_url

            response = owner.post(pay_url(bills["to_pay"]))

        assert response["Location"] == "https://checkout.pagopa.it/c/abc"

    def test_the_bills_page_lets_its_forms_lead_to_checkout_only(
        self, owner: Client, mine: Supply, settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_PAGOPA_CHECKOUT_URL = (
            "https://api.platform.pagopa.it/checkout/ec/v1/carts"
        )
        settings.AUTOLETTURA_PAGOPA_CHECKOUT_SITE = "https://checkout.pagopa.it"
        policy = owner.get(f"/area-clienti/utenze/{mine.supply_code}/")["Content-Security-Policy"]

        assert (
            "form-action 'self' https://api.platform.pagopa.it https://checkout.pagopa.it;"
            in policy + ";"
        )
        other = owner.get("/area-clienti/")["Content-Security-Policy"]
        assert "form-action 'self'" in other and "pagopa" not in other
