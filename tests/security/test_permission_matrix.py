"""The permission matrix: every URL pattern of the project, tried by every actor.

The expectations are written out here, one row per pattern, from what each page is for
(DESIGN.md section 1 and the permission table in backoffice/roles.py), not read from the
views. The patterns come from the URL resolver: one that has no row here fails
`test_every_url_pattern_has_a_row`, so a new page gets its row before it ships.

What the table says, in short:
- public pages answer everyone; the sign-in pages send the signed-in on to their area;
- /area-clienti/: a visitor is sent to the sign-in, a customer sees only their own
  readings, supplies and bills (another's is a 404, like one that does not exist); an
  operator has no customer data there either;
- /backoffice/: a visitor is sent to the operators' sign-in, a customer gets 403, each
  role opens what roles.py gives it (403 otherwise; a POST-only action answers 405 to a GET
  from a role that may use it);
- /api/v1/me/: 401 without a token (a session cookie is not one), the owner's data for the
  owner's token, 404 for another customer's supply;
- /channels/: 403 to any POST without a valid signature, whoever sends it;
- /admin/: staff only (customers are sent to its sign-in); operators see only what their
  model permissions allow (the counter and the administrator role may view the audit
  trail); the superuser sees everything, and may change nothing the look-only admins keep
  read-only.

A refused POST must also change nothing: `TestForbiddenPosts` sends each form or action a
real payload from every actor who may not use it and compares the database before and
after.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from autolettura.backoffice.roles import ADMINISTRATOR, BILLING, CALL_CENTRE, COUNTER
from autolettura.billing.models import Bill
from tests.channels.fakes import twilio_sms_params, whatsapp_text
from tests.portal.support import PASSWORD
from tests.security.support import (
    ACTORS,
    ANONYMOUS,
    OWNER,
    SUPERUSER,
    Outcome,
    Redirect,
    World,
    describe,
    matches,
    routes,
    snapshot,
)

pytestmark = pytest.mark.django_db

SIGN_IN = Redirect("/accedi/?next=")
BACKOFFICE_SIGN_IN = Redirect("/backoffice/accedi/?next=")
ADMIN_SIGN_IN = Redirect("/admin/login/?next=")
AREA = Redirect("/area-clienti/")


@dataclass(frozen=True)
class Row:
    url: str  # formatted with the world's values
    # One outcome per actor, in the order of ACTORS:
    # anonymous, owner, other customer, Sportello, Call centre, Fatturazione,
    # Amministratore, superuser.
    expect: tuple[Outcome, ...]
    method: str = "GET"
    # For a POST row: the form, or a JSON body, and the headers it is sent with.
    data: Callable[[dict[str, Any]], Any] | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def everyone(outcome: Outcome) -> tuple[Outcome, ...]:
    return (outcome,) * len(ACTORS)


def area(own: Outcome, theirs: Outcome) -> tuple[Outcome, ...]:
    """A customer-area page: `own` for the owner, `theirs` for anyone else signed in."""
    return (SIGN_IN, own, theirs, theirs, theirs, theirs, theirs, theirs)


def area_page() -> tuple[Outcome, ...]:
    """A customer-area page about nobody's data in particular: 200 to whoever is signed in."""
    return (SIGN_IN, 200, 200, 200, 200, 200, 200, 200)


def backoffice(
    *, counter: Outcome, call: Outcome, billing: Outcome, admin: Outcome, superuser: Outcome = 200
) -> tuple[Outcome, ...]:
    """A back-office page: each role's outcome from roles.py (a POST-only action answers a
    GET from those who may use it with 405)."""
    return (BACKOFFICE_SIGN_IN, 403, 403, counter, call, billing, admin, superuser)


def api_me(own: Outcome, theirs: Outcome) -> tuple[Outcome, ...]:
    """A /me endpoint: 401 without a token (the operators have only a session cookie)."""
    return (401, own, theirs, 401, 401, 401, 401, 401)


def staff(outcome: Outcome, *, superuser: Outcome | None = None) -> tuple[Outcome, ...]:
    """An admin page: customers and visitors to the admin's sign-in, every operator gets
    `outcome`, the superuser `superuser` (the same by default)."""
    return (
        ADMIN_SIGN_IN,
        ADMIN_SIGN_IN,
        ADMIN_SIGN_IN,
        outcome,
        outcome,
        outcome,
        outcome,
        outcome if superuser is None else superuser,
    )


