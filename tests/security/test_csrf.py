"""CSRF: every page of the portal, the back office and the admin refuses a POST without
the token (403), with the client Django's CSRF checks are enforced on.

The exceptions are listed, and are so by design: the JSON API (identified by a token or
by the codes in the body, never by a cookie, so a forged request carries nothing of the
victim's) and the providers' webhooks (identified by their signatures). The views that
take a POST are listed too, and compared with those found by trying every URL pattern,
so that a new form is seen here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import resolve

from tests.channels.fakes import whatsapp_signature, whatsapp_status, whatsapp_webhook
from tests.security.support import (
    ANONYMOUS,
    OWNER,
    SUPERUSER,
    WHATSAPP_APP_SECRET,
    World,
    describe,
)
from tests.security.test_permission_matrix import MATRIX

pytestmark = pytest.mark.django_db

# The explicit exceptions, csrf_exempt by design: the API's operations (a token or the
# codes, never a cookie), the webhooks (the providers' signatures) and what SPID and CIE
# identity providers post (a signed Response, taken once, for this browser's request only;
# a sign-out that a cross-site POST, carrying no session cookie, cannot use).
EXEMPT = {
    "api/v1/readings",
    "api/v1/readings/<receipt>",
    "api/v1/meter-photo",
    "api/v1/auth/token",
    "api/v1/me/supplies",
    "api/v1/me/supplies/<supply_code>/readings",
    "api/v1/me/supplies/<supply_code>/consumption",
    "api/v1/me/supplies/<supply_code>/bills",
    "api/v1/me/supplies/<supply_code>/bills/<int:year>/<int:sequence>.pdf",
    "api/v1/faults",
    "api/v1/faults/<ticket>",
    "api/v1/faults/<ticket>/photo",
    "api/v1/service-hours",
    "channels/phone/voice",
    "channels/phone/step",
    "channels/phone/status",
    "channels/whatsapp/webhook",
    "channels/sms/webhook",
    "accedi/spid/acs/",
    "accedi/spid/esci/",
}


# The portal's and the back office's views that take a POST: forms and actions.
FORMS = {
    "lingua/",
    "accedi/",
    "esci/",
    "registrati/",
    "accedi/spid/collega/",
    "password/dimenticata/",
    "password/nuova/<uidb64>/<token>/",
    "segnala-un-guasto/",
    "segnala-un-guasto/segui/",
    "area-clienti/comunica-la-lettura/",
    "area-clienti/aggiungi-utenza/",
    "area-clienti/preferenze/",
    "area-clienti/preferenze/accessi/<int:token_id>/revoca/",
    "area-clienti/utenze/<str:supply_code>/bollette/<int:year>/<int:sequence>/paga/",
    "area-clienti/i-miei-dati/scarica/",
    "area-clienti/i-miei-dati/chiudi-account/",
    "backoffice/accedi/",
    "backoffice/esci/",
    "backoffice/sportello/",
    "backoffice/letture/<str:receipt>/revisione/",
    "backoffice/letture/<str:receipt>/annulla/",
    "backoffice/guasti/<str:ticket>/avanza/",
    "backoffice/perdite/<int:alert_id>/chiudi/",
    "backoffice/chiusure-account/<int:pk>/esegui/",
    "letturisti/visite/<int:attempt_id>/lettura/",
    "letturisti/visite/<int:attempt_id>/mancata/",
}

CSRF_SECRET = "a" * 32  # the cookie's secret; the same in the header passes the check


def protected() -> list[str]:
    return [route for route in MATRIX if route not in EXEMPT]


def who_may_use(route: str) -> str:
    """Someone the page is for, so that only the missing token can refuse the POST."""
    if route.startswith(("admin/", "backoffice/", "letturisti/")):
        return SUPERUSER
    if route.startswith("area-clienti/"):
        return OWNER
    return ANONYMOUS


def post(world: World, route: str, *, with_token: bool) -> Any:
    client = world.client(who_may_use(route), enforce_csrf_checks=True)
    headers = {}
    if with_token:
        client.cookies["csrftoken"] = CSRF_SECRET
        headers["X-CSRFToken"] = CSRF_SECRET
    # An empty form: with the token, an admin's delete page only asks for confirmation.
    return client.post(MATRIX[route].url.format(**world.values), {}, headers=headers)


def refused_for_csrf(response: Any) -> bool:
    return bool(response.status_code == 403 and b"CSRF" in response.content)


def test_the_forms_listed_are_the_views_that_take_a_post(world: World) -> None:
    # The portal's and the back office's. The admin takes a POST on most of its pages
    # (actions, filters), and so do the API's schema and docs: they are checked as a whole
    # below, not listed here.
    taking = {
        route
        for route in protected()
        if not route.startswith(("admin/", "api/"))
        and post(world, route, with_token=True).status_code != 405
    }

    assert sorted(taking - FORMS) == [], "views that take a POST missing from FORMS"
    assert sorted(FORMS - taking) == [], "FORMS that no longer take a POST"


def test_every_page_refuses_a_post_without_the_token(world: World) -> None:
    wrong = []
    for route in protected():
        without = post(world, route, with_token=False)
        if not refused_for_csrf(without):
            wrong.append(f"{route}: without the token, {describe(without)}")
        if refused_for_csrf(post(world, route, with_token=True)):
            wrong.append(f"{route}: refused even with the token")

    assert wrong == [], "\n".join(wrong)


def test_the_exceptions_are_exempt_by_design(world: World) -> None:
    paths = [MATRIX[route].url.split("?")[0].format(**world.values) for route in sorted(EXEMPT)]

    assert sorted(EXEMPT - set(MATRIX)) == [], "exceptions for URL patterns that are gone"
    assert [p for p in paths if not getattr(resolve(p).func, "csrf_exempt", False)] == []


def test_an_empty_outbox_add_form_is_refused_without_a_500(world: World) -> None:
    client = world.client(SUPERUSER)

    response = client.post("/admin/outbox/outboundmessage/add/", {})

    assert response.status_code == 403


class TestTheExceptions:
    def test_the_api_takes_a_post_without_a_token_and_ignores_the_session(
        self, world: World
    ) -> None:
        # A forged request from the owner's browser carries their session cookie: the API
        # does not take it for the owner, so the request is anonymous and needs the codes.
        client = world.client(OWNER, token=False, enforce_csrf_checks=True)
        body = {"reading": "650", "read_on": "20/12/2026"}

        without_codes = client.post("/api/v1/readings", body, content_type="application/json")
        with_codes = client.post(
            "/api/v1/readings",
            {
                **body,
                "supply_code": world.values["supply"],
                "customer_code": world.values["customer"],
            },
            content_type="application/json",
        )

        assert without_codes.status_code == 422, describe(without_codes)
        assert with_codes.status_code in (200, 201), describe(with_codes)

    def test_a_webhook_takes_a_signed_post_without_a_csrf_token(self, world: World) -> None:
        client = Client(enforce_csrf_checks=True)
        body = json.dumps(
            whatsapp_webhook(whatsapp_status("wamid.1", "393471234567", "delivered"))
        ).encode()

        signed = client.post(
            "/channels/whatsapp/webhook",
            body,
            content_type="application/json",
            headers={"X-Hub-Signature-256": whatsapp_signature(body, WHATSAPP_APP_SECRET)},
        )
        unsigned = client.post("/channels/whatsapp/webhook", body, content_type="application/json")

        assert signed.status_code == 200
        assert unsigned.status_code == 403
        assert b"CSRF" not in unsigned.content  # refused for the signature, not the token
