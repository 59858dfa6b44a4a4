"""The portal's Italian as a good customer-service writer would put it: no code named twice,
no "in numeri e per esteso", no capital after a colon, a sign-up mail that does not hope."""

from __future__ import annotations

import html
import re
from pathlib import Path

import polib
import pytest
from django.core import mail
from django.test import Client
from django.utils import translation

from autolettura.readings.messages import error_message
from autolettura.rules.errors import FieldError
from tests.portal.support import PASSWORD, customer_with_supply

pytestmark = pytest.mark.django_db

PO = Path(__file__).resolve().parents[2] / "src/autolettura/locale/it/LC_MESSAGES/django.po"
# Words that keep their capital anywhere in a sentence.
PROPER = {"SMS", "WhatsApp", "PDF", "JPEG", "PNG", "HEIC", "CMA", "API", "Sportello", "IVA"}


def text(response: object) -> str:
    page = response.content.decode()  # type: ignore[attr-defined]
    return html.unescape(" ".join(re.sub(r"<[^>]+>", "", page).split()))


class TestWhatYouNeed:
    def test_names_each_code_once_in_italian(self, client: Client) -> None:
        page = text(client.get("/cosa-serve/"))
        assert "(codice utente)" not in page and "(codice utenza)" not in page
        assert "Codice utente: sulla prima pagina della bolletta" in page

    def test_gives_the_italian_name_beside_the_english_one(self, client: Client) -> None:
        client.cookies["django_language"] = "en"
        page = text(client.get("/cosa-serve/"))
        assert "Customer code (codice utente):" in page

    def test_asks_for_the_date_in_digits_not_in_words(self, client: Client) -> None:
        page = text(client.get("/cosa-serve/"))
        assert "per esteso" not in page
        assert "giorno, mese e anno in cifre, per esempio 01/01/2026" in page
        with translation.override("it"):
            message = error_message(FieldError("read_on", "date_invalid"))
        assert "per esteso" not in message and "in cifre" in message


class TestSignUpMail:
    def test_says_a_request_arrived_without_hoping(self, client: Client) -> None:
        customer_with_supply()
        client.post(
            "/registrati/",
            {
                "customer_code": "1004127",
                "supply_code": "400120734",
                "email": "giulia@example.org",
                "password1": PASSWORD,
                "password2": PASSWORD,
                "privacy": "on",
            },
        )
        (message,) = mail.outbox
        assert "speriamo" not in message.body
        assert "abbiamo ricevuto una richiesta di iscrizione" in message.body


class TestErrorSummary:
    def test_the_error_after_a_fields_name_starts_in_lower_case(self, client: Client) -> None:
        page = text(client.post("/password/dimenticata/", {"email": ""}))
        assert "E-mail: questo campo è obbligatorio." in page


class TestTranslations:
    def test_no_capital_after_a_colon_and_no_slips_in_the_italian(self) -> None:
        slips = []
        for entry in polib.pofile(str(PO)):
            italian = entry.msgstr
            for match in re.finditer(r": ([A-ZÀ-Ý][\w'-]*)", italian):
                if match.group(1) not in PROPER:
                    slips.append(f"capital after a colon: {italian!r}")
            for phrase in ("speriamo tu", "per esteso", "(codice utente)", "(codice utenza)"):
                if phrase in italian:
                    slips.append(f"{phrase}: {italian!r}")
        assert slips == []
