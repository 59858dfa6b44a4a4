"""The reader's app in a real Chromium: the day's round loaded with a connection, then the
network cut (Playwright's offline mode): a reading and a failed visit with its photo are
recorded on the phone, and when the network returns each reaches the database once; the
copies the phone kept, sent again, change nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from autolettura.readings.models import Channel, Reading, Source, Status
from autolettura.rounds.models import AttemptState, ReadingAttempt
from tests import pictures
from tests.api_helpers import Clock
from tests.backoffice.support import PASSWORD
from tests.e2e.browser import screenshot, serious_violations, worker_ready
from tests.rounds.support import planned_visit, reader, supply_on_round

pytestmark = pytest.mark.django_db(transaction=True)


def large_photo() -> bytes:
    """A 3000 x 2400 photo of noise at high quality: about 9 MB, as a camera may give."""
    out = io.BytesIO()
    Image.effect_noise((3000, 2400), 120).convert("RGB").save(out, format="JPEG", quality=97)
    return out.getvalue()


def sign_in_as_reader(page: Any, username: str) -> None:
    page.goto("/letturisti/")
    # Not signed in: the operators' sign-in, then back to the round.
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.url.endswith("/letturisti/")


def test_the_readers_app_is_installable_accessible_and_forgotten_on_sign_out(
    phone: Any, clock: Clock
) -> None:
    planned_visit(supply_on_round())
    page = phone.new_page()
    sign_in_as_reader(page, reader().username)
    worker_ready(page)
    cdp = phone.new_cdp_session(page)

    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [], manifest["errors"]
    assert manifest["url"].endswith("/letturisti/manifest.webmanifest")
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    assert page.evaluate("navigator.serviceWorker.controller.scriptURL").endswith(
        "/letturisti/sw.js"
    )
    assert serious_violations(page) == []

    page.goto("/letturisti/")  # the round, kept on the phone ...
    assert page.evaluate("caches.has('letturisti-round')")
    with page.expect_navigation():
        page.click("header form[data-sign-out] button")
    # ... is dropped when the reader signs out (a shared phone).
    page.wait_for_function("caches.has('letturisti-round').then((kept) => !kept)")


def test_a_round_worked_without_signal_reaches_the_office_once(phone: Any, clock: Clock) -> None:
    # Two doors of the same street, given out of order: the round walks them by number.
    far = supply_on_round(address="Via Roma 12, 15090 Valmora")
    near = supply_on_round(
        customer_code="2008811", supply_code="400777001", address="Via Roma 2, 15090 Valmora"
    )
    read_visit = planned_visit(far)
    failed_visit = planned_visit(near)
    who = reader()

    page = phone.new_page()
    sign_in_as_reader(page, who.username)
    worker_ready(page)
    page.goto("/letturisti/")  # loaded once under the worker: the round is on the phone

    addresses = page.locator(".reader-stop h2").all_inner_texts()
    assert [a.split(". ", 1)[1] for a in addresses] == [near.address, far.address]
    card = page.locator(f"#visit-{read_visit.pk}")
    assert far.meters.get().serial in card.inner_text()
    assert "00420 m³" in card.inner_text()  # the register as the meter shows it

    phone.set_offline(True)
    page.reload()  # in the cellar, the round opens from the phone
    assert "Nessuna connessione" in page.locator("#reader-connection").inner_text()

    card = page.locator(f"#visit-{read_visit.pk}")
    card.locator("summary", has_text="Lettura").click()
    card.locator("input[name=reading]").fill("445")
    card.locator("button", has_text="Registra la lettura").click()
    card.locator("[data-label]", has_text="Conservata su questo telefono").wait_for()

    other = page.locator(f"#visit-{failed_visit.pk}")
    other.locator("summary", has_text="Non letto").click()
    other.locator("label", has_text="Cliente assente").click()
    # A photo as a phone's camera gives it: larger than the server takes (5 MB), so the app
    # makes it smaller before keeping it.
    camera = large_photo()
    assert len(camera) > 5 * 1024 * 1024
    page.locator(f"#failed-photo-{failed_visit.pk}").set_input_files(
        {"name": "cancello.jpg", "mimeType": "image/jpeg", "buffer": camera}
    )
    other.locator("button", has_text="Registra la visita non riuscita").click()
    other.locator("[data-label]", has_text="Conservata su questo telefono").wait_for()
    page.locator("#reader-waiting", has_text="2").wait_for()
    screenshot(page, "letturisti-senza-campo", full_page=False)

    assert not Reading.objects.filter(channel=Channel.ROUND).exists()
    assert ReadingAttempt.objects.filter(state=AttemptState.PLANNED).count() == 2
    kept = page.evaluate(
        "ReaderQueue.all().then((kept) => { window.keptCopies = kept; return kept.length; })"
    )
    assert kept == 2

    phone.set_offline(False)
    card.locator("[data-label]", has_text="Accettata").wait_for(timeout=60_000)
    other.locator("[data-label]", has_text="Non letto").wait_for(timeout=60_000)
    assert "25 m³" in card.inner_text()
    assert "cliente assente" in other.inner_text()
    screenshot(page, "letturisti-inviate", full_page=False)

    reading = Reading.objects.get(channel=Channel.ROUND)
    assert (reading.supply_id, reading.value, reading.source) == (far.pk, 445, Source.OPERATOR)
    assert (reading.status, reading.submitted_by) == (Status.ACCEPTED, who)
    read_visit.refresh_from_db()
    failed_visit.refresh_from_db()
    assert (read_visit.state, read_visit.reading_id) == (AttemptState.MADE, reading.pk)
    assert (failed_visit.state, failed_visit.cause) == (AttemptState.FAILED, "ABSENT")
    # The photo kept on the phone arrived with the visit, made smaller on the phone.
    with failed_visit.photo.open("rb") as kept:
        kind, size = pictures.describe(kept.read())
    assert kind == "JPEG" and max(size) == 2000
    first = (read_visit.recorded_at, failed_visit.recorded_at, failed_visit.photo.name)

    # The kept copies sent again (Background Sync and the page at once, or an answer lost on
    # the way): each is answered as the first time, and nothing changes.
    states = page.evaluate(
        """async () => {
            for (const record of window.keptCopies) {
                await ReaderQueue.put(record);
            }
            return (await ReaderQueue.flush()).map((record) => record.state);
        }"""
    )
    assert states == ["sent", "sent"]
    assert Reading.objects.filter(channel=Channel.ROUND).count() == 1
    assert ReadingAttempt.objects.filter(state=AttemptState.FAILED).count() == 1
    read_visit.refresh_from_db()
    failed_visit.refresh_from_db()
    assert (read_visit.recorded_at, failed_visit.recorded_at, failed_visit.photo.name) == first


def test_a_value_refused_on_arrival_says_what_to_fix_and_can_be_recorded_again(
    phone: Any, clock: Clock
) -> None:
    visit = planned_visit(supply_on_round())
    page = phone.new_page()
    sign_in_as_reader(page, reader().username)
    worker_ready(page)
    page.goto("/letturisti/")

    phone.set_offline(True)
    card = page.locator(f"#visit-{visit.pk}")
    card.locator("summary", has_text="Lettura").click()
    card.locator("input[name=reading]").fill("123456")  # a digit too many for this meter
    card.locator("button", has_text="Registra la lettura").click()
    card.locator("[data-label]", has_text="Conservata su questo telefono").wait_for()

    phone.set_offline(False)
    card.locator("[data-label]", has_text="Non registrata").wait_for(timeout=60_000)
    assert "al massimo 5" in card.locator("[data-outcome]").inner_text()
    assert ReadingAttempt.objects.get(pk=visit.pk).state == AttemptState.PLANNED
    # The reader records it again, right this time, with the connection back.
    card.locator("summary", has_text="Lettura").click()
    card.locator("input[name=reading]").fill("445")
    card.locator("button", has_text="Registra la lettura").click()
    card.locator("[data-label]", has_text="Accettata").wait_for(timeout=60_000)
    assert ReadingAttempt.objects.get(pk=visit.pk).state == AttemptState.MADE