def admin_model(
    route: str, url: str, *, add: Outcome = 200, delete: Outcome = 200, audit: bool = False
) -> dict[str, Row]:
    """The six pages of a model's admin; `add` and `delete` are the superuser's, and
    `audit` says the counter and the administrator role may view it (view_auditentry)."""
    viewer = 200 if audit else 403

    def by_role(allowed: Outcome, superuser: Outcome = 200) -> tuple[Outcome, ...]:
        return (
            ADMIN_SIGN_IN,
            ADMIN_SIGN_IN,
            ADMIN_SIGN_IN,
            allowed,
            403,
            403,
            allowed,
            superuser,
        )

    change = Redirect(f"/admin/{url}/change/")
    return {
        f"admin/{route}/": Row(f"/admin/{route}/", by_role(viewer)),
        f"admin/{route}/add/": Row(f"/admin/{route}/add/", by_role(403, add)),
        f"admin/{route}/<path:object_id>/history/": Row(f"/admin/{url}/history/", by_role(viewer)),
        f"admin/{route}/<path:object_id>/delete/": Row(
            f"/admin/{url}/delete/", by_role(403, delete)
        ),
        f"admin/{route}/<path:object_id>/change/": Row(f"/admin/{url}/change/", by_role(viewer)),
        f"admin/{route}/<path:object_id>/": Row(f"/admin/{url}/", staff(change)),
    }


def sms_form(v: dict[str, Any]) -> dict[str, str]:
    return twilio_sms_params("SM" + "1" * 32, "+393471234567", f"{v['supply']} 650")


def whatsapp_body(v: dict[str, Any]) -> str:
    return json.dumps(whatsapp_text("wamid.1", "393471234567", f"{v['supply']} 650"))


BAD_TWILIO = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
BAD_META = {"X-Hub-Signature-256": "sha256=" + "0" * 64}

