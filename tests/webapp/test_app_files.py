"""The app's files as the browsers read them: the manifest (in the customer's language, its
icons real PNGs of the sizes it declares), the service worker (never cached, naming the
files it keeps), the page shown without signal, and the key that makes a reading kept on
the phone count once however many times it is sent."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import resolve
from PIL import Image
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.customers.models import Supply
from autolettura.readings.models import InboundMessage, Reading
from autolettura.webapp import selectors
from tests import pictures
from tests.api_helpers import Clock
from tests.portal.support import DECEMBER_20, customer_with_supply, with_account, with_history

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(DECEMBER_20)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture(autouse=True)
def _media(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


def signed_in(client: Client, supply: Supply, email: str = "giulia@example.org") -> Client:
    client.force_login(
        with_account(supply, email=email), backend=settings.AUTHENTICATION_BACKENDS[1]
    )
    return client


class TestManifest:
    def test_the_manifest_names_the_app_in_the_customers_language(self, client: Client) -> None:
        italian = client.get("/manifest.webmanifest")
        assert italian.status_code == 200
        assert italian["Content-Type"] == "application/manifest+json"
        assert "Accept-Language" in italian["Vary"]
        manifest = json.loads(italian.content)
        assert manifest["lang"] == "it"
        assert manifest["name"].startswith("Sportello Online · ")
        assert manifest["description"].startswith("Comunica la lettura")
        assert manifest["start_url"] == "/area-clienti/"
        assert (manifest["display"], manifest["scope"], manifest["theme_color"]) == (
            "standalone",
            "/",
            "#0066cc",
        )
        assert [s["name"] for s in manifest["shortcuts"]] == [
            "Comunica la lettura",
            "Segnala un guasto",
        ]

        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        english = json.loads(client.get("/manifest.webmanifest").content)
        assert english["lang"] == "en"
        assert english["description"].startswith("Send your water meter reading")
        assert [s["name"] for s in english["shortcuts"]] == ["Send the reading", "Report a fault"]

    def test_every_icon_is_a_png_of_the_size_it_declares(self, client: Client) -> None:
        manifest = json.loads(client.get("/manifest.webmanifest").content)
        declared = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
        # What Android, Apple, Windows and desktop Chrome ask for, and Android's maskable.
        for size in ("48x48", "144x144", "180x180", "192x192", "512x512"):
            assert (size, "any") in declared
        assert {("192x192", "maskable"), ("512x512", "maskable")} <= declared
        for icon in manifest["icons"]:
            path = finders.find(icon["src"].removeprefix(settings.STATIC_URL))
            assert isinstance(path, str), icon["src"]
            with Image.open(path) as image:
                assert image.format == "PNG"
                assert f"{image.width}x{image.height}" == icon["sizes"]
                if icon["purpose"] == "maskable":
                    # The platform crops to a circle: the corners must be the background.
                    assert image.getpixel((0, 0))[3] == 255
        for shortcut in manifest["shortcuts"]:
            assert resolve(shortcut["url"])

    def test_every_page_links_the_manifest_and_the_app_script(self, client: Client) -> None:
        page = client.get("/").content.decode()
        assert '<link rel="manifest" href="/manifest.webmanifest"' in page
        assert re.search(r'<script src="[^"]*webapp/app\.js" defer>', page)
        assert '<meta name="theme-color" content="#0066cc">' in page


class TestServiceWorker:
    def test_the_worker_is_never_cached_and_keeps_the_shell_and_public_pages(
        self, client: Client
    ) -> None:
        response = client.get("/sw.js")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/javascript")
        assert response["Cache-Control"] == "no-cache"
        body = response.content.decode()
        assert f'const VERSION = "{selectors.shell_version()}";' in body
        for url in selectors.shell_urls() + selectors.public_page_urls():
            assert json.dumps(url) in body, url
        assert '"/area-clienti/comunica-la-lettura/"' in body
        assert '"/senza-connessione/"' in body
        # Every file of the shell is there to be kept: a missing one fails the install.
        for path in selectors.SHELL_ASSETS:
            assert finders.find(path), path

    def test_the_page_without_signal_says_what_works_offline(self, client: Client) -> None:
        page = client.get("/senza-connessione/").content.decode()
        assert "<h1>Nessuna connessione</h1>" in page
        assert 'href="/area-clienti/comunica-la-lettura/"' in page


class TestReadingKeptOnThePhone:
    def form(self, supply: Supply, key: str) -> dict[str, object]:
        return {
            "supply": supply.supply_code,
            "reading": "446",
            "read_on": "20/12/2026",
            "idempotency_key": key,
            "photo": SimpleUploadedFile("meter.jpg", pictures.JPEG),
        }

    def test_sent_twice_with_its_key_it_is_one_reading_with_one_receipt(
        self, client: Client
    ) -> None:
        supply = customer_with_supply()
        with_history(supply)
        owner = signed_in(client, supply)
        key = "6f1c2d4e-9a7b-4c3d-8e2f-1a2b3c4d5e6f"

        first = owner.post("/area-clienti/comunica-la-lettura/", self.form(supply, key))
        again = owner.post(
            "/area-clienti/comunica-la-lettura/",
            self.form(supply, "other-key-ignored"),
            headers={"Idempotency-Key": key},
        )

        reading = Reading.objects.get(supply=supply, value=446)
        assert first.status_code == again.status_code == 302
        assert first["Location"] == again["Location"]
        assert reading.receipt in first["Location"]
        (message,) = InboundMessage.objects.filter(channel="WEB")
        assert message.reading == reading
        assert message.payload == {
            "supply_code": supply.supply_code,
            "reading": "446",
            "read_on": "20/12/2026",
        }

    def test_another_account_sending_the_same_key_gets_its_own_answer(self, client: Client) -> None:
        mine = customer_with_supply()
        theirs = customer_with_supply(customer_code="2008811", supply_code="400777001")
        key = "shared-key-0001"
        signed_in(client, mine).post("/area-clienti/comunica-la-lettura/", self.form(mine, key))
        other = signed_in(Client(), theirs, email="marco@example.org")

        response = other.post("/area-clienti/comunica-la-lettura/", self.form(theirs, key))

        theirs_reading = Reading.objects.get(supply=theirs)
        assert theirs_reading.receipt in response["Location"]
        assert InboundMessage.objects.filter(channel="WEB").count() == 2

    def test_a_malformed_key_is_ignored_not_refused(self, client: Client) -> None:
        supply = customer_with_supply()
        owner = signed_in(client, supply)

        response = owner.post(
            "/area-clienti/comunica-la-lettura/", self.form(supply, "bad key\n" * 40)
        )

        assert response.status_code == 302
        assert Reading.objects.filter(supply=supply).count() == 1
        assert not InboundMessage.objects.filter(channel="WEB").exists()


def test_the_icons_script_draws_what_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scripts/make_app_icons.py makes the committed icons: change the mark there."""
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "scripts" / "make_app_icons.py"
    spec = importlib.util.spec_from_file_location("make_app_icons", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    drawn = module.icon(192, maskable=False)
    committed = Image.open(finders.find("webapp/icons/icon-192.png"))
    buffer = io.BytesIO()
    drawn.save(buffer, "PNG")
    assert Image.open(buffer).convert("RGBA").tobytes() == committed.convert("RGBA").tobytes()
