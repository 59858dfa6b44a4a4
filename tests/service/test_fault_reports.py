"""R13: fault reports taken in charge, their lifecycle, audit trail and notifications."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.customers.models import Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.rules.errors import FieldError
from autolettura.service import selectors
from autolettura.service.models import (
    EventKind,
    FaultEvent,
    FaultReport,
    FaultStatus,
    Urgency,
)
from autolettura.service.services import (
    FaultReportRejected,
    FaultTransitionRefused,
    fault_report_advance,
    fault_report_attach_photo,
    fault_report_set_urgency,
    phone_key,
)
from tests import pictures
from tests.conftest import rome
from tests.service.conftest import APRIL_15, JPEG, PNG, report_fault

pytestmark = pytest.mark.django_db


def rejected(**overrides: object) -> list[FieldError]:
    with pytest.raises(FaultReportRejected) as caught:
        report_fault(**overrides)
    return caught.value.errors


def codes(errors: list[FieldError]) -> set[tuple[str, str]]:
    return {(e.field, e.code) for e in errors}


class TestFaultReportCreate:
    def test_takes_a_report_in_charge_with_a_ticket(self) -> None:
        report = report_fault()

        assert report.ticket == "GU-2026-000001"
        assert report.status == FaultStatus.RECEIVED
        assert report.received_at == APRIL_15
        assert report.urgency == Urgency.EMERGENCY
        assert report.contact_phone == "347 1234567"

    def test_numbers_tickets_in_sequence_within_a_year(self) -> None:
        tickets = [report_fault().ticket for _ in range(3)]

        assert tickets == ["GU-2026-000001", "GU-2026-000002", "GU-2026-000003"]

    def test_starts_again_from_one_in_a_new_year_in_rome(self) -> None:
        report_fault(now=rome(2026, 12, 31, 23, 59))
        # 23:30 UTC on 31 December is already 2027 in Rome.
        new_year = report_fault(now=rome(2027, 1, 1, 0, 30))

        assert new_year.ticket == "GU-2027-000001"

    def test_takes_the_ticket_prefix_from_the_settings(self, settings: SettingsWrapper) -> None:
        settings.AUTOLETTURA_FAULT_TICKET_PREFIX = "SG"

        assert report_fault().ticket == "SG-2026-000001"

    @pytest.mark.parametrize(
        ("category", "urgency"),
        [
            ("LEAK", Urgency.EMERGENCY),
            ("NO_WATER", Urgency.EMERGENCY),
            ("WATER_QUALITY", Urgency.URGENT),
            ("LOW_PRESSURE", Urgency.NORMAL),
            ("DAMAGED_METER", Urgency.NORMAL),
            ("OTHER", Urgency.NORMAL),
        ],
    )
    def test_derives_the_urgency_from_the_category(self, category: str, urgency: str) -> None:
        assert report_fault(category=category).urgency == urgency

    def test_records_the_received_event_and_tells_the_reporter(self) -> None:
        report = report_fault()

        (event,) = report.events.all()
        assert (event.kind, event.status, event.urgency) == ("STATUS", "RECEIVED", "EMERGENCY")
        assert event.at == APRIL_15
        assert event.by is None
        (message,) = OutboundMessage.objects.all()
        assert (message.route, message.recipient) == ("SMS", "+393471234567")
        assert f"Segnalazione ricevuta con il numero {report.ticket}" in message.body

    def test_takes_a_position_without_an_address(self) -> None:
        report = report_fault(address="", latitude="44,912345", longitude=8.6154)

        assert report.latitude == Decimal("44.912345")
        assert report.longitude == Decimal("8.615400")

    def test_takes_an_e_mail_without_a_phone(self) -> None:
        report = report_fault(contact_phone="", contact_email="maria@example.it")

        assert report.contact_email == "maria@example.it"

    def test_links_the_supply_when_known(self, supply: Supply) -> None:
        report = report_fault(category="DAMAGED_METER", supply=supply)

        assert list(supply.fault_reports.all()) == [report]


class TestFaultReportRefused:
    def test_says_where_the_fault_must_be(self) -> None:
        errors = rejected(address="  ", latitude=None, longitude=None)

        assert codes(errors) == {("location", "location_required")}

    def test_says_how_the_reporter_must_be_reached(self) -> None:
        errors = rejected(contact_phone="", contact_email="")

        assert codes(errors) == {("contact", "contact_required")}

    def test_says_everything_that_is_missing_at_once(self) -> None:
        errors = rejected(address="", contact_phone="", contact_email="", category="SNOW")

        assert codes(errors) == {
            ("location", "location_required"),
            ("contact", "contact_required"),
            ("category", "category_invalid"),
        }

    def test_a_position_needs_both_coordinates(self) -> None:
        assert codes(rejected(address="", latitude="44.9")) == {("location", "position_incomplete")}

    @pytest.mark.parametrize(
        ("latitude", "longitude", "field"),
        [
            ("91", "8.6", "latitude"),
            ("44.9", "-181", "longitude"),
            ("north", "8.6", "latitude"),
            ("44.9", "NaN", "longitude"),
        ],
    )
    def test_refuses_a_coordinate_out_of_range(
        self, latitude: str, longitude: str, field: str
    ) -> None:
        errors = rejected(address="", latitude=latitude, longitude=longitude)

        assert codes(errors) == {(field, f"{field}_invalid")}

    @pytest.mark.parametrize(
        "phone", ["12345", "call me", "347-ABC-4567", "+39 347 1234567 890 12"]
    )
    def test_refuses_a_phone_number_that_is_not_one(self, phone: str) -> None:
        assert codes(rejected(contact_phone=phone)) == {("contact_phone", "phone_invalid")}

    def test_refuses_an_e_mail_address_that_is_not_one(self) -> None:
        errors = rejected(contact_phone="", contact_email="maria.example.it")

        assert codes(errors) == {("contact_email", "email_invalid")}

    def test_other_needs_a_description(self) -> None:
        errors = rejected(category="OTHER", description=" ")

        assert codes(errors) == {("description", "description_required")}

    def test_refuses_a_description_too_long(self) -> None:
        (error,) = rejected(description="x" * 2001)

        assert (error.field, error.code, error.params) == ("description", "too_long", {"max": 2000})

    def test_refuses_an_unknown_channel(self) -> None:
        assert codes(rejected(channel="PIGEON")) == {("channel", "channel_invalid")}

    def test_stores_nothing_and_uses_no_ticket_number(self) -> None:
        rejected(address="")

        assert not FaultReport.objects.exists()
        assert report_fault().ticket == "GU-2026-000001"


class TestDatabaseConstraints:
    """What the services check is also held by the database, against update() and bulk paths."""

    def test_a_report_cannot_lose_its_location(self) -> None:
        report = report_fault()

        with pytest.raises(IntegrityError), transaction.atomic():
            FaultReport.objects.filter(pk=report.pk).update(address="")

    def test_a_report_cannot_lose_its_contact(self) -> None:
        report = report_fault()

        with pytest.raises(IntegrityError), transaction.atomic():
            FaultReport.objects.filter(pk=report.pk).update(contact_phone="")

    def test_a_status_needs_the_instant_of_its_step(self) -> None:
        report = report_fault()

        with pytest.raises(IntegrityError), transaction.atomic():
            FaultReport.objects.filter(pk=report.pk).update(status=FaultStatus.ON_SITE)

    def test_tickets_are_unique(self) -> None:
        report = report_fault()
        other = report_fault()

        with pytest.raises(IntegrityError), transaction.atomic():
            FaultReport.objects.filter(pk=other.pk).update(ticket=report.ticket)


class TestPhoto:
    def test_keeps_a_photo_under_the_tickets_name(self) -> None:
        photo = SimpleUploadedFile("IMG_0001.JPG", JPEG, content_type="image/jpeg")

        report = report_fault(photo=photo)

        assert report.photo.name.startswith("faults/2026/04/GU-2026-000001")
        assert report.photo.name.endswith(".jpg")
        assert pictures.describe(report.photo.read()) == pictures.describe(JPEG)

    def test_goes_by_the_content_not_the_name(self) -> None:
        photo = SimpleUploadedFile("photo.jpg", PNG, content_type="image/jpeg")

        assert report_fault(photo=photo).photo.name.endswith(".png")

    def test_refuses_a_file_that_is_not_a_picture(self) -> None:
        photo = SimpleUploadedFile(
            "photo.jpg", b"%PDF-1.7 not a picture", content_type="image/jpeg"
        )

        assert codes(rejected(photo=photo)) == {("photo", "photo_type")}

    def test_refuses_a_photo_too_large(self, settings: SettingsWrapper) -> None:
        settings.AUTOLETTURA_FAULT_PHOTO_MAX_MB = 1
        photo = SimpleUploadedFile("big.jpg", JPEG + b"\x00" * 1024 * 1024)

        (error,) = rejected(photo=photo)
        assert (error.code, error.params) == ("photo_too_large", {"max_mb": 1})

    def test_attaches_a_photo_once(self) -> None:
        report = report_fault()

        report = fault_report_attach_photo(report=report, photo=SimpleUploadedFile("a.png", PNG))
        with pytest.raises(FaultReportRejected) as caught:
            fault_report_attach_photo(report=report, photo=SimpleUploadedFile("b.png", PNG))

        assert report.photo.name.endswith(".png")
        assert codes(caught.value.errors) == {("photo", "photo_already_attached")}


def advance_all(report: FaultReport, by: User, *, minutes: int = 30) -> FaultReport:
    now = report.received_at
    for status in ("DISPATCHED", "ON_SITE", "RESOLVED"):
        now += timedelta(minutes=minutes)
        report = fault_report_advance(report=report, to_status=status, by=by, now=now)
    return report


class TestFaultReportAdvance:
    def test_follows_the_lifecycle_stamping_each_step(self, operator: User) -> None:
        report = report_fault()

        report = advance_all(report, operator)

        assert report.status == FaultStatus.RESOLVED
        assert report.dispatched_at == APRIL_15 + timedelta(minutes=30)
        assert report.on_site_at == APRIL_15 + timedelta(minutes=60)
        assert report.resolved_at == APRIL_15 + timedelta(minutes=90)
        report.refresh_from_db()
        assert report.status == FaultStatus.RESOLVED

    def test_records_who_did_what_when_and_why(self, operator: User) -> None:
        report = report_fault()
        later = APRIL_15 + timedelta(minutes=5)

        fault_report_advance(
            report=report, to_status="DISPATCHED", by=operator, now=later, note=" squadra 3 "
        )

        events = list(report.events.values_list("status", "at", "by", "note"))
        assert events == [
            ("RECEIVED", APRIL_15, None, ""),
            ("DISPATCHED", later, operator.pk, "squadra 3"),
        ]

    @pytest.mark.parametrize(
        ("steps", "to_status"),
        [
            ([], "ON_SITE"),  # a skipped step
            ([], "RESOLVED"),
            ([], "RECEIVED"),  # the same status again
            (["DISPATCHED"], "DISPATCHED"),
            (["DISPATCHED", "ON_SITE"], "DISPATCHED"),  # a step back
            (["DISPATCHED", "ON_SITE", "RESOLVED"], "RECEIVED"),  # after the end
            ([], "CANCELLED"),
        ],
    )
    def test_refuses_a_move_out_of_order(
        self, operator: User, steps: list[str], to_status: str
    ) -> None:
        report = report_fault()
        now = APRIL_15
        for step in steps:
            now += timedelta(minutes=10)
            report = fault_report_advance(report=report, to_status=step, by=operator, now=now)
        events_before = report.events.count()

        with pytest.raises(FaultTransitionRefused):
            fault_report_advance(
                report=report, to_status=to_status, by=operator, now=now + timedelta(minutes=10)
            )

        report.refresh_from_db()
        assert report.status == (steps[-1] if steps else "RECEIVED")
        assert report.events.count() == events_before

    def test_refuses_a_step_dated_before_the_previous_one(self, operator: User) -> None:
        report = report_fault()

        with pytest.raises(FaultTransitionRefused, match="dated before"):
            fault_report_advance(
                report=report,
                to_status="DISPATCHED",
                by=operator,
                now=APRIL_15 - timedelta(minutes=1),
            )

    def test_uses_the_reports_state_in_the_database_not_a_stale_copy(self, operator: User) -> None:
        report = report_fault()
        fault_report_advance(
            report=report, to_status="DISPATCHED", by=operator, now=APRIL_15 + timedelta(1)
        )

        # `report` still says RECEIVED: a second "dispatched" is refused all the same.
        with pytest.raises(FaultTransitionRefused):
            fault_report_advance(
                report=report, to_status="DISPATCHED", by=operator, now=APRIL_15 + timedelta(2)
            )
        assert report.events.filter(status="DISPATCHED").count() == 1


class TestReporterToldOfEachChange:
    def test_one_message_for_each_status(self, operator: User) -> None:
        report = advance_all(report_fault(), operator)

        messages = OutboundMessage.objects.order_by("created_at", "id")
        assert [m.dedupe_key for m in messages] == [
            f"fault:{report.ticket}:{status}"
            for status in ("RECEIVED", "DISPATCHED", "ON_SITE", "RESOLVED")
        ]
        assert {(m.route, m.recipient) for m in messages} == {("SMS", "+393471234567")}
        follow = f"/segnala-un-guasto/segui/?ticket={report.ticket}"
        assert all(follow in m.body for m in messages)
        assert "abbiamo inviato una squadra" in messages[1].body
        assert "la squadra è arrivata sul posto" in messages[2].body
        assert "il guasto è stato risolto" in messages[3].body

    @pytest.mark.parametrize(
        ("channel", "phone", "email", "route", "recipient"),
        [
            ("APP", "347 1234567", "maria@example.it", "EMAIL", "maria@example.it"),
            ("WEB", "347 1234567", "", "SMS", "+393471234567"),
            ("WEB", "+41 79 123 45 67", "", "SMS", "+41791234567"),
            # No WhatsApp conversation open with this number: SMS, not the e-mail.
            ("WHATSAPP", "+39 347 1234567", "maria@example.it", "SMS", "+393471234567"),
            ("PHONE", "347 1234567", "maria@example.it", "EMAIL", "maria@example.it"),
            ("PHONE", "0131 234567", "", "SMS", "+390131234567"),
            ("EMAIL", "", "maria@example.it", "EMAIL", "maria@example.it"),
        ],
    )
    def test_on_the_contact_the_reporter_left(
        self, operator: User, channel: str, phone: str, email: str, route: str, recipient: str
    ) -> None:
        report = report_fault(channel=channel, contact_phone=phone, contact_email=email)

        fault_report_advance(report=report, to_status="DISPATCHED", by=operator, now=APRIL_15)

        message = OutboundMessage.objects.get(dedupe_key=f"fault:{report.ticket}:DISPATCHED")
        assert (message.route, message.recipient) == (route, recipient)

    def test_a_refused_move_tells_no_one(self, operator: User) -> None:
        report = report_fault()

        with pytest.raises(FaultTransitionRefused):
            fault_report_advance(report=report, to_status="RESOLVED", by=operator, now=APRIL_15)

        assert list(OutboundMessage.objects.values_list("dedupe_key", flat=True)) == [
            f"fault:{report.ticket}:RECEIVED"
        ]

    def test_a_step_rolled_back_tells_no_one(self, operator: User) -> None:
        report = report_fault()

        with pytest.raises(RuntimeError), transaction.atomic():
            fault_report_advance(report=report, to_status="DISPATCHED", by=operator, now=APRIL_15)
            raise RuntimeError("the caller's transaction fails after the step")

        assert not OutboundMessage.objects.filter(dedupe_key__endswith=":DISPATCHED").exists()

    def test_a_repeated_step_is_refused_and_told_once(self, operator: User) -> None:
        report = report_fault()
        fault_report_advance(report=report, to_status="DISPATCHED", by=operator, now=APRIL_15)

        with pytest.raises(FaultTransitionRefused):
            fault_report_advance(report=report, to_status="DISPATCHED", by=operator, now=APRIL_15)

        assert OutboundMessage.objects.filter(dedupe_key__endswith=":DISPATCHED").count() == 1

    def test_a_report_with_no_address_to_write_to_tells_no_one(self) -> None:
        # The caller id a network gives for a withheld number, and no e-mail: the report is
        # taken (the crew can still go), and nothing is queued for a recipient that is none.
        report = report_fault(channel="PHONE", contact_phone="+266696687")

        assert report.status == FaultStatus.RECEIVED
        assert not OutboundMessage.objects.exists()

    def test_in_the_reporters_language(self, operator: User) -> None:
        report = report_fault(contact_email="mary@example.org", language="en")
        fault_report_advance(report=report, to_status="DISPATCHED", by=operator, now=APRIL_15)

        message = OutboundMessage.objects.get(dedupe_key=f"fault:{report.ticket}:DISPATCHED")
        assert message.language == "en"
        assert message.subject == f"Fault report {report.ticket}: a crew is on the way"
        assert message.body.startswith("Dear Maria Rossi,\n\n")
        assert f"Report {report.ticket}: a crew has been sent." in message.body
        assert f"/segnala-un-guasto/segui/?ticket={report.ticket}" in message.body


class TestFaultReportSetUrgency:
    def test_an_operator_changes_the_urgency_with_a_reason(self, operator: User) -> None:
        report = report_fault(category="LOW_PRESSURE")

        report = fault_report_set_urgency(
            report=report, urgency="EMERGENCY", by=operator, now=APRIL_15, note="ospedale"
        )

        assert report.urgency == Urgency.EMERGENCY
        event = report.events.get(kind=EventKind.URGENCY)
        assert (event.urgency, event.by, event.note) == ("EMERGENCY", operator, "ospedale")
        # The crew's progress is news to the reporter; an internal change of urgency is not.
        assert OutboundMessage.objects.count() == 1

    def test_needs_a_reason(self, operator: User) -> None:
        with pytest.raises(ValueError, match="why"):
            fault_report_set_urgency(
                report=report_fault(), urgency="NORMAL", by=operator, now=APRIL_15, note=" "
            )

    def test_the_same_urgency_records_nothing(self, operator: User) -> None:
        report = report_fault()

        fault_report_set_urgency(
            report=report, urgency="EMERGENCY", by=operator, now=APRIL_15, note="ok"
        )

        assert FaultEvent.objects.filter(kind=EventKind.URGENCY).count() == 0


class TestQueue:
    def test_serves_emergencies_first_then_the_oldest(self, operator: User) -> None:
        normal_old = report_fault(category="LOW_PRESSURE", now=APRIL_15)
        urgent = report_fault(category="WATER_QUALITY", now=APRIL_15 + timedelta(minutes=1))
        emergency_new = report_fault(category="NO_WATER", now=APRIL_15 + timedelta(minutes=3))
        emergency_old = report_fault(category="LEAK", now=APRIL_15 + timedelta(minutes=2))
        resolved = advance_all(report_fault(category="LEAK", now=APRIL_15), operator)

        queue = list(selectors.fault_queue())

        assert queue == [emergency_old, emergency_new, urgent, normal_old]
        assert resolved not in queue

    def test_follows_an_operators_change_of_urgency(self, operator: User) -> None:
        pressure = report_fault(category="LOW_PRESSURE", now=APRIL_15)
        leak = report_fault(category="LEAK", now=APRIL_15 + timedelta(minutes=1))
        assert list(selectors.fault_queue()) == [leak, pressure]

        fault_report_set_urgency(
            report=pressure, urgency="EMERGENCY", by=operator, now=APRIL_15, note="ospedale"
        )

        assert list(selectors.fault_queue()) == [pressure, leak]


class TestFollowWithTheContact:
    @pytest.mark.parametrize(
        "contact", ["347 1234567", "3471234567", "+39 347 123 4567", "0039-347-1234567"]
    )
    def test_finds_the_report_by_its_phone_number_however_written(self, contact: str) -> None:
        report = report_fault()

        assert selectors.fault_report_for_contact(ticket=report.ticket, contact=contact) == report

    def test_finds_the_report_by_its_e_mail_in_any_case(self) -> None:
        report = report_fault(contact_email="Maria@Example.it")

        found = selectors.fault_report_for_contact(
            ticket=report.ticket.lower(), contact=" maria@example.IT "
        )
        assert found == report

    @pytest.mark.parametrize("contact", ["", "347 7654321", "maria@example.it", "+41 347 1234567"])
    def test_finds_nothing_for_another_contact(self, contact: str) -> None:
        report = report_fault()

        assert selectors.fault_report_for_contact(ticket=report.ticket, contact=contact) is None

    def test_finds_nothing_for_a_ticket_that_does_not_exist(self) -> None:
        report_fault()

        found = selectors.fault_report_for_contact(ticket="GU-2026-000002", contact="3471234567")
        assert found is None

    def test_phone_keys(self) -> None:
        assert phone_key("+39 0131 123456") == phone_key("0131/123456") == "390131123456"
        assert phone_key("393 1234567") == "393931234567"  # a mobile beginning with 39
