"""Paying a bill from the Sportello Online in a real browser: "Paga" takes the customer to
pagoPA checkout (a stand-in on 127.0.0.1) with the bill's notice, and back."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.api_helpers import Clock
from tests.e2e.browser import serious_violations, sign_in
from tests.payments.fakes import FakeCheckout
from tests.payments.support import make_bill
from tests.portal.support import PASSWORD, customer_with_supply, with_account

pytestmark = pytest.mark.django_db(transaction=True)


def test_paga_takes_the_customer_to_checkout_with_the_bills_notice(
    page: Any, clock: Clock, settings: Any
) -> None:
    supply = customer_with_supply()
    bill = make_bill(total="67.80", sequence=4, supply=supply, period_start=date(2026, 11, 1))
    sign_in(page, with_account(supply).username, PASSWORD)

    with FakeCheckout() as checkout:
        settings.AUTOLETTURA_PAGOPA_CHECKOUT_URL = checkout.carts_url
        page.goto(f"/area-clienti/utenze/{supply.supply_code}/")
        row = page.locator("tr", has_text=bill.number)
        assert "Da pagare" in row.inner_text()
        assert serious_violations(page) == []

        with page.expect_navigation():
            row.locator("button", has_text="Paga").click()

        assert page.url == f"{checkout.url}/c/carts/1"
        assert page.locator("h1").inner_text() == "pagoPA checkout"
        (cart,) = checkout.carts
        assert cart["paymentNotices"][0]["noticeNumber"] == bill.payment_notice.notice_number
        assert cart["paymentNotices"][0]["amount"] == 6780

    # Back from checkout, as its "ok" address sends the customer.
    page.goto(cart["returnUrls"]["returnOkUrl"])
    assert "Grazie: pagamento eseguito" in page.locator("main").inner_text()