MATRIX: dict[str, Row] = {
    # --- The Sportello Online's public pages ---------------------------------------------
    "": Row("/", everyone(200)),
    "come-leggere-il-contatore/": Row("/come-leggere-il-contatore/", everyone(200)),
    "cosa-serve/": Row("/cosa-serve/", everyone(200)),
    "quando/": Row("/quando/", everyone(200)),
    "come-comunicare-la-lettura/": Row("/come-comunicare-la-lettura/", everyone(200)),
    "contatti/": Row("/contatti/", everyone(200)),
    "privacy/": Row("/privacy/", everyone(200)),
    # The app: its manifest, its service worker and the page shown without signal.
    "manifest.webmanifest": Row("/manifest.webmanifest", everyone(200)),
    "sw.js": Row("/sw.js", everyone(200)),
    "senza-connessione/": Row("/senza-connessione/", everyone(200)),
    "lingua/": Row("/lingua/", everyone(405)),  # a POST form
    "accedi/": Row("/accedi/", (200, AREA, AREA, AREA, AREA, AREA, AREA, AREA)),
    "esci/": Row("/esci/", everyone(405)),  # signing out is a POST
    "registrati/": Row("/registrati/", everyone(200)),
    # SPID and CIE sign-in: not configured in these tests (AUTOLETTURA_SPID_BASE_URL empty),
    # so their pages do not exist; tests/identity tries them configured.
    "accedi/spid/": Row("/accedi/spid/", everyone(404)),
    "accedi/cie/": Row("/accedi/cie/", everyone(404)),
    "accedi/spid/metadata/": Row("/accedi/spid/metadata/", everyone(404)),
    "accedi/cie/metadata/": Row("/accedi/cie/metadata/", everyone(404)),
    "accedi/spid/acs/": Row("/accedi/spid/acs/", everyone(405)),  # identity providers POST
    "accedi/spid/esci/": Row("/accedi/spid/esci/", everyone(405)),
    # Without an identity just verified, the codes page sends back to the sign-in.
    "accedi/spid/collega/": Row("/accedi/spid/collega/", everyone(Redirect("/accedi/"))),
    "registrati/controlla-la-posta/": Row("/registrati/controlla-la-posta/", everyone(200)),
    "registrati/conferma/<str:payload>/<str:token>/": Row(
        "/registrati/conferma/bm9ib2R5/not-a-token/", everyone(400)
    ),
    "password/dimenticata/": Row("/password/dimenticata/", everyone(200)),
    "password/dimenticata/inviata/": Row("/password/dimenticata/inviata/", everyone(200)),
    "password/nuova/<uidb64>/<token>/": Row(
        "/password/nuova/MQ/not-a-token/",
        everyone(200),  # the "link not valid" page
    ),
    "password/nuova/fatto/": Row("/password/nuova/fatto/", everyone(200)),
    "segnala-un-guasto/": Row("/segnala-un-guasto/", everyone(200)),
    "segnala-un-guasto/segui/": Row(
        "/segnala-un-guasto/segui/?ticket={ticket}",
        everyone(200),  # the ticket alone shows only the form asking for the contact
    ),
    "livez": Row("/livez", everyone(200)),
    "healthz": Row("/healthz", everyone(200)),
    "metrics": Row("/metrics", everyone(401)),  # only with AUTOLETTURA_METRICS_TOKEN
    # --- The customer area -------------------------------------------------------------------
    "area-clienti/": Row("/area-clienti/", area_page()),
    "area-clienti/comunica-la-lettura/": Row("/area-clienti/comunica-la-lettura/", area_page()),
    "area-clienti/comunica-la-lettura/finestra/": Row(
        "/area-clienti/comunica-la-lettura/finestra/?supply={supply}", area(200, 404)
    ),
    # The crop of a photo this session read: nobody in this world read one (a session's
    # own crop: tests/portal/test_photo_first.py).
    "area-clienti/comunica-la-lettura/foto/<str:sha256>/": Row(
        "/area-clienti/comunica-la-lettura/foto/" + "0" * 64 + "/", area(404, 404)
    ),
    "area-clienti/letture/<str:receipt>/": Row("/area-clienti/letture/{receipt}/", area(200, 404)),
    "area-clienti/utenze/<str:supply_code>/": Row("/area-clienti/utenze/{supply}/", area(200, 404)),
    "area-clienti/utenze/<str:supply_code>/consumi.csv": Row(
        "/area-clienti/utenze/{supply}/consumi.csv", area(200, 404)
    ),
    "area-clienti/utenze/<str:supply_code>/bollette/<int:year>/<int:sequence>.pdf": Row(
        "/area-clienti/utenze/{supply}/bollette/{year}/{sequence}.pdf", area(200, 404)
    ),
    "area-clienti/utenze/<str:supply_code>/bollette/<int:year>/<int:sequence>/paga/": Row(
        "/area-clienti/utenze/{supply}/bollette/{year}/{sequence}/paga/",
        (SIGN_IN, *(405,) * 7),  # a POST form; another's bill is a 404 (tests/payments)
    ),
    "area-clienti/aggiungi-utenza/": Row("/area-clienti/aggiungi-utenza/", area_page()),
    "area-clienti/preferenze/": Row("/area-clienti/preferenze/", area_page()),
    # Followed from a mailbox, maybe on another device: the signed link is the credential.
    "area-clienti/preferenze/conferma-email/<str:payload>/<str:token>/": Row(
        "/area-clienti/preferenze/conferma-email/bm9ib2R5/not-a-token/", everyone(400)
    ),
    "area-clienti/preferenze/accessi/<int:token_id>/revoca/": Row(
        "/area-clienti/preferenze/accessi/{token_pk}/revoca/",
        area(405, 404),  # a POST form
    ),
    # The customer's rights: their own export only; asking and closing are the account's.
    "area-clienti/i-miei-dati/": Row("/area-clienti/i-miei-dati/", area_page()),
    "area-clienti/i-miei-dati/scarica/": Row(
        "/area-clienti/i-miei-dati/scarica/",
        (SIGN_IN, *(405,) * 7),  # a POST form
    ),
    "area-clienti/i-miei-dati/scarica/<str:token>/dati.zip": Row(
        "/area-clienti/i-miei-dati/scarica/{export_token}/dati.zip", area(200, 404)
    ),
    "area-clienti/i-miei-dati/chiudi-account/": Row(
        "/area-clienti/i-miei-dati/chiudi-account/", area_page()
    ),
    # --- The back office (roles.py) ------------------------------------------------------------
    "backoffice/": Row("/backoffice/", backoffice(counter=200, call=200, billing=200, admin=200)),
    "backoffice/accedi/": Row("/backoffice/accedi/", everyone(200)),
    "backoffice/esci/": Row("/backoffice/esci/", everyone(405)),
    "backoffice/utenze/<str:supply_code>/": Row(
        "/backoffice/utenze/{supply}/", backoffice(counter=200, call=200, billing=200, admin=200)
    ),
    "backoffice/utenze/<str:supply_code>/bollette/<int:year>/<int:sequence>.pdf": Row(
        "/backoffice/utenze/{supply}/bollette/{year}/{sequence}.pdf",
        backoffice(counter=200, call=403, billing=200, admin=200),  # view_bills
    ),
    "backoffice/sportello/": Row(
        "/backoffice/sportello/",
        backoffice(counter=200, call=200, billing=403, admin=200),  # enter_reading
    ),
    "backoffice/letture/<str:receipt>/ricevuta/": Row(
        "/backoffice/letture/{receipt}/ricevuta/",
        backoffice(counter=200, call=200, billing=200, admin=200),
    ),
    "backoffice/letture/<str:receipt>/foto/": Row(
        "/backoffice/letture/{receipt}/foto/",
        backoffice(counter=200, call=200, billing=200, admin=200),
    ),
    "backoffice/letture/<str:receipt>/revisione/": Row(
        "/backoffice/letture/{receipt}/revisione/",
        backoffice(counter=405, call=403, billing=403, admin=405, superuser=405),  # review_reading
    ),
    "backoffice/letture/<str:receipt>/annulla/": Row(
        "/backoffice/letture/{receipt}/annulla/",
        backoffice(counter=405, call=403, billing=403, admin=405, superuser=405),  # void_reading
    ),
    "backoffice/revisione/": Row(
        "/backoffice/revisione/", backoffice(counter=200, call=403, billing=403, admin=200)
    ),
    "backoffice/guasti/": Row(
        "/backoffice/guasti/", backoffice(counter=403, call=200, billing=403, admin=200)
    ),
    # Smart meters' leak alerts: seen by the call centre and billing (view_leak_alerts),
    # closed by the call centre (close_leak_alerts).
    "backoffice/perdite/": Row(
        "/backoffice/perdite/", backoffice(counter=403, call=200, billing=200, admin=200)
    ),
    "backoffice/perdite/<int:alert_id>/chiudi/": Row(
        "/backoffice/perdite/1/chiudi/",
        backoffice(counter=403, call=405, billing=403, admin=405, superuser=405),  # POST only
    ),
    "backoffice/guasti/<str:ticket>/avanza/": Row(
        "/backoffice/guasti/{ticket}/avanza/",
        backoffice(counter=403, call=405, billing=403, admin=405, superuser=405),  # dispatch_fault
    ),
    "backoffice/guasti/<str:ticket>/risolvi/": Row(
        "/backoffice/guasti/{ticket}/risolvi/",
        # The world's report was just received: not on site, so back to the queue.
        backoffice(
            counter=403,
            call=Redirect("/backoffice/guasti/"),
            billing=403,
            admin=Redirect("/backoffice/guasti/"),
            superuser=Redirect("/backoffice/guasti/"),
        ),
    ),
    "backoffice/guasti/<str:ticket>/foto/": Row(
        "/backoffice/guasti/{ticket}/foto/",
        backoffice(counter=403, call=404, billing=403, admin=404, superuser=404),  # no photo
    ),
    "backoffice/cruscotto/": Row(
        "/backoffice/cruscotto/", backoffice(counter=403, call=403, billing=200, admin=200)
    ),
    "backoffice/obblighi/": Row(
        "/backoffice/obblighi/", backoffice(counter=403, call=403, billing=200, admin=200)
    ),
    "backoffice/cruscotto/<slug:slug>.csv": Row(
        "/backoffice/cruscotto/review-backlog.csv",
        backoffice(counter=403, call=403, billing=200, admin=200),
    ),
    "backoffice/clienti/<str:customer_code>/accessi/": Row(
        "/backoffice/clienti/{customer}/accessi/",
        backoffice(counter=403, call=403, billing=403, admin=200),  # lifecycle.view_accessentry
    ),
    "backoffice/pagamenti/": Row(
        "/backoffice/pagamenti/",
        backoffice(counter=403, call=403, billing=200, admin=200),  # check_payments
    ),
    "backoffice/chiusure-account/": Row(
        "/backoffice/chiusure-account/",
        backoffice(counter=403, call=403, billing=403, admin=200),  # handle_erasurerequest
    ),
    "backoffice/chiusure-account/<int:pk>/esegui/": Row(
        "/backoffice/chiusure-account/{erasure_pk}/esegui/",
        backoffice(counter=403, call=403, billing=403, admin=405, superuser=405),
    ),
    # --- The reader's app (record_round: the Letturista role and the administrator) --------
    "letturisti/": Row("/letturisti/", backoffice(counter=403, call=403, billing=403, admin=200)),
    "letturisti/manifest.webmanifest": Row("/letturisti/manifest.webmanifest", everyone(200)),
    "letturisti/sw.js": Row("/letturisti/sw.js", everyone(200)),
    "letturisti/stato/": Row(
        "/letturisti/stato/", backoffice(counter=403, call=403, billing=403, admin=200)
    ),
    "letturisti/visite/<int:attempt_id>/lettura/": Row(
        "/letturisti/visite/{visit_pk}/lettura/",
        backoffice(counter=403, call=403, billing=403, admin=405, superuser=405),  # POST only
    ),
    "letturisti/visite/<int:attempt_id>/mancata/": Row(
        "/letturisti/visite/{visit_pk}/mancata/",
        backoffice(counter=403, call=403, billing=403, admin=405, superuser=405),  # POST only
    ),
    # A day of the rounds in the back office (view_rounds).
    "backoffice/giri/": Row(
        "/backoffice/giri/", backoffice(counter=200, call=403, billing=403, admin=200)
    ),
    # --- The JSON API ------------------------------------------------------------------------
    "api/v1/": Row("/api/v1/", everyone(404)),
    "api/v1/openapi.json": Row("/api/v1/openapi.json", everyone(200)),
    "api/v1/docs": Row("/api/v1/docs", everyone(200)),
    "api/v1/readings": Row("/api/v1/readings", everyone(405)),  # POST only
    "api/v1/readings/<receipt>": Row(
        # Without codes, only the holder's token shows a reading.
        "/api/v1/readings/{receipt}",
        (404, 200, 404, 404, 404, 404, 404, 404),
    ),
    "api/v1/meter-photo": Row("/api/v1/meter-photo", everyone(405)),  # POST only
    "api/v1/auth/token": Row("/api/v1/auth/token", everyone(405)),  # POST only
    "api/v1/me/supplies": Row("/api/v1/me/supplies", api_me(200, 200)),
    "api/v1/me/supplies/<supply_code>/readings": Row(
        "/api/v1/me/supplies/{supply}/readings", api_me(200, 404)
    ),
    "api/v1/me/supplies/<supply_code>/consumption": Row(
        "/api/v1/me/supplies/{supply}/consumption", api_me(200, 404)
    ),
    "api/v1/me/supplies/<supply_code>/bills": Row(
        "/api/v1/me/supplies/{supply}/bills", api_me(200, 404)
    ),
    "api/v1/me/supplies/<supply_code>/bills/<int:year>/<int:sequence>.pdf": Row(
        "/api/v1/me/supplies/{supply}/bills/{year}/{sequence}.pdf", api_me(200, 404)
    ),
    "api/v1/faults": Row("/api/v1/faults", everyone(405)),  # POST only
    "api/v1/faults/<ticket>": Row(
        "/api/v1/faults/{ticket}",
        everyone(404),  # the ticket alone shows nothing
    ),
    "api/v1/faults/<ticket>/photo": Row("/api/v1/faults/{ticket}/photo", everyone(405)),
    "api/v1/service-hours": Row("/api/v1/service-hours", everyone(200)),
    # --- The channels' webhooks: a POST with a wrong signature, whoever sends it ---------------
    "channels/phone/voice": Row(
        "/channels/phone/voice",
        everyone(403),
        method="POST",
        data=lambda v: {"CallSid": "CA" + "1" * 32, "From": "+393471234567"},
        headers=BAD_TWILIO,
    ),
    "channels/phone/step": Row(
        "/channels/phone/step?turn=1",
        everyone(403),
        method="POST",
        data=lambda v: {"CallSid": "CA" + "1" * 32, "Digits": "1"},
        headers=BAD_TWILIO,
    ),
    "channels/phone/status": Row(
        "/channels/phone/status",
        everyone(403),
        method="POST",
        data=lambda v: {"CallSid": "CA" + "1" * 32, "CallStatus": "completed"},
        headers=BAD_TWILIO,
    ),
    "channels/whatsapp/webhook": Row(
        "/channels/whatsapp/webhook",
        everyone(403),
        method="POST",
        data=whatsapp_body,
        content_type="application/json",
        headers=BAD_META,
    ),
    "channels/sms/webhook": Row(
        "/channels/sms/webhook", everyone(403), method="POST", data=sms_form, headers=BAD_TWILIO
    ),
    # --- The Django admin ----------------------------------------------------------------------
    "admin/": Row("/admin/", staff(200)),
    "admin/login/": Row("/admin/login/", (200, 200, 200, *(Redirect("/admin/"),) * 5)),
    "admin/logout/": Row("/admin/logout/", (*(Redirect("/admin/"),) * 3, *(405,) * 5)),
    "admin/password_change/": Row("/admin/password_change/", staff(200)),
    "admin/password_change/done/": Row("/admin/password_change/done/", staff(200)),
    "admin/autocomplete/": Row("/admin/autocomplete/", staff(403)),
    "admin/jsi18n/": Row("/admin/jsi18n/", staff(200)),
    "admin/r/<path:content_type_id>/<path:object_id>/": Row(
        "/admin/r/{supply_type}/{supply_pk}/",
        staff(404),  # a supply has no public page
    ),
    "admin/auth/user/<id>/password/": Row(
        "/admin/auth/user/{user_pk}/password/", staff(403, superuser=200)
    ),
    "admin/billing/bill/<int:bill_id>/pdf/": Row(
        "/admin/billing/bill/{bill_pk}/pdf/", staff(403, superuser=200)
    ),
    "admin/^(?P<app_label>"
    "auth|customers|readings|billing|payments|outbox|axes|service|backoffice)/$": Row(
        "/admin/backoffice/",
        (ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, 200, 404, 404, 200, 200),
    ),
    "admin/(?P<url>.*)$": Row("/admin/nothing-here/", staff(404)),
    **admin_model("auth/group", "auth/group/{group_pk}"),
    **admin_model("auth/user", "auth/user/{user_pk}"),
    **admin_model("customers/customer", "customers/customer/{customer_pk}"),
    **admin_model("customers/supply", "customers/supply/{supply_pk}"),
    **admin_model("readings/reading", "readings/reading/{reading_pk}", add=403, delete=403),
    **admin_model(
        "readings/inboundmessage", "readings/inboundmessage/{inbound_pk}", add=403, delete=403
    ),
    **admin_model("billing/tariff", "billing/tariff/{tariff_pk}"),
    **admin_model("billing/bill", "billing/bill/{bill_pk}", add=403, delete=403),
    **admin_model(
        "payments/paymentnotice", "payments/paymentnotice/{notice_pk}", add=403, delete=403
    ),
    **admin_model(
        "payments/reportingflow", "payments/reportingflow/{flow_pk}", add=403, delete=403
    ),
    **admin_model("payments/payment", "payments/payment/{payment_pk}", add=403, delete=403),
    **admin_model(
        "outbox/outboundmessage", "outbox/outboundmessage/{outbound_pk}", add=403, delete=403
    ),
    **admin_model("axes/accessattempt", "axes/accessattempt/{attempt_pk}", add=403),
    **admin_model("axes/accesslog", "axes/accesslog/{access_log_pk}", add=403),
    **admin_model("axes/accessfailurelog", "axes/accessfailurelog/{failure_log_pk}", add=403),
    **admin_model("service/faultreport", "service/faultreport/{fault_pk}", add=403, delete=403),
    **admin_model(
        "backoffice/auditentry",
        "backoffice/auditentry/{audit_pk}",
        add=403,
        delete=403,
        audit=True,
    ),
}


