"""The billing office's pagoPA page: the payments that paid no bill, in plain words, and
the flows imported (who may open it: tests/backoffice/test_permissions.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from autolettura.backoffice.roles import BILLING
from autolettura.payments import services
from tests.backoffice.support import BACKEND, operator
from tests.payments.support import FIRST_FLOW, SECOND_FLOW, imported_at, make_bill

pytestmark = pytest.mark.django_db


def test_lists_unmatched_and_duplicate_payments_in_plain_words(client: Client) -> None:
    make_bill(total="123.45", sequence=1)
    make_bill(total="67.80", sequence=2)
    make_bill(total="10.00", sequence=3)
    services.flow_import(data=FIRST_FLOW.read_bytes(), now=imported_at())
    services.flow_import(data=SECOND_FLOW.read_bytes(), now=imported_at())
    client.force_login(operator(BILLING), backend=BACKEND)

    html = client.get("/backoffice/pagamenti/", HTTP_ACCEPT_LANGUAGE="it").content.decode()

    assert "Pagamenti da verificare" in html
    assert "Nessuna bolletta ha questo avviso" in html and "202700000009992" in html
    assert html.count("La bolletta era già pagata: da rimborsare") == 3
    assert "2027/000001" in html  # the bill paid twice
    assert "Banca di prova S.p.A." in html and "POSOIT22" in html
    assert "123,45 €" in html and "283,70 €" in html  # a payment and a flow's total
    for code in ("UNMATCHED", "DUPLICATE", "MATCHED"):
        assert code not in html  # operators read words, never codes


def test_says_so_when_there_is_nothing_to_check(client: Client) -> None:
    client.force_login(operator(BILLING), backend=BACKEND)

    html = client.get("/backoffice/pagamenti/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Nothing to check." in html and "No flow imported yet." in html
