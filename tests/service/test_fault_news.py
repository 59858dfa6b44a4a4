"""R13 end to end: a reporter is told of their report when it is received and at each step
the back office moves it on, once per step, on the contact they left, with the link to
follow it; the e-mails are read off aiosmtpd on loopback once the outbox is flushed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.header import decode_header, make_header
from typing import Any

import pytest
from django.test import Client

from autolettura.backoffice.roles import CALL_CENTRE
from autolettura.channels.models import WhatsAppConversation
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.outbox.services import outbox_flush
from autolettura.service.models import FaultReport, FaultStatus
from autolettura.service.services import fault_report_create
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, operator
from tests.channels.mailservers import SmtpServer, body_of
from tests.service.conftest import APRIL_15

pytestmark = pytest.mark.django_db

BASE_URL = "https://letture.example.it"
LEAK = {
    "category": "leak",
    "description": "Acqua che esce dal tombino",
    "address": "Via Roma 12, Alessandria",
    "contact_name": "Maria Rossi",
}
STEPS = ("DISPATCHED", "ON_SITE", "RESOLVED")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def mail_server(smtp: SmtpServer, settings: Any) -> SmtpServer:
    smtp.configure(settings)
    settings.AUTOLETTURA_PUBLIC_BASE_URL = BASE_URL
    return smtp


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(APRIL_15)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture
def back_office(clock: Clock) -> Client:
    client = Client()
    client.force_login(operator(CALL_CENTRE), backend=BACKEND)
    return client


def move_on(back_office: Client, clock: Clock, ticket: str, to_status: str) -> None:
    clock.now += timedelta(minutes=20)
    fields = {"to_status": to_status, "note": ""}
    if to_status == "RESOLVED":
        fields["confirm"] = "on"
    response = back_office.post(f"/backoffice/guasti/{ticket}/avanza/", fields)
    assert response.status_code == 302, response.content


def text_of(message: Any) -> str:
    """A received mail's text, its SMTP line ends (CRLF) read as new lines."""
    return body_of(message).replace("\r\n", "\n")


def subject_of(message: Any) -> str:
    return " ".join(str(make_header(decode_header(message["Subject"]))).split())


def keys(report: FaultReport) -> list[str]:
    return list(
        OutboundMessage.objects.filter(dedupe_key__startswith=f"fault:{report.ticket}:")
        .order_by("created_at", "id")
        .values_list("dedupe_key", flat=True)
    )


def every_status(report: FaultReport) -> list[str]:
    return [f"fault:{report.ticket}:{s}" for s in ("RECEIVED", *STEPS)]