@pytest.fixture(autouse=True)
def _quick_pdfs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Who may download a bill is the question here, not how it is drawn (a second a page).
    monkeypatch.setattr("autolettura.billing.pdf.bill_pdf", lambda bill: b"%PDF-1.7 stub")


def request(client: Client, row: Row, values: dict[str, Any]) -> Any:
    url = row.url.format(**values)
    if row.method == "GET":
        return client.get(url)
    assert row.data is not None
    data = row.data(values)
    if row.content_type:
        return client.post(url, data, content_type=row.content_type, headers=row.headers)
    return client.post(url, data, headers=row.headers)


def test_every_url_pattern_has_a_row() -> None:
    found = list(routes())

    assert sorted(set(found) - set(MATRIX)) == [], "URL patterns without a row in MATRIX"
    assert sorted(set(MATRIX) - set(found)) == [], "rows for URL patterns that are gone"
    assert all(len(row.expect) == len(ACTORS) for row in MATRIX.values())


@pytest.mark.parametrize("actor", ACTORS)
def test_each_actor_gets_what_the_matrix_says(world: World, actor: str) -> None:
    column = ACTORS.index(actor)
    client = world.client(actor)  # GETs and refused webhooks leave its session as it is
    wrong = []
    for row in MATRIX.values():
        response = request(client, row, world.values)
        expected = row.expect[column]
        if not matches(response, expected, world.values):
            wrong.append(f"{row.method} {row.url}: expected {expected}, got {describe(response)}")

    assert wrong == [], "\n".join(wrong)


