"""Every channel's contact, on the site and on the bill, from the same settings: the SMS
number and its exact format, WhatsApp, e-mail, the toll-free number and the fault line, the
counters' addresses and opening hours; and no app that does not exist."""

from __future__ import annotations

import html
import io
import re
from datetime import date

import pytest
from django.test import Client
from pypdf import PdfReader
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.billing.models import Bill
from autolettura.billing.pdf import bill_pdf
from autolettura.billing.services import bill_run_in_process, bill_run_start
from autolettura.billing.tariffs import tariffs_load
from autolettura.rules.contacts import parse_counters
from tests.conftest import make_supply, rome

pytestmark = pytest.mark.django_db

DASH = "\N{EN DASH}"

COUNTERS = (
    "Sportello Centro|Via Dante 4, 15121 Alessandria|1-5 08:30-12:30/2,4 14:30-16:30;"
    "Sportello Nord|Corso Roma 90, 15122 Alessandria|3 09:00-12:00"
)


@pytest.fixture(autouse=True)
def utility(settings: SettingsWrapper) -> None:
    """A utility's own contacts, none of them the defaults."""
    settings.AUTOLETTURA_SMS_NUMBER = "+39 331 987 6543"
    settings.AUTOLETTURA_WHATSAPP_NUMBER = "+39 331 123 4567"
    settings.AUTOLETTURA_READINGS_EMAIL = "autoletture@acque.example.it"
    settings.AUTOLETTURA_PHONE_TOLL_FREE = "800 123 456"
    settings.AUTOLETTURA_PHONE_FAULTS = "800 654 321"
    settings.AUTOLETTURA_COUNTERS = parse_counters(COUNTERS)


def page_text(client: Client, path: str, language: str = "it") -> str:
    response = client.get(path, headers={"accept-language": language})
    assert response.status_code == 200
    body = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(body).split())


def pdf_text(document: bytes) -> str:
    reader = PdfReader(io.BytesIO(document))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


ITALIAN_COUNTERS = [
    f"Sportello Centro Via Dante 4, 15121 Alessandria Dal lunedì al venerdì, 8:30{DASH}12:30; "
    f"martedì e giovedì, 14:30{DASH}16:30; chiuso nei giorni festivi.",
    f"Sportello Nord Corso Roma 90, 15122 Alessandria Mercoledì, 9:00{DASH}12:00; "
    "chiuso nei giorni festivi.",
]


class TestTheChannelsPage:
    def test_gives_the_sms_number_and_its_exact_format(self, client: Client) -> None:
        text = page_text(client, "/come-comunicare-la-lettura/")

        assert "Invia un SMS al +39 331 987 6543 scritto esattamente così" in text
        assert "codice utenza#codice utente#lettura#data" in text
        assert "Per esempio 123456789#1234567#01234#20/10/2026" in text
        assert "La data (giorno/mese/anno) si può omettere" in text

    def test_gives_whatsapp_e_mail_and_the_toll_free_number(self, client: Client) -> None:
        text = page_text(client, "/come-comunicare-la-lettura/")

        for contact in ("+39 331 123 4567", "autoletture@acque.example.it", "800 123 456"):
            assert contact in text

    def test_gives_every_counters_address_and_hours(self, client: Client) -> None:
        text = page_text(client, "/come-comunicare-la-lettura/")

        for counter in ITALIAN_COUNTERS:
            assert counter in text

    def test_offers_the_app_that_the_site_installs(self, client: Client) -> None:
        text = page_text(client, "/come-comunicare-la-lettura/")
        assert "L'app sul telefono" in text
        assert "«Installa l'app» (o «Aggiungi a schermata Home»" in text
        # The app offered is this site's own: the page links its manifest.
        page = client.get("/come-comunicare-la-lettura/").content.decode()
        assert '<link rel="manifest" href="/manifest.webmanifest"' in page
        english = page_text(client, "/come-comunicare-la-lettura/", "en")
        assert "The app on your phone" in english
        # No store is named: there is no app in a store.
        for store in ("App Store", "Google Play", "Play Store"):
            assert store not in text and store not in english

    def test_says_it_in_english_too(self, client: Client) -> None:
        text = page_text(client, "/come-comunicare-la-lettura/", "en")

        assert "Send an SMS to +39 331 987 6543 written exactly like this" in text
        assert "supply code#customer code#reading#date" in text
        assert (
            f"From Monday to Friday, 8:30{DASH}12:30; Tuesday and Thursday, 14:30{DASH}16:30; "
            in text
        )
        assert "closed on public holidays." in text


class TestTheContactsPage:
    def test_gives_every_channel_and_counter(self, client: Client) -> None:
        text = page_text(client, "/contatti/")

        for contact in (
            "800 654 321",
            "800 123 456",
            "autoletture@acque.example.it",
            "+39 331 123 4567",
            "SMS: +39 331 987 6543, scritto così: codice utenza#codice utente#lettura#data",
            *ITALIAN_COUNTERS,
        ):
            assert contact in text


class TestTheBill:
    @pytest.fixture
    def text(self) -> str:
        tariffs_load(year=2026)
        supply = make_supply(installed_on=date(2026, 9, 1))
        now = rome(2026, 11, 10, 8, 0)
        run = bill_run_start(through=date(2026, 10, 31), issued_on=date(2026, 11, 10), now=now)
        bill_run_in_process(run=run, now=now)
        bill = Bill.objects.select_related("supply", "customer").get(supply=supply)
        self.codes = f"{supply.supply_code}#{supply.holder.customer_code}"
        return pdf_text(bill_pdf(bill))

    def test_gives_the_same_contacts_as_the_site(self, text: str) -> None:
        assert f"per SMS al +39 331 987 6543, scritto così: {self.codes}#lettura#data" in text
        assert "per e-mail a autoletture@acque.example.it o su WhatsApp al +39 331 123 4567" in text
        assert "al numero verde gratuito 800 123 456" in text
        assert "Guasti e perdite: 800 654 321, gratuito, 24 ore su 24" in text
        assert "Sportello Centro, Via Dante 4, 15121 Alessandria." in text
        assert (
            f"Sportello Nord, Corso Roma 90, 15122 Alessandria. Mercoledì, 9:00{DASH}12:00; "
            "chiuso nei giorni festivi."
        ) in text
        assert (
            f"Dal lunedì al venerdì, 8:30{DASH}12:30; martedì e giovedì, 14:30{DASH}16:30" in text
        )

    def test_points_to_the_app_the_site_installs(self, text: str) -> None:
        assert "anche come app sul telefono, che la conserva se in cantina non c'è campo" in text
        assert not re.search(r"App Store|Google Play", text)
