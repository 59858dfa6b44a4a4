"""The Sportello Online as an app, in a real Chromium: installable (Chromium's own checks of
the manifest and the service worker), and "Send the reading" without signal: a reading with
its photo kept on the phone while offline (Playwright's offline mode) is sent once when the
network returns, and the page shows its receipt."""

from __future__ import annotations

from typing import Any

import pytest

from autolettura.readings.models import InboundMessage, Reading, Status
from tests.api_helpers import Clock
from tests.e2e.browser import screenshot, sign_in, worker_ready
from tests.photos.images import meter_photo, varied
from tests.portal.support import PASSWORD, customer_with_supply, with_account, with_history

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _read_in_time(settings: Any) -> None:
    # The photo is read when the kept reading arrives: on a busy test machine, give it time.
    settings.AUTOLETTURA_PHOTO_READ_SECONDS = 60


class TestInstallable:
    def test_chromium_finds_the_manifest_valid_and_the_app_installable(
        self, phone: Any, clock: Clock
    ) -> None:
        page = phone.new_page()
        page.goto("/")
        worker_ready(page)
        cdp = phone.new_cdp_session(page)

        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        assert manifest["url"].endswith("/manifest.webmanifest")
        print(manifest.get("manifest"))
        installability = cdp.send("Page.getInstallabilityErrors")
        assert installability["installabilityErrors"] == []

        # Chromium offers the install (beforeinstallprompt): the page offers it once.
        offer = page.locator("#app-install")
        offer.wait_for(state="visible")
        offer.locator("[data-install-dismiss]").click()
        assert offer.is_hidden()
        page.reload()
        worker_ready(page)
        page.wait_for_timeout(1_000)  # the browser's offer comes again on every page
        assert offer.is_hidden()
        assert page.evaluate("localStorage.getItem('autolettura-install-answered')") == "no"


class TestWithoutSignal:
    def test_a_reading_with_its_photo_kept_offline_is_sent_once_when_the_network_returns(
        self, phone: Any, clock: Clock
    ) -> None:
        supply = customer_with_supply()
        with_history(supply)
        user = with_account(supply)
        page = phone.new_page()
        sign_in(page, user.username, PASSWORD)
        page.goto("/area-clienti/comunica-la-lettura/")
        worker_ready(page)
        # Opened once online, the form is kept on the phone for the cellar.
        page.goto("/area-clienti/comunica-la-lettura/")

        phone.set_offline(True)
        # In the cellar: the form and the public pages open from the phone.
        assert page.goto("/come-leggere-il-contatore/").ok
        assert "leggere" in page.locator("h1").inner_text().lower()
        # A page that needs the network says so, and points at what works without it.
        page.goto("/privacy/")
        assert page.locator("h1").inner_text() == "Nessuna connessione"
        page.goto("/area-clienti/comunica-la-lettura/")
        # A photo of the meter (rendered with a real font), as the camera gives it.
        photo = meter_photo(varied("00446", seed=3, glare=0.0, blur=0.4))
        page.set_input_files(
            "#id_photo", {"name": "IMG_2041.jpg", "mimeType": "image/jpeg", "buffer": photo}
        )
        # Reading the photo needs the server: the page says to type the reading instead.
        page.click("#read-photo")
        assert page.locator("#app-offline-photo").is_visible()
        assert page.evaluate("document.activeElement.id") == "id_reading"
        page.fill("#id_reading", "446")
        page.fill("#id_read_on", "20/12/2026")
        page.click("#send-reading")
        kept = page.locator("#app-kept")
        kept.wait_for(state="visible")
        assert "conservata su questo telefono" in kept.inner_text()
        waiting = page.locator("#app-queue li[data-state=waiting]")
        waiting.wait_for()
        assert "446" in waiting.inner_text()
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "app-lettura-senza-campo", full_page=False)
        assert not Reading.objects.filter(supply=supply, value=446).exists()
        # A copy of what the phone keeps, to send it a second time below.
        page.evaluate("AutoletturaQueue.all().then((kept) => { window.keptCopy = kept[0]; })")

        phone.set_offline(False)
        sent = page.locator("#app-queue li[data-state=sent]")
        sent.wait_for(timeout=60_000)  # the photo is read on arrival
        assert "446" in sent.inner_text()
        assert kept.is_hidden()
        new = Reading.objects.filter(supply=supply, value=446)
        assert new.count() == 1
        reading = new.get()
        assert reading.receipt and reading.photo
        # The photo kept on the phone arrived with it, and was read on arrival: it agrees.
        assert (reading.photo_value, reading.status) == (446, Status.ACCEPTED)
        assert f"/letture/{reading.receipt}/" in (sent.locator("a").get_attribute("href") or "")
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "app-lettura-inviata", full_page=False)
        # The page goes on trying what waits (every 15 s, and whenever the signal returns):
        # the reading it told as sent stays, with its receipt, until the customer leaves.
        page.evaluate(
            """() => new Promise((done) => {
                const panel = document.getElementById("app-queue");
                panel.addEventListener("queue-shown", done, { once: true });
                window.dispatchEvent(new Event("online"));
            })"""
        )
        assert "446" in sent.inner_text() and sent.is_visible()

        # The same kept reading sent again (the worker's Background Sync and the page at
        # once, or an answer lost on the way) is still one reading, with the same receipt.
        receipts = page.evaluate(
            """async () => {
                await AutoletturaQueue.put(window.keptCopy);
                return (await AutoletturaQueue.flush()).map((record) => record.receipt);
            }"""
        )
        assert len(receipts) == 1 and f"/letture/{reading.receipt}/" in receipts[0]
        assert Reading.objects.filter(supply=supply, value=446).count() == 1
        assert InboundMessage.objects.filter(reading=reading).count() == 1
