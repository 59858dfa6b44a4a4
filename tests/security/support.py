"""The world the permission matrix and the CSRF tests run in: every URL pattern of the
project, the actors who try them, the objects that fill their path parameters, and a
snapshot of the database to show that a refused request changed nothing."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from autolettura.accounts import services as account_services
from autolettura.accounts.models import ApiToken
from autolettura.backoffice.models import AuditEntry
from autolettura.backoffice.roles import ADMINISTRATOR, BILLING, CALL_CENTRE, COUNTER
from autolettura.billing.models import Bill, Tariff
from autolettura.lifecycle.models import DataExport, ErasureRequest
from autolettura.outbox.models import Route
from autolettura.outbox.services import outbox_enqueue
from autolettura.payments.models import PaymentNotice
from autolettura.payments.services import flow_import
from autolettura.readings.models import InboundMessage
from autolettura.readings.services import inbound_reading_submit
from autolettura.rounds.models import ReadingAttempt, Slot
from autolettura.service import services as fault_services
from tests import pictures
from tests.backoffice.support import BACKEND, operator, under_review
from tests.payments.support import FIRST_FLOW
from tests.portal.support import (
    DECEMBER_20,
    PASSWORD,
    customer_with_supply,
    with_account,
    with_bills,
    with_history,
)

JPEG = pictures.JPEG

# The secrets the webhooks check their signatures with, and the metrics' token: set, so
# that it is the signature or the token (not a missing configuration) that refuses a request.
TWILIO_AUTH_TOKEN = "twilio-auth-token-for-tests"
WHATSAPP_APP_SECRET = "whatsapp-app-secret-for-tests"
WHATSAPP_VERIFY_TOKEN = "whatsapp-verify-token-for-tests"
METRICS_TOKEN = "metrics-token-for-tests"

# The actors, in the order of the matrix's columns.
ANONYMOUS = "anonymous"
OWNER = "owner"
OTHER = "other customer"
SUPERUSER = "superuser"
ACTORS = (ANONYMOUS, OWNER, OTHER, COUNTER, CALL_CENTRE, BILLING, ADMINISTRATOR, SUPERUSER)
OPERATORS = (COUNTER, CALL_CENTRE, BILLING, ADMINISTRATOR)


@dataclass(frozen=True)
class Redirect:
    """A 302 whose Location starts with `to` (formatted with the world's values)."""

    to: str


Outcome = int | Redirect


def routes() -> Iterator[str]:
    """Every URL pattern of the project, as its full route (prefixes joined)."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[str]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                assert isinstance(pattern, URLPattern)
                yield prefix + str(pattern.pattern)

    yield from walk(get_resolver().url_patterns, "")


def matches(response: Any, expected: Outcome, values: dict[str, Any]) -> bool:
    if isinstance(expected, Redirect):
        location = response.headers.get("Location", "")
        return bool(
            response.status_code == 302 and location.startswith(expected.to.format(**values))
        )
    return bool(response.status_code == expected)


def describe(response: Any) -> str:
    if response.status_code in (301, 302):
        return f"{response.status_code} -> {response.headers.get('Location')}"
    return str(response.status_code)


@dataclass
class World:
    values: dict[str, Any]  # what fills the URLs' path parameters and the POSTs' forms
    users: dict[str, User | None]
    tokens: dict[str, str]

    def client(self, actor: str, *, token: bool = True, **kwargs: Any) -> Client:
        """A client signed in as `actor`: a session, and for a customer their API token too
        (unless `token` is false)."""
        headers = {}
        if token and actor in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[actor]}"
        client = Client(headers=headers, **kwargs)
        user = self.users[actor]
        if user is not None:
            client.force_login(user, backend=BACKEND)
        return client


def build_world() -> World:
    """The owner with history, a reading under review (with its photo) and bills; another
    customer with an account; a fault report; an operator of each role and a superuser; and
    one of each record the admin shows."""
    mine = customer_with_supply()
    with_history(mine)
    owner = with_account(mine)
    theirs = customer_with_supply(
        customer_code="2008811", supply_code="400777001", name="Marco Bianchi"
    )
    other = with_account(theirs, email="marco@example.org")
    # A customer with no account yet, whose supply someone may add to their own.
    spare = customer_with_supply(
        customer_code="3001234", supply_code="400999001", name="Anna Rossi"
    )
    with_bills(through=date(2026, 10, 31))
    bill = Bill.objects.filter(supply=mine).order_by("-issued_on").first()
    assert bill is not None, "the bill run made no bill for the owner"
    # A reporting flow imported, its payments matching no bill of this world (the admin's).
    flow = flow_import(data=FIRST_FLOW.read_bytes(), now=DECEMBER_20).flow
    payment = flow.payments.order_by("pk").first()
    assert payment is not None and PaymentNotice.objects.filter(bill=bill).exists()
    reading = under_review(mine)
    inbound_reading_submit(  # the other customer's reading by the app, logged as it came in
        channel="APP",
        provider_message_id="app-1",
        payload={
            "supply_code": theirs.supply_code,
            "customer_code": theirs.holder.customer_code,
            "reading": "10",
            "read_on": "20/12/2026",
        },
        now=DECEMBER_20,
    )
    reading.photo.save("meter.jpg", ContentFile(JPEG), save=True)
    report = fault_services.fault_report_create(
        category="LEAK",
        description="Acqua in strada davanti al civico 12",
        address="Via Roma 12, Valmora",
        latitude=None,
        longitude=None,
        contact_name="Giulia Ferrari",
        contact_phone="+39 347 123 4567",
        contact_email="",
        channel="WEB",
        now=DECEMBER_20,
    )
    users: dict[str, User | None] = {ANONYMOUS: None, OWNER: owner, OTHER: other}
    for role in OPERATORS:
        users[role] = operator(role)
    superuser = User.objects.create_superuser("root", "root@example.org", PASSWORD)
    users[SUPERUSER] = superuser
    tokens = {
        actor: account_services.token_create(
            username=user.username, password=PASSWORD, now=DECEMBER_20
        )[0]
        for actor, user in ((OWNER, owner), (OTHER, other))
    }

    # Records only the admin shows, made directly: the admin's pages need one of each.
    audit = AuditEntry.objects.create(
        reading=reading,
        action="ENTERED",
        by=users[COUNTER],
        at=DECEMBER_20,
        status_after="ACCEPTED",
    )
    attempt = AccessAttempt.objects.create(
        username="someone", ip_address="192.0.2.1", user_agent="test", failures_since_start=1
    )
    access_log = AccessLog.objects.create(username="someone", ip_address="192.0.2.1")
    failure_log = AccessFailureLog.objects.create(username="someone", ip_address="192.0.2.1")
    outbound = outbox_enqueue(
        route=Route.EMAIL,
        recipient=owner.email,
        subject="La tua lettura",
        body="Lettura ricevuta.",
        dedupe_key="security-world-1",
        now=DECEMBER_20,
    )
    export = _ready_export(owner)
    erasure = ErasureRequest.objects.create(  # the other customer asked to be closed
        user=other,
        customer_codes=theirs.holder.customer_code,
        requested_at=DECEMBER_20,
        due_on=date(2027, 1, 20),
    )
    # A visit of today's reading round, still to be made (the reader's app).
    visit = ReadingAttempt.objects.create(
        supply=mine, planned_on=DECEMBER_20.date(), slot=Slot.MORNING, created_at=DECEMBER_20
    )
    inbound = InboundMessage.objects.order_by("pk").first()
    tariff = Tariff.objects.order_by("pk").first()
    assert inbound is not None, "no inbound"
    assert tariff is not None, "no tariff"

    values: dict[str, Any] = {
        "supply": mine.supply_code,
        "customer": mine.holder.customer_code,
        "their_supply": theirs.supply_code,
        "their_customer": theirs.holder.customer_code,
        "spare_supply": spare.supply_code,
        "spare_customer": spare.holder.customer_code,
        "receipt": reading.receipt,
        "reading_pk": reading.pk,
        "year": bill.year,
        "sequence": f"{bill.sequence:06d}",
        "ticket": report.ticket,
        "group_pk": Group.objects.get(name=COUNTER).pk,
        "user_pk": owner.pk,
        "customer_pk": mine.holder.pk,
        "supply_pk": mine.pk,
        "supply_type": ContentType.objects.get_for_model(mine).pk,
        "inbound_pk": inbound.pk,
        "tariff_pk": tariff.pk,
        "bill_pk": bill.pk,
        "outbound_pk": outbound.pk,
        "attempt_pk": attempt.pk,
        "access_log_pk": access_log.pk,
        "failure_log_pk": failure_log.pk,
        "fault_pk": report.pk,
        "audit_pk": audit.pk,
        "token_pk": ApiToken.objects.filter(user=owner).values_list("pk", flat=True).get(),
        "export_token": export.token,
        "erasure_pk": erasure.pk,
        "notice_pk": bill.pk,
        "flow_pk": flow.pk,
        "payment_pk": payment.pk,
        "visit_pk": visit.pk,
    }
    return World(values=values, users=users, tokens=tokens)


def _ready_export(user: User) -> DataExport:
    """A data export ready to download, with a small zip of its own (the contents are the
    lifecycle's tests' business; who may download it is this one's)."""
    folder = Path(settings.AUTOLETTURA_EXPORT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "owner.zip", "w") as archive:
        archive.writestr("data.json", "{}")
    return DataExport.objects.create(
        user=user,
        token="owner-export-token",
        status=DataExport.Status.READY,
        requested_at=DECEMBER_20,
        ready_at=DECEMBER_20,
        expires_at=DECEMBER_20 + timedelta(days=7),
        file_name="owner.zip",
        size_bytes=(folder / "owner.zip").stat().st_size,
    )


# Sessions change with every sign-in, whatever the request does after it.
_NOT_STATE = {"sessions"}


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the product owns (and the users and groups)."""
    state: dict[str, list[dict[str, Any]]] = {}
    for model in apps.get_models():
        if model._meta.app_label in _NOT_STATE:
            continue
        rows = model._default_manager.order_by("pk").values()
        state[model._meta.label] = [
            {k: v for k, v in row.items() if k != "last_login"} for row in rows
        ]
    for group in Group.objects.all():
        state[f"group:{group.name}"] = [
            {"permissions": sorted(group.permissions.values_list("pk", flat=True))}
        ]
    return state


def secret_settings(overrides: Any) -> None:
    """The secrets of the webhooks and the metrics set, as in production."""
    overrides.AUTOLETTURA_METRICS_TOKEN = METRICS_TOKEN
    overrides.AUTOLETTURA_TWILIO_AUTH_TOKEN = TWILIO_AUTH_TOKEN
    overrides.AUTOLETTURA_WHATSAPP_APP_SECRET = WHATSAPP_APP_SECRET
    overrides.AUTOLETTURA_WHATSAPP_VERIFY_TOKEN = WHATSAPP_VERIFY_TOKEN