# --- What a page shows ---------------------------------------------------------------------


@dataclass(frozen=True)
class Shows:
    """Data a page must show to `seen_by` and must not show to the other actors it answers
    200: a status code alone does not say that a role's page leaves out what it may not see."""

    url: str
    what: Callable[[dict[str, Any]], list[str]]  # texts that are there only with the data
    seen_by: frozenset[str]


def bill_amounts(v: dict[str, Any]) -> list[str]:
    bill = Bill.objects.get(pk=v["bill_pk"])
    # As the Italian pages write it: 60,96.
    return [bill.number, str(bill.total_eur).replace(".", ","), "€"]


BILL_VIEWERS = frozenset({COUNTER, BILLING, ADMINISTRATOR, SUPERUSER})

SHOWS: dict[str, Shows] = {
    # The README's role table: bills and their amounts, not for the call centre.
    "back-office supply page: bills and their amounts": Shows(
        "/backoffice/utenze/{supply}/", bill_amounts, BILL_VIEWERS
    ),
    "back-office supply page: a bill's PDF": Shows(
        "/backoffice/utenze/{supply}/",
        lambda v: [f"/backoffice/utenze/{v['supply']}/bollette/{v['year']}/"],
        BILL_VIEWERS,
    ),
    "customer area: the owner's supply": Shows(
        "/area-clienti/", lambda v: [f"/area-clienti/utenze/{v['supply']}/"], frozenset({OWNER})
    ),
    "customer area: the owner's contacts": Shows(
        "/area-clienti/preferenze/", lambda v: ["giulia@example.org"], frozenset({OWNER})
    ),
    "API: the owner's supplies": Shows(
        "/api/v1/me/supplies", lambda v: [v["supply"]], frozenset({OWNER})
    ),
}


