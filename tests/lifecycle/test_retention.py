"""The retention run: what is past its time is removed or anonymised, in batches, counted in
the log and the metrics; what an open review or a kept bill needs is never touched."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import override_settings
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura import clock
from autolettura.backoffice.models import AuditAction, AuditEntry
from autolettura.billing.models import Bill, line_json
from autolettura.channels.models import PhoneCall, WhatsAppConversation
from autolettura.lifecycle.models import RetentionRun
from autolettura.lifecycle.services import retention_run
from autolettura.lifecycle.tasks import retention_run_task
from autolettura.metrics import metrics_text
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.readings.models import InboundMessage, Reading, Status
from autolettura.rules.retention import RetentionPolicy
from tests.conftest import make_supply, rome
from tests.lifecycle.support import NOW, bill, inbound, photo, reading

pytestmark = pytest.mark.django_db

LONG_AGO = NOW - timedelta(days=181)
RECENTLY = NOW - timedelta(days=179)


@pytest.fixture(autouse=True)
def _media(tmp_path: Path, settings: SettingsWrapper) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def counts() -> dict[str, int]:
    return RetentionRun.objects.get().counts


class TestInboundMessages:
    def test_bodies_and_senders_past_their_time_are_anonymised(self) -> None:
        old = inbound(received_at=LONG_AGO)
        recent = inbound(received_at=RECENTLY)

        retention_run(now=NOW)

        old.refresh_from_db()
        recent.refresh_from_db()
        assert (old.payload, old.sender) == ({}, "")
        # The row stays: its provider id still turns away a late repeat.
        assert old.provider_message_id.startswith("SM")
        assert recent.sender == "+393471234567" and recent.payload["Body"]
        assert counts()["inbound_messages"] == 1

    def test_the_message_of_a_reading_under_review_is_kept(self) -> None:
        supply = make_supply(installed_on=date(2024, 1, 1))
        message = inbound(received_at=LONG_AGO)
        pending = reading(supply, date(2026, 6, 20), 900, status=Status.UNDER_REVIEW)
        InboundMessage.objects.filter(pk=message.pk).update(reading=pending, made_reading=True)

        retention_run(now=NOW)

        message.refresh_from_db()
        assert message.sender == "+393471234567"
        assert counts()["inbound_messages"] == 0

    def test_a_second_run_finds_nothing_left_to_do(self) -> None:
        inbound(received_at=LONG_AGO)

        first = retention_run(now=NOW)
        second = retention_run(now=NOW)

        assert first.counts["inbound_messages"] == 1
        assert second.counts["inbound_messages"] == 0


class TestMessagesElsewhere:
    def test_calls_numbers_and_keys_are_cleared(self) -> None:
        old = PhoneCall.objects.create(
            call_sid="CA1",
            caller="+390131000000",
            gathered={"supply_code": "S2001"},
            last_response="<Response/>",
            started_at=LONG_AGO,
            updated_at=LONG_AGO,
        )
        recent = PhoneCall.objects.create(
            call_sid="CA2", caller="+390131000001", started_at=RECENTLY, updated_at=RECENTLY
        )

        retention_run(now=NOW)

        old.refresh_from_db()
        recent.refresh_from_db()
        assert (old.caller, old.gathered, old.last_response) == ("", {}, "")
        assert recent.caller == "+390131000001"

    def test_whatsapp_conversations_nobody_asked_to_remember_are_removed(self) -> None:
        customer = make_supply().holder
        draft = photo("whatsapp/drafts/old.png")
        WhatsAppConversation.objects.create(phone="+393470000001", updated_at=LONG_AGO, photo=draft)
        WhatsAppConversation.objects.create(
            phone="+393470000002",
            updated_at=LONG_AGO,
            remembered_customer=customer,
            remembered_at=LONG_AGO,
        )
        WhatsAppConversation.objects.create(phone="+393470000003", updated_at=RECENTLY)

        retention_run(now=NOW)

        phones = set(WhatsAppConversation.objects.values_list("phone", flat=True))
        assert phones == {"+393470000002", "+393470000003"}
        assert not default_storage.exists(draft)

    def test_sent_messages_lose_recipient_and_text_but_pending_ones_are_untouched(self) -> None:
        def message(key: str, status: str) -> OutboundMessage:
            return OutboundMessage.objects.create(
                route=Route.SMS,
                recipient="+393471234567",
                body="Lettura AL-2026-000001 presa in carico",
                dedupe_key=key,
                status=status,
                next_attempt_at=LONG_AGO,
                created_at=LONG_AGO,
                sent_at=LONG_AGO if status == OutboundMessage.Status.SENT else None,
            )

        sent = message("a", OutboundMessage.Status.SENT)
        pending = message("b", OutboundMessage.Status.PENDING)

        retention_run(now=NOW)

        sent.refresh_from_db()
        pending.refresh_from_db()
        assert (sent.recipient, sent.body) == ("-", "")
        assert pending.recipient == "+393471234567"
        assert counts()["outbound_messages"] == 1


class TestPhotos:
    def test_photos_of_discarded_and_voided_readings_go_after_their_time(self) -> None:
        supply = make_supply(installed_on=date(2024, 1, 1))
        discarded = reading(
            supply,
            date(2026, 5, 1),
            100,
            status=Status.DISCARDED,
            submitted_at=LONG_AGO,
            with_photo=True,
        )
        voided = reading(
            supply, date(2026, 5, 2), 101, submitted_at=LONG_AGO, with_photo=True, voided=True
        )
        accepted = reading(supply, date(2026, 5, 3), 102, submitted_at=LONG_AGO, with_photo=True)
        fresh = reading(
            supply,
            date(2026, 6, 10),
            103,
            status=Status.DISCARDED,
            submitted_at=RECENTLY,
            with_photo=True,
        )
        names = {r.pk: r.photo.name for r in (discarded, voided, accepted, fresh)}

        retention_run(now=NOW)

        kept = dict(Reading.objects.values_list("pk", "photo"))
        assert kept[discarded.pk] == "" and kept[voided.pk] == ""
        assert not default_storage.exists(names[discarded.pk])
        assert not default_storage.exists(names[voided.pk])
        # A valid reading keeps its evidence for five years; a fresh discard for its time.
        assert kept[accepted.pk] == names[accepted.pk]
        assert default_storage.exists(names[accepted.pk])
        assert kept[fresh.pk] == names[fresh.pk]
        assert counts()["discarded_photos"] == 2

    def test_evidence_of_readings_older_than_five_years_goes_but_not_under_review(self) -> None:
        supply = make_supply(installed_on=date(2015, 1, 1))
        old = reading(supply, date(2021, 12, 5), 100, with_photo=True)
        # A kept bill rests on it: the reading stays, its photo goes.
        bill(supply, year=2022, period_start=date(2021, 11, 1), period_end=date(2021, 12, 31))
        not_yet = reading(supply, date(2021, 12, 6), 101, with_photo=True)
        reviewing = reading(
            supply, date(2021, 11, 1), 99, status=Status.UNDER_REVIEW, with_photo=True
        )

        retention_run(now=NOW)

        kept = dict(Reading.objects.values_list("pk", "photo"))
        assert kept[old.pk] == ""
        assert not default_storage.exists(old.photo.name)
        assert kept[not_yet.pk] != ""
        assert kept[reviewing.pk] != ""
        assert counts()["reading_photos"] == 1


class TestBills:
    def test_whole_years_past_ten_go_but_never_a_supplys_latest_bill(self) -> None:
        active = make_supply(installed_on=date(2014, 1, 1))
        closed = make_supply(installed_on=date(2014, 1, 1))
        first = bill(
            active, year=2015, period_start=date(2014, 11, 1), period_end=date(2014, 12, 31)
        )
        second = bill(
            active, year=2015, period_start=date(2015, 1, 1), period_end=date(2015, 2, 28)
        )
        kept_year = bill(
            active, year=2016, period_start=date(2016, 1, 1), period_end=date(2016, 2, 29)
        )
        closed_last = bill(
            closed, year=2015, period_start=date(2015, 1, 1), period_end=date(2015, 2, 28)
        )
        first.lines = [line_json("FIXED", "quota fissa", Decimal(1), Decimal(1), Decimal(1))]
        first.save(update_fields=["lines"])

        retention_run(now=NOW)

        left = set(Bill.objects.values_list("pk", flat=True))
        assert left == {kept_year.pk, closed_last.pk}
        assert not Bill.objects.filter(pk=first.pk).exists()  # and its lines with it
        assert {first.pk, second.pk}.isdisjoint(left)
        assert counts()["bills"] == 2


class TestReadings:
    def test_readings_past_five_years_go_unless_something_still_needs_them(self) -> None:
        supply = make_supply(installed_on=date(2014, 1, 1))
        operator = User.objects.create_user(username="sportello", is_staff=True)
        # Nothing needs these two: an old discard and an old reading, with newer ones after.
        reading(supply, date(2016, 10, 20), 40, status=Status.DISCARDED)
        gone = reading(supply, date(2016, 12, 20), 50, with_photo=True)
        message = inbound(received_at=rome(2016, 12, 20, 12, 0))
        InboundMessage.objects.filter(pk=message.pk).update(reading=gone, made_reading=True)
        # A later message that sent the same reading again: it stays, without the reading,
        # its provider id still turning away a late repeat.
        again = inbound(received_at=rome(2016, 12, 21, 9, 0))
        InboundMessage.objects.filter(pk=again.pk).update(reading=gone)
        # Kept: an operator acted on it (the audit trail stays whole).
        audited = reading(supply, date(2017, 2, 20), 60)
        AuditEntry.objects.create(
            reading=audited,
            action=AuditAction.ACCEPTED,
            by=operator,
            at=NOW,
            status_after=Status.ACCEPTED,
        )
        # Kept: inside the period of a bill still kept (issued 2018, kept through 2028).
        billed = reading(supply, date(2017, 12, 20), 80)
        bill(supply, year=2018, period_start=date(2017, 11, 1), period_end=date(2017, 12, 31))
        # Kept: still under review.
        reviewing = reading(supply, date(2018, 2, 20), 95, status=Status.UNDER_REVIEW)
        # Kept: the profile's CMA starts here (the last at least 300 days before the latest).
        cma_start = reading(supply, date(2019, 4, 20), 120)
        recent = reading(supply, date(2026, 10, 20), 400)

        retention_run(now=NOW)

        left = set(Reading.objects.values_list("pk", flat=True))
        assert left == {audited.pk, billed.pk, reviewing.pk, cma_start.pk, recent.pk}
        assert not InboundMessage.objects.filter(pk=message.pk).exists()
        again.refresh_from_db()
        assert again.reading_id is None and not again.made_reading
        assert counts()["readings"] == 2

    def test_the_last_readings_of_a_supply_silent_for_years_stay(self) -> None:
        supply = make_supply(installed_on=date(2014, 1, 1))
        first = reading(supply, date(2015, 2, 20), 30)
        last = reading(supply, date(2016, 4, 20), 90)

        retention_run(now=NOW)

        # The next estimate and bill carry on from these two: both stay.
        assert set(Reading.objects.values_list("pk", flat=True)) == {first.pk, last.pk}


class TestTheRun:
    def test_works_in_batches_until_everything_is_done(self) -> None:
        for _ in range(5):
            inbound(received_at=LONG_AGO)

        report = retention_run(now=NOW, batch_size=2)

        assert report.counts["inbound_messages"] == 5
        assert not InboundMessage.objects.exclude(sender="").exists()

    def test_follows_the_settings(self) -> None:
        inbound(received_at=NOW - timedelta(days=40))

        with override_settings(AUTOLETTURA_RETENTION_MESSAGES_DAYS=30):
            shorter = retention_run(now=NOW)
        assert shorter.counts["inbound_messages"] == 1

    def test_a_policy_can_be_given(self) -> None:
        inbound(received_at=NOW - timedelta(days=40))

        report = retention_run(now=NOW, policy=RetentionPolicy(messages_days=60))

        assert report.counts["inbound_messages"] == 0

    def test_counts_go_to_the_log_and_the_metrics(self, caplog: pytest.LogCaptureFixture) -> None:
        inbound(received_at=LONG_AGO)
        inbound(received_at=LONG_AGO)

        with caplog.at_level("INFO", logger="autolettura.lifecycle"):
            retention_run(now=NOW)
            retention_run(now=NOW)
        inbound(received_at=LONG_AGO)
        retention_run(now=NOW)

        assert "retention: inbound messages anonymised: 2" in caplog.messages
        text = metrics_text().decode()
        assert 'autolettura_retention_items_total{kind="inbound_messages"} 3.0' in text
        assert 'autolettura_retention_items_total{kind="readings"} 0.0' in text
        finished = max(RetentionRun.objects.values_list("finished_at", flat=True))
        (line,) = [
            line
            for line in text.splitlines()
            if line.startswith("autolettura_retention_last_run_timestamp_seconds ")
        ]
        assert float(line.split()[1]) == pytest.approx(finished.timestamp())

    def test_the_command_and_the_nightly_task_run_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(clock, "now", lambda: NOW)
        inbound(received_at=LONG_AGO)
        out = StringIO()

        call_command("retention_run", stdout=out)
        inbound(received_at=LONG_AGO)
        handled = retention_run_task.delay().get()

        assert "inbound messages anonymised: 1" in out.getvalue()
        assert "readings dated before 2021-12-06, bills issued before 2016" in out.getvalue()
        assert handled == 1
        assert RetentionRun.objects.count() == 2

    def test_celery_beat_runs_it_every_night(self) -> None:
        entry = settings.CELERY_BEAT_SCHEDULE["retention-run"]

        assert entry["task"] == retention_run_task.name
        assert entry["schedule"].hour == {3} and entry["schedule"].minute == {30}
