"""The back office's queue of leak alerts: each with its hourly chart, closed with a note."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.test import Client

from autolettura.backoffice.roles import BILLING, CALL_CENTRE, COUNTER
from autolettura.rules.window import ROME
from autolettura.telemetry import services
from autolettura.telemetry.models import Alert
from tests.backoffice.support import BACKEND, operator
from tests.telemetry.test_alerts import NOW, hourly
from tests.telemetry.test_readings import remote_supply

pytestmark = pytest.mark.django_db


def test_the_queue_shows_the_alert_with_its_chart_and_closes_it_with_a_note(client: Client) -> None:
    supply = remote_supply("65000001", installed_on=date(2026, 1, 1))
    start = datetime(2026, 12, 5, 8, 0, tzinfo=ROME).astimezone(UTC)
    hourly("65000001", [0, 2500, 10], start=start)
    services.alerts_check(
        start=datetime(2026, 12, 5, tzinfo=ROME), end=datetime(2026, 12, 6, tzinfo=ROME), now=NOW
    )
    alert = Alert.objects.get()
    client.force_login(operator(CALL_CENTRE), backend=BACKEND)
    page = client.get("/backoffice/perdite/")
    assert page.status_code == 200
    html = page.content.decode()
    assert supply.supply_code in html and "<svg" in html
    assert f"/backoffice/perdite/{alert.pk}/chiudi/" in html
    assert "05/12 10:00 — 2500 l" in html  # the burst hour, on the Rome clock
    refused = client.post(f"/backoffice/perdite/{alert.pk}/chiudi/", {"note": " "}, follow=True)
    assert Alert.objects.get().closed_at is None
    assert "nota" in refused.content.decode().lower()
    client.post(f"/backoffice/perdite/{alert.pk}/chiudi/", {"note": "Tubo in giardino riparato"})
    alert.refresh_from_db()
    assert alert.closed_at is not None and alert.note == "Tubo in giardino riparato"
    assert "65000001" not in client.get("/backoffice/perdite/").content.decode()


@pytest.mark.parametrize(("role", "sees", "closes"), [(BILLING, 200, 403), (COUNTER, 403, 403)])
def test_billing_sees_the_alerts_but_does_not_close_them_and_the_counter_neither(
    client: Client, role: str, sees: int, closes: int
) -> None:
    supply = remote_supply("65000002", installed_on=date(2026, 1, 1))
    start = datetime(2026, 12, 5, 8, 0, tzinfo=ROME).astimezone(UTC)
    hourly("65000002", [0, 2500, 10], start=start)
    services.alerts_check(
        start=datetime(2026, 12, 5, tzinfo=ROME), end=datetime(2026, 12, 6, tzinfo=ROME), now=NOW
    )
    alert = Alert.objects.get()
    client.force_login(operator(role), backend=BACKEND)
    page = client.get("/backoffice/perdite/")
    assert page.status_code == sees
    if sees == 200:
        html = page.content.decode()
        assert supply.supply_code in html and "<svg" in html
        # No form to close it with.
        assert f"/backoffice/perdite/{alert.pk}/chiudi/" not in html
        assert 'href="/backoffice/perdite/"' in client.get("/backoffice/").content.decode()
    refused = client.post(f"/backoffice/perdite/{alert.pk}/chiudi/", {"note": "visto"})
    assert refused.status_code == closes
    alert.refresh_from_db()
    assert alert.closed_at is None
