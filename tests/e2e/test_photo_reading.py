""" "Comunica la lettura", photo first, in a real browser: the customer chooses a photo of the
meter (a real rendered one), the page proposes the value read with the crop where it was
read, and the customer confirms it."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.readings.models import Reading, Status
from tests.api_helpers import Clock
from tests.e2e.browser import MOBILE, screenshot, serious_violations, sign_in
from tests.photos.images import MeterPhoto, meter_photo, varied
from tests.portal.support import PASSWORD, customer_with_supply, with_account, with_history

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _read_in_time(settings: SettingsWrapper) -> None:
    settings.AUTOLETTURA_PHOTO_READ_SECONDS = 60


def test_a_photo_first_reading_is_proposed_confirmed_and_taken(page: Any, clock: Clock) -> None:
    supply = customer_with_supply()
    with_history(supply)  # the last valid reading is 420
    user = with_account(supply)
    sign_in(page, user.username, PASSWORD)

    page.goto("/area-clienti/comunica-la-lettura/")
    assert page.get_attribute("#id_photo", "accept") == "image/*"
    assert page.get_attribute("#id_photo", "capture") == "environment"
    photo = meter_photo(varied("00446", seed=3, glare=0.0, blur=0.4))
    page.set_input_files(
        "#id_photo", {"name": "IMG_2041.jpg", "mimeType": "image/jpeg", "buffer": photo}
    )
    with page.expect_navigation():
        page.click("#read-photo")

    said = page.locator("#photo-said").inner_text()
    assert "Nella tua foto leggiamo 00446 m³" in said, said
    assert page.input_value("#id_reading") == "00446"
    # The crop where the register was read, loaded and wider than tall.
    crop = page.locator("#photo-crop")
    size = crop.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
    assert size[0] and size[1] > size[2] > 0, size
    assert page.locator("#send-reading").inner_text() == "Conferma e invia la lettura"
    assert serious_violations(page) == []
    screenshot(page, "comunica-la-lettura-foto")

    with page.expect_navigation():
        page.click("#send-reading")

    assert page.locator("h1").inner_text() == "Lettura ricevuta"
    receipt = page.locator(".portal-receipt-number").inner_text()
    stored = Reading.objects.get(receipt=receipt)
    assert (stored.status, stored.value, stored.photo_value) == (Status.ACCEPTED, 446, 446)
    assert stored.photo and stored.photo_sha256


def test_a_correction_against_the_photo_is_checked_by_staff(page: Any, clock: Clock) -> None:
    supply = customer_with_supply()
    with_history(supply)
    user = with_account(supply)
    page.set_viewport_size(MOBILE)
    sign_in(page, user.username, PASSWORD)

    page.goto("/area-clienti/comunica-la-lettura/")
    page.set_input_files(
        "#id_photo",
        {
            "name": "IMG_2042.jpg",
            "mimeType": "image/jpeg",
            "buffer": meter_photo(MeterPhoto(register="00446")),
        },
    )
    with page.expect_navigation():
        page.click("#read-photo")
    assert page.input_value("#id_reading") == "00446"
    screenshot(page, "mobile-comunica-la-lettura-foto")
    page.fill("#id_reading", "00464")
    with page.expect_navigation():
        page.click("#send-reading")

    outcome = page.locator("#outcome").inner_text()
    assert "00464" in outcome and "00446" in outcome and "foto" in outcome, outcome
    stored = Reading.objects.get(supply=supply, value=464)
    assert (stored.status, stored.reason) == (Status.UNDER_REVIEW, "photo_mismatch")
