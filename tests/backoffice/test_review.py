"""The review queue: oldest first with the regulator's deadline; accept, discard and void,
each told to the customer and written to an audit trail that cannot be edited."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from autolettura.backoffice.models import AppendOnly, AuditAction, AuditEntry
from autolettura.backoffice.roles import COUNTER
from autolettura.backoffice.selectors import review_deadline
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.readings.models import Reading, Status
from autolettura.readings.services import ReadingActionRefused, reading_review, reading_void
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, operator, supply_with_history, under_review
from tests.conftest import rome
from tests.portal.support import DECEMBER_20

pytestmark = pytest.mark.django_db


@pytest.fixture
def reading(clock: Clock) -> Reading:
    supply = supply_with_history()
    holder = supply.holder
    holder.email, holder.notify_by_email = "giulia@example.org", True
    holder.save()
    return under_review(supply)


@pytest.fixture
def counter(client: Client) -> Client:
    client.force_login(operator(COUNTER), backend=BACKEND)
    return client


class TestReviewService:
    def test_accepting_tells_the_customer_and_records_who_and_why(self, reading: Reading) -> None:
        by = operator(COUNTER)
        now = rome(2026, 12, 21, 9, 0)
        reviewed = reading_review(reading=reading, accept=True, by=by, now=now, note="photo ok")

        assert reviewed.status == Status.ACCEPTED and reviewed.reason is None
        assert reviewed.reviewed_at == now
        (message,) = OutboundMessage.objects.filter(dedupe_key__contains=":ACCEPTED:")
        assert (message.route, message.recipient) == (Route.EMAIL, "giulia@example.org")
        assert reading.receipt in message.body and "accettata" in message.body
        (entry,) = AuditEntry.objects.filter(reading=reading)
        assert (entry.action, entry.by, entry.at) == (AuditAction.ACCEPTED, by, now)
        assert entry.note == "photo ok"
        assert (entry.status_before, entry.status_after) == ("UNDER_REVIEW", "ACCEPTED")

    def test_discarding_needs_a_reason_and_gives_operator_discarded(self, reading: Reading) -> None:
        by = operator(COUNTER)
        with pytest.raises(ReadingActionRefused):
            reading_review(reading=reading, accept=False, by=by, now=DECEMBER_20, note=" ")
        discarded = reading_review(
            reading=reading, accept=False, by=by, now=DECEMBER_20, note="digit too many"
        )
        assert (discarded.status, discarded.reason) == (Status.DISCARDED, "operator_discarded")
        (message,) = OutboundMessage.objects.filter(dedupe_key__contains=":DISCARDED:")
        assert "non è stata accettata" in message.body

    def test_a_reading_from_sms_is_answered_by_sms_to_its_sender(self, clock: Clock) -> None:
        from autolettura.readings.services import inbound_reading_submit

        supply = supply_with_history()
        outcome = inbound_reading_submit(
            channel="SMS",
            provider_message_id="SM1",
            payload={"supply_code": "400120734", "customer_code": "1004127", "reading": "600"},
            now=DECEMBER_20,
            sender="+393330000001",
        )
        assert outcome.submission is not None
        reading = outcome.submission.reading
        assert reading.status == Status.UNDER_REVIEW and reading.supply == supply
        reading_review(reading=reading, accept=True, by=operator(COUNTER), now=DECEMBER_20)
        (message,) = OutboundMessage.objects.filter(dedupe_key__contains=":ACCEPTED:")
        assert (message.route, message.recipient) == (Route.SMS, "+393330000001")

    def test_a_second_decision_is_refused(self, reading: Reading) -> None:
        by = operator(COUNTER)
        reading_review(reading=reading, accept=True, by=by, now=DECEMBER_20)
        with pytest.raises(ReadingActionRefused):
            reading_review(reading=reading, accept=False, by=by, now=DECEMBER_20, note="no")
        assert AuditEntry.objects.count() == 1


class TestVoid:
    def test_voiding_keeps_the_reading_with_who_when_why_and_tells_the_customer(
        self, reading: Reading
    ) -> None:
        by = operator(COUNTER)
        now = rome(2026, 12, 22, 11, 0)
        voided = reading_void(reading=reading, by=by, reason="meter was replaced", now=now)
        assert (voided.voided_at, voided.void_reason) == (now, "meter was replaced")
        assert Reading.objects.filter(pk=reading.pk).exists()
        (entry,) = AuditEntry.objects.filter(reading=reading, action=AuditAction.VOIDED)
        assert (entry.by, entry.at, entry.note) == (by, now, "meter was replaced")
        assert OutboundMessage.objects.filter(body__contains="annullata").count() == 1
        with pytest.raises(ReadingActionRefused):
            reading_void(reading=reading, by=by, reason="again", now=now)

    def test_a_void_through_the_page_appears_in_the_supplys_trail(
        self, counter: Client, reading: Reading
    ) -> None:
        response = counter.post(
            f"/backoffice/letture/{reading.receipt}/annulla/", {"reason": "wrong supply"}
        )
        assert response.status_code == 302
        page = counter.get(response["Location"]).content.decode()
        assert page.count("wrong supply") == 2  # in the readings table and in the trail
        reading.refresh_from_db()
        assert reading.voided_at is not None

    def test_a_void_without_a_reason_changes_nothing(
        self, counter: Client, reading: Reading
    ) -> None:
        counter.post(f"/backoffice/letture/{reading.receipt}/annulla/", {"reason": "  "})
        reading.refresh_from_db()
        assert reading.voided_at is None


class TestAuditTrailIsAppendOnly:
    @pytest.fixture
    def entry(self, reading: Reading) -> AuditEntry:
        reading_void(reading=reading, by=operator(COUNTER), reason="test", now=DECEMBER_20)
        return AuditEntry.objects.get()

    def test_the_orm_refuses_changes_and_deletions(self, entry: AuditEntry) -> None:
        entry.note = "rewritten"
        with pytest.raises(AppendOnly):
            entry.save()
        with pytest.raises(AppendOnly):
            entry.delete()
        with pytest.raises(AppendOnly):
            AuditEntry.objects.filter(pk=entry.pk).update(note="rewritten")
        with pytest.raises(AppendOnly):
            AuditEntry.objects.all().delete()

    def test_the_database_refuses_an_update_in_raw_sql(self, entry: AuditEntry) -> None:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE backoffice_auditentry SET note = 'rewritten'")
        entry.refresh_from_db()
        assert entry.note == "test"

    def test_the_admin_offers_no_add_change_or_delete(self, entry: AuditEntry) -> None:
        from django.contrib import admin
        from django.test import RequestFactory

        from autolettura.backoffice.models import AuditEntry as Model

        model_admin = admin.site._registry[Model]
        request = RequestFactory().get("/")
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request, entry)
        assert not model_admin.has_delete_permission(request, entry)


class TestQueue:
    def test_oldest_first_with_photo_chart_and_days_left(
        self, counter: Client, clock: Clock
    ) -> None:
        older = under_review(supply_with_history(), now=rome(2026, 12, 16, 9, 0))
        newer = under_review(
            supply_with_history(customer_code="2008811", supply_code="400777001"),
            now=rome(2026, 12, 18, 9, 0),
        )
        page = counter.get("/backoffice/revisione/").content.decode()
        assert page.index(older.receipt) < page.index(newer.receipt)
        assert "<svg" in page
        # Submitted on Wednesday 16 December: 17, 18, 21, 22, 23, 24, (Christmas and St
        # Stephen's skipped) 28, 29, 30 December.
        assert "30 dicembre 2026" in page

    def test_accept_through_the_page(self, counter: Client, reading: Reading) -> None:
        response = counter.post(
            f"/backoffice/letture/{reading.receipt}/revisione/",
            {f"r{reading.pk}-decision": "accept", f"r{reading.pk}-note": ""},
        )
        assert response.status_code == 302
        reading.refresh_from_db()
        assert reading.status == Status.ACCEPTED
        page = counter.get("/backoffice/revisione/").content.decode()
        assert f"review-{reading.receipt}" not in page

    def test_a_discard_without_a_note_is_refused_with_a_message(
        self, counter: Client, reading: Reading
    ) -> None:
        response = counter.post(
            f"/backoffice/letture/{reading.receipt}/revisione/",
            {f"r{reading.pk}-decision": "discard", f"r{reading.pk}-note": ""},
            follow=True,
        )
        reading.refresh_from_db()
        assert reading.status == Status.UNDER_REVIEW
        assert "alert-danger" in response.content.decode()


class TestDeadline:
    def test_nine_working_days_skip_christmas_st_stephen_new_year_and_epiphany(self) -> None:
        # Tuesday 22 December 2026: 23, 24, 28, 29, 30, 31 December, 4, 5, 7 January.
        deadline = review_deadline(rome(2026, 12, 22, 10, 0), today=date(2026, 12, 22))
        assert deadline.due_on == date(2027, 1, 7)
        assert deadline.working_days_left == 9

    def test_counts_down_and_goes_negative_once_past(self) -> None:
        submitted = rome(2026, 12, 22, 10, 0)
        assert review_deadline(submitted, today=date(2026, 12, 28)).working_days_left == 6
        assert review_deadline(submitted, today=date(2027, 1, 7)).working_days_left == 0
        late = review_deadline(submitted, today=date(2027, 1, 8))
        assert late.working_days_left == -1 and late.overdue

    def test_a_late_evening_submission_counts_from_its_day_in_rome(self) -> None:
        # 23:30 in Rome on 22 December is still the 22nd, though 22:30 UTC.
        deadline = review_deadline(rome(2026, 12, 22, 23, 30), today=date(2026, 12, 22))
        assert deadline.due_on == date(2027, 1, 7)