class TestReportedThroughTheApi:
    def test_the_reporter_gets_one_email_per_change_with_the_link_to_follow(
        self, api: Client, back_office: Client, clock: Clock, mail_server: SmtpServer
    ) -> None:
        response = api.post(
            "/api/v1/faults",
            {**LEAK, "contact_phone": "347 1234567", "contact_email": "maria@example.org"},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        ticket = response.json()["ticket"]
        follow = f"{BASE_URL}/segnala-un-guasto/segui/?ticket={ticket}"
        assert response.json()["follow_url"] == follow
        report = FaultReport.objects.get(ticket=ticket)

        for status in STEPS:
            move_on(back_office, clock, ticket, status)
            if status == "DISPATCHED":
                # A second click (a retried request) on the step already made.
                move_on(back_office, clock, ticket, status)
        report.refresh_from_db()
        assert report.status == FaultStatus.RESOLVED

        assert keys(report) == every_status(report)
        messages = OutboundMessage.objects.order_by("created_at", "id")
        assert {(m.route, m.recipient) for m in messages} == {(Route.EMAIL, "maria@example.org")}

        assert outbox_flush(now=clock.now + timedelta(minutes=1)) == 4
        assert outbox_flush(now=clock.now + timedelta(minutes=2)) == 0
        received = mail_server.received
        assert [m["X-Envelope-To"] for m in received] == ["maria@example.org"] * 4
        assert [subject_of(m) for m in received] == [
            f"Segnalazione guasto {ticket} ricevuta",
            f"Segnalazione guasto {ticket}: una squadra è in arrivo",
            f"Segnalazione guasto {ticket}: la squadra è sul posto",
            f"Segnalazione guasto {ticket}: risolta",
        ]
        bodies = [text_of(m) for m in received]
        assert all(b.startswith("Gentile Maria Rossi,\n\n") for b in bodies)
        assert all(follow in b for b in bodies)
        assert f"Segnalazione ricevuta con il numero {ticket}" in bodies[0]
        assert "abbiamo inviato una squadra" in bodies[1]
        assert "la squadra è arrivata sul posto" in bodies[2]
        assert "il guasto è stato risolto" in bodies[3]

        # The link leads to the page that asks for the contact, the ticket filled in.
        link = re.search(r"https://letture\.example\.it(/\S+)", bodies[0])
        assert link is not None
        page = Client().get(link.group(1))
        assert page.status_code == 200
        assert f'value="{ticket}"' in page.content.decode()

    def test_in_english_for_a_reporter_who_wrote_in_english(
        self, api: Client, back_office: Client, clock: Clock, mail_server: SmtpServer
    ) -> None:
        response = api.post(
            "/api/v1/faults",
            {**LEAK, "contact_email": "mary@example.org"},
            content_type="application/json",
            headers={"Accept-Language": "en"},
        )
        ticket = response.json()["ticket"]
        move_on(back_office, clock, ticket, "DISPATCHED")

        assert outbox_flush(now=clock.now + timedelta(minutes=1)) == 2
        subjects = [subject_of(m) for m in mail_server.received]
        assert subjects == [
            f"Fault report {ticket} received",
            f"Fault report {ticket}: a crew is on the way",
        ]
        body = text_of(mail_server.received[1])
        assert body.startswith("Dear Maria Rossi,\n\n")
        assert f"Report {ticket}: a crew has been sent." in body

    def test_a_report_with_no_contact_to_write_to_tells_no_one(
        self, api: Client, back_office: Client, clock: Clock, mail_server: SmtpServer
    ) -> None:
        # A withheld caller id is all that was left: the report is taken, nobody is written to.
        response = api.post(
            "/api/v1/faults",
            {**LEAK, "contact_phone": "+266696687"},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        for status in STEPS:
            move_on(back_office, clock, response.json()["ticket"], status)

        assert not OutboundMessage.objects.exists()
        assert outbox_flush(now=clock.now + timedelta(minutes=1)) == 0
        assert mail_server.received == []

    def test_a_report_with_no_contact_at_all_is_refused(self, api: Client) -> None:
        response = api.post("/api/v1/faults", LEAK, content_type="application/json")

        assert response.status_code == 422
        assert not FaultReport.objects.exists()
        assert not OutboundMessage.objects.exists()


class TestReportedOnThePortal:
    def test_a_phone_only_reporter_gets_one_sms_per_change(
        self, client: Client, back_office: Client, clock: Clock, mail_server: SmtpServer
    ) -> None:
        client.post(
            "/segnala-un-guasto/",
            {**LEAK, "category": "LEAK", "contact_phone": "347 123 4567", "contact_email": ""},
        )
        report = FaultReport.objects.get()

        for status in STEPS:
            move_on(back_office, clock, report.ticket, status)
        move_on(back_office, clock, report.ticket, "RESOLVED")  # retried after the end

        assert keys(report) == every_status(report)
        messages = list(OutboundMessage.objects.order_by("created_at", "id"))
        assert {(m.route, m.recipient) for m in messages} == {(Route.SMS, "+393471234567")}
        follow = f"{BASE_URL}/segnala-un-guasto/segui/?ticket={report.ticket}"
        assert all(follow in m.body for m in messages)
        assert mail_server.received == []


class TestReportedOnWhatsApp:
    def test_whatsapp_while_the_24_hours_are_open_then_sms(
        self, back_office: Client, clock: Clock
    ) -> None:
        WhatsAppConversation.objects.create(
            phone="+393471234567", updated_at=APRIL_15 - timedelta(hours=1)
        )
        # The API takes only the app's and the web's reports: a WhatsApp report is the
        # WhatsApp channel's, made through the same service.
        ticket = fault_report_create(
            category="LEAK",
            description=LEAK["description"],
            address=LEAK["address"],
            latitude=None,
            longitude=None,
            contact_name=LEAK["contact_name"],
            contact_phone="+39 347 1234567",
            contact_email="",
            channel="WHATSAPP",
            now=clock.now,
        ).ticket
        move_on(back_office, clock, ticket, "DISPATCHED")
        # A day later Meta no longer lets a free text through: the crew's arrival goes by SMS.
        clock.now = APRIL_15 + timedelta(hours=23, minutes=50)
        move_on(back_office, clock, ticket, "ON_SITE")

        routes = OutboundMessage.objects.order_by("created_at", "id").values_list(
            "route", "recipient"
        )
        assert list(routes) == [
            (Route.WHATSAPP, "+393471234567"),
            (Route.WHATSAPP, "+393471234567"),
            (Route.SMS, "+393471234567"),
        ]


class TestNobodyIsFloodedThroughTheFaultLine:
    def test_a_contact_gets_the_days_confirmations_and_every_report_is_taken(
        self, clock: Clock, settings: Any
    ) -> None:
        settings.AUTOLETTURA_FAULT_CONFIRMATIONS_PER_CONTACT = 3

        def report(phone: str) -> FaultReport:
            return fault_report_create(
                category="LEAK",
                description=LEAK["description"],
                address=LEAK["address"],
                latitude=None,
                longitude=None,
                contact_name="",
                contact_phone=phone,
                contact_email="",
                channel="APP",
                now=clock.now,
            )

        flood = [report("347 123 4567") for _ in range(5)]
        other = report("333 765 4321")

        assert FaultReport.objects.count() == 6
        to_victim = OutboundMessage.objects.filter(recipient="+393471234567")
        assert sorted(m.dedupe_key for m in to_victim) == sorted(
            f"fault:{r.ticket}:RECEIVED" for r in flood[:3]
        )
        assert OutboundMessage.objects.filter(recipient="+393337654321").count() == 1
        # A day later the contact is told again.
        clock.now = clock.now + timedelta(days=1, minutes=1)
        report("347 123 4567")
        assert OutboundMessage.objects.filter(recipient="+393471234567").count() == 4
        assert other.status == FaultStatus.RECEIVED