@pytest.mark.parametrize("name", list(SHOWS))
def test_each_actor_sees_only_what_its_role_allows(world: World, name: str) -> None:
    shows = SHOWS[name]
    expected = shows.what(world.values)
    wrong = []
    for actor in ACTORS:
        response = world.client(actor).get(shows.url.format(**world.values))
        if response.status_code != 200:
            continue  # refused: the matrix above says by whom
        page = response.content.decode()
        if actor in shows.seen_by:
            missing = [text for text in expected if text not in page]
            if missing:
                wrong.append(f"{actor}: does not see {missing}")
        else:
            shown = [text for text in expected if text in page]
            if shown:
                wrong.append(f"{actor}: sees {shown}")
    answered = [
        a
        for a in ACTORS
        if world.client(a).get(shows.url.format(**world.values)).status_code == 200
    ]

    assert wrong == [], "\n".join(wrong)
    # Not vacuous: those who should see it are among those the page answers.
    assert shows.seen_by <= set(answered)


# --- Refused POSTs change nothing -------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """A form or action that changes something, and the actors who may use it (the others
    get the refusal the matrix gives them)."""

    data: Callable[[dict[str, Any]], dict[str, Any]]
    allowed: frozenset[str]


SIGNED_IN = frozenset(ACTORS) - {ANONYMOUS}
ONLY_SUPERUSER = frozenset({SUPERUSER})

ACTIONS: dict[str, Action] = {
    "area-clienti/comunica-la-lettura/": Action(
        lambda v: {"supply": v["supply"], "reading": "650", "read_on": "20/12/2026"}, SIGNED_IN
    ),
    "area-clienti/aggiungi-utenza/": Action(
        lambda v: {"customer_code": v["spare_customer"], "supply_code": v["spare_supply"]},
        SIGNED_IN,
    ),
    "area-clienti/preferenze/": Action(
        lambda v: {"language": "en", "email": "intruder@example.org", "notify_by_email": "on"},
        SIGNED_IN,
    ),
    "area-clienti/preferenze/accessi/<int:token_id>/revoca/": Action(
        lambda v: {}, frozenset({OWNER})
    ),
    "area-clienti/i-miei-dati/scarica/": Action(lambda v: {}, SIGNED_IN),
    "area-clienti/i-miei-dati/chiudi-account/": Action(
        lambda v: {"password": PASSWORD, "understood": "on"}, SIGNED_IN
    ),
    "backoffice/chiusure-account/<int:pk>/esegui/": Action(
        lambda v: {}, frozenset({ADMINISTRATOR, SUPERUSER})
    ),
    "backoffice/sportello/": Action(
        lambda v: {
            "channel": "COUNTER",
            "supply_code": v["supply"],
            "customer_code": v["customer"],
            "reading": "650",
            "read_on": "20/12/2026",
        },
        frozenset({COUNTER, CALL_CENTRE, ADMINISTRATOR, SUPERUSER}),
    ),
    "backoffice/letture/<str:receipt>/revisione/": Action(
        lambda v: {f"r{v['reading_pk']}-decision": "accept", f"r{v['reading_pk']}-note": "ok"},
        frozenset({COUNTER, ADMINISTRATOR, SUPERUSER}),
    ),
    "backoffice/letture/<str:receipt>/annulla/": Action(
        lambda v: {"reason": "wrong meter"}, frozenset({COUNTER, ADMINISTRATOR, SUPERUSER})
    ),
    "backoffice/guasti/<str:ticket>/avanza/": Action(
        lambda v: {"to_status": "DISPATCHED", "note": "squadra inviata"},
        frozenset({CALL_CENTRE, ADMINISTRATOR, SUPERUSER}),
    ),
    "letturisti/visite/<int:attempt_id>/lettura/": Action(
        lambda v: {"reading": "445"}, frozenset({ADMINISTRATOR, SUPERUSER})
    ),
    "letturisti/visite/<int:attempt_id>/mancata/": Action(
        lambda v: {"cause": "ABSENT"}, frozenset({ADMINISTRATOR, SUPERUSER})
    ),
    "admin/auth/user/add/": Action(
        lambda v: {
            "username": "intruder",
            "password1": "Intruder-2026-password",
            "password2": "Intruder-2026-password",
            "usable_password": "true",
        },
        ONLY_SUPERUSER,
    ),
    "admin/auth/user/<path:object_id>/change/": Action(
        lambda v: {
            "username": "giulia@example.org",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "date_joined_0": "2026-12-20",
            "date_joined_1": "10:00:00",
        },
        ONLY_SUPERUSER,
    ),
    "admin/auth/user/<id>/password/": Action(
        lambda v: {"password1": "Taken-over-2026", "password2": "Taken-over-2026"},
        ONLY_SUPERUSER,
    ),
    "admin/auth/user/<path:object_id>/delete/": Action(lambda v: {"post": "yes"}, ONLY_SUPERUSER),
    "admin/auth/group/<path:object_id>/change/": Action(
        lambda v: {"name": "Sportello", "permissions": []}, ONLY_SUPERUSER
    ),
    "admin/customers/customer/add/": Action(
        lambda v: {"customer_code": "9990001", "name": "Nuovo", "language": "it"},
        ONLY_SUPERUSER,
    ),
    "admin/customers/customer/<path:object_id>/change/": Action(
        lambda v: {"customer_code": v["customer"], "name": "Cambiato", "language": "it"},
        ONLY_SUPERUSER,
    ),
    "admin/outbox/outboundmessage/<path:object_id>/delete/": Action(
        lambda v: {"post": "yes"},
        frozenset(),  # nobody: outbound messages are the record of what was sent
    ),
    "admin/backoffice/auditentry/<path:object_id>/delete/": Action(
        lambda v: {"post": "yes"},
        frozenset(),  # nobody, not even the superuser
    ),
    "admin/axes/accessattempt/<path:object_id>/delete/": Action(
        lambda v: {"post": "yes"}, ONLY_SUPERUSER
    ),
}

WEBHOOKS = [route for route in MATRIX if route.startswith("channels/")]


class TestForbiddenPosts:
    def test_every_action_is_a_url_pattern(self) -> None:
        assert sorted(set(ACTIONS) - set(MATRIX)) == []

    @pytest.mark.parametrize("route", sorted(ACTIONS))
    def test_a_refused_post_changes_nothing(self, world: World, route: str) -> None:
        action = ACTIONS[route]
        row = MATRIX[route]
        url = row.url.format(**world.values)
        wrong = []
        for column, actor in enumerate(ACTORS):
            if actor in action.allowed:
                continue
            client = world.client(actor)
            before = snapshot()
            response = client.post(url, action.data(world.values))
            # The refusal is the one the matrix gives a GET (a POST-only view checks the
            # permission before the method).
            expected = row.expect[column]
            if not matches(response, expected, world.values):
                wrong.append(f"{actor}: expected {expected}, got {describe(response)}")
            if snapshot() != before:
                wrong.append(f"{actor}: refused with {describe(response)}, but changed data")

        assert wrong == [], "\n".join(wrong)

    @pytest.mark.parametrize("route", sorted(r for r, a in ACTIONS.items() if a.allowed))
    def test_the_same_post_from_an_actor_who_may_changes_something(
        self, world: World, route: str
    ) -> None:
        # So that "changes nothing" above is not true of a payload that could not work.
        action = ACTIONS[route]
        actor = next(a for a in ACTORS if a in action.allowed)
        client = world.client(actor)
        before = snapshot()

        response = client.post(MATRIX[route].url.format(**world.values), action.data(world.values))

        # 201: the reader's app's answer to a visit recorded.
        assert response.status_code in (200, 201, 302), describe(response)
        assert snapshot() != before, f"{actor}: {describe(response)}"

    @pytest.mark.parametrize("route", WEBHOOKS)
    def test_an_unsigned_webhook_changes_nothing(self, world: World, route: str) -> None:
        clients = [world.client(actor) for actor in ACTORS]
        before = snapshot()

        responses = [request(client, MATRIX[route], world.values) for client in clients]

        assert [r.status_code for r in responses] == [403] * len(ACTORS)
        assert snapshot() == before
