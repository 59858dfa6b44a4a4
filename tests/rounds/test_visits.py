"""Recording a reader's visit: a reading through reading_submit (source operator) with its
outcome, a failed visit with its cause and evidence, both safe to send twice."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest

from autolettura.readings.models import Channel, Reading, Source, Status
from autolettura.readings.services import SubmissionRejected
from autolettura.rounds.models import AttemptState, FailureCause, ReadingAttempt
from autolettura.rounds.services import (
    VisitInvalid,
    VisitRefused,
    attempt_failed,
    attempt_read,
)
from tests import pictures
from tests.api_helpers import requires_postgres, run_together
from tests.portal.support import DECEMBER_20
from tests.rounds.support import planned_visit, reader, supply_on_round

pytestmark = pytest.mark.django_db

KEY = "0b6f2c1e-5d7a-4e0b-9a51-3c2d1e0f9a77"
OTHER_KEY = "7d1e0f9a-3c2d-4e0b-9a51-0b6f2c1e5d7a"


@pytest.fixture
def visit() -> ReadingAttempt:
    return planned_visit(supply_on_round())


class TestAttemptRead:
    def test_the_reading_is_taken_as_the_utilitys_and_the_visit_is_made(
        self, visit: ReadingAttempt
    ) -> None:
        who = reader()
        outcome = attempt_read(
            attempt_id=visit.pk, reading="445", by=who, now=DECEMBER_20, idempotency_key=KEY
        )

        assert outcome.created
        reading = outcome.reading
        assert reading is not None
        assert (reading.source, reading.channel) == (Source.OPERATOR, Channel.ROUND)
        assert (reading.value, reading.read_on) == (445, date(2026, 12, 20))
        assert (reading.status, reading.consumption_m3) == (Status.ACCEPTED, 25)
        assert reading.submitted_by == who
        visit.refresh_from_db()
        assert (visit.state, visit.reading_id) == (AttemptState.MADE, reading.pk)
        assert (visit.recorded_by, visit.recorded_at) == (who, DECEMBER_20)
        assert visit.idempotency_key == KEY

    def test_a_lower_value_is_discarded_with_its_reason(self, visit: ReadingAttempt) -> None:
        outcome = attempt_read(attempt_id=visit.pk, reading="400", by=reader(), now=DECEMBER_20)

        assert outcome.reading is not None
        assert (outcome.reading.status, outcome.reading.reason) == (
            Status.DISCARDED,
            "lower_than_previous",
        )
        # The visit was made: the meter was read, whatever the value's outcome.
        assert ReadingAttempt.objects.get(pk=visit.pk).state == AttemptState.MADE

    def test_a_much_higher_consumption_goes_under_review(self, visit: ReadingAttempt) -> None:
        outcome = attempt_read(attempt_id=visit.pk, reading="900", by=reader(), now=DECEMBER_20)

        assert outcome.reading is not None
        assert (outcome.reading.status, outcome.reading.reason) == (
            Status.UNDER_REVIEW,
            "high_consumption",
        )

    def test_a_photo_is_kept_with_the_reading(self, visit: ReadingAttempt) -> None:
        outcome = attempt_read(
            attempt_id=visit.pk,
            reading="445",
            by=reader(),
            now=DECEMBER_20,
            photo=io.BytesIO(pictures.JPEG),
        )

        assert outcome.reading is not None and outcome.reading.photo
        assert outcome.reading.photo_sha256

    def test_sent_again_with_the_same_key_and_value_gives_the_first_answer(
        self, visit: ReadingAttempt
    ) -> None:
        who = reader()
        first = attempt_read(
            attempt_id=visit.pk, reading="445", by=who, now=DECEMBER_20, idempotency_key=KEY
        )
        later = DECEMBER_20 + timedelta(hours=1)
        again = attempt_read(
            attempt_id=visit.pk, reading="445", by=who, now=later, idempotency_key=KEY
        )

        assert not again.created
        assert again.reading is not None and first.reading is not None
        assert again.reading.receipt == first.reading.receipt
        assert Reading.objects.filter(supply=visit.supply, channel=Channel.ROUND).count() == 1
        visit.refresh_from_db()
        assert visit.recorded_at == DECEMBER_20

    def test_the_same_value_under_another_key_is_the_same_visit(
        self, visit: ReadingAttempt
    ) -> None:
        who = reader()
        attempt_read(
            attempt_id=visit.pk, reading="445", by=who, now=DECEMBER_20, idempotency_key=KEY
        )
        # A second tap made a second key for the same values: still one visit, one reading.
        again = attempt_read(
            attempt_id=visit.pk,
            reading="445",
            by=who,
            now=DECEMBER_20,
            idempotency_key=OTHER_KEY,
        )

        assert not again.created
        assert Reading.objects.filter(supply=visit.supply, channel=Channel.ROUND).count() == 1
        assert ReadingAttempt.objects.get(pk=visit.pk).idempotency_key == KEY

    def test_the_same_key_with_another_value_is_refused(self, visit: ReadingAttempt) -> None:
        who = reader()
        attempt_read(
            attempt_id=visit.pk, reading="445", by=who, now=DECEMBER_20, idempotency_key=KEY
        )

        with pytest.raises(VisitRefused) as refused:
            attempt_read(
                attempt_id=visit.pk, reading="446", by=who, now=DECEMBER_20, idempotency_key=KEY
            )

        assert refused.value.code == "key_reused"
        assert Reading.objects.filter(supply=visit.supply, channel=Channel.ROUND).count() == 1

    def test_a_key_used_for_another_visit_is_refused(self, visit: ReadingAttempt) -> None:
        other = planned_visit(supply_on_round(customer_code="2008811", supply_code="400777001"))
        who = reader()
        attempt_read(
            attempt_id=visit.pk, reading="445", by=who, now=DECEMBER_20, idempotency_key=KEY
        )

        with pytest.raises(VisitRefused) as refused:
            attempt_read(
                attempt_id=other.pk, reading="445", by=who, now=DECEMBER_20, idempotency_key=KEY
            )

        assert refused.value.code == "key_reused"
        assert ReadingAttempt.objects.get(pk=other.pk).state == AttemptState.PLANNED

    def test_a_visit_recorded_as_failed_cannot_then_be_read(self, visit: ReadingAttempt) -> None:
        who = reader()
        attempt_failed(
            attempt_id=visit.pk,
            cause=FailureCause.ABSENT,
            by=who,
            now=DECEMBER_20,
            idempotency_key=KEY,
        )

        with pytest.raises(VisitRefused) as refused:
            attempt_read(
                attempt_id=visit.pk,
                reading="445",
                by=who,
                now=DECEMBER_20,
                idempotency_key=OTHER_KEY,
            )

        assert refused.value.code == "already_recorded"
        assert not Reading.objects.filter(supply=visit.supply, channel=Channel.ROUND).exists()

    def test_a_visit_of_a_day_to_come_is_refused(self) -> None:
        visit = planned_visit(supply_on_round(), on=date(2026, 12, 21))

        with pytest.raises(VisitRefused) as refused:
            attempt_read(attempt_id=visit.pk, reading="445", by=reader(), now=DECEMBER_20)

        assert refused.value.code == "not_due"
        assert ReadingAttempt.objects.get(pk=visit.pk).state == AttemptState.PLANNED

    def test_a_visit_of_an_earlier_day_synced_late_is_read_on_its_day(self) -> None:
        visit = planned_visit(supply_on_round(), on=date(2026, 12, 18))

        outcome = attempt_read(attempt_id=visit.pk, reading="444", by=reader(), now=DECEMBER_20)

        assert outcome.reading is not None
        assert outcome.reading.read_on == date(2026, 12, 18)

    def test_a_malformed_value_is_rejected_and_the_visit_stays_planned(
        self, visit: ReadingAttempt
    ) -> None:
        with pytest.raises(SubmissionRejected) as rejected:
            attempt_read(attempt_id=visit.pk, reading="445,5", by=reader(), now=DECEMBER_20)

        assert [e.code for e in rejected.value.errors] == ["decimals_not_allowed"]
        assert ReadingAttempt.objects.get(pk=visit.pk).state == AttemptState.PLANNED

    def test_an_unknown_visit_and_a_malformed_key_are_refused(self, visit: ReadingAttempt) -> None:
        with pytest.raises(VisitRefused) as unknown:
            attempt_read(attempt_id=visit.pk + 99, reading="445", by=reader(), now=DECEMBER_20)
        with pytest.raises(VisitRefused) as malformed:
            attempt_read(
                attempt_id=visit.pk,
                reading="445",
                by=reader("altro"),
                now=DECEMBER_20,
                idempotency_key="no spaces!",
            )

        assert (unknown.value.code, malformed.value.code) == ("not_found", "key_invalid")


class TestAttemptFailed:
    def test_the_cause_photo_and_position_are_kept(self, visit: ReadingAttempt) -> None:
        outcome = attempt_failed(
            attempt_id=visit.pk,
            cause=FailureCause.NOT_REACHABLE,
            cause_note="cancello chiuso",
            photo=io.BytesIO(pictures.PNG),
            latitude="44.912345",
            longitude="8.612345",
            accuracy="12.5",
            by=reader(),
            now=DECEMBER_20,
            idempotency_key=KEY,
        )

        assert outcome.created
        visit.refresh_from_db()
        assert (visit.state, visit.cause, visit.cause_note) == (
            AttemptState.FAILED,
            "NOT_REACHABLE",
            "cancello chiuso",
        )
        assert (visit.latitude, visit.longitude, visit.position_accuracy_m) == (
            Decimal("44.912345"),
            Decimal("8.612345"),
            Decimal("12.5"),
        )
        assert visit.photo.name.startswith("rounds/photos/2026/12/")
        with visit.photo.open("rb") as kept:
            assert pictures.describe(kept.read()) == ("PNG", (64, 48))
        assert visit.reading is None

    def test_other_needs_the_readers_words(self, visit: ReadingAttempt) -> None:
        with pytest.raises(VisitInvalid) as invalid:
            attempt_failed(
                attempt_id=visit.pk, cause=FailureCause.OTHER, by=reader(), now=DECEMBER_20
            )

        assert [(e.field, e.code) for e in invalid.value.errors] == [("cause_note", "required")]
        assert ReadingAttempt.objects.get(pk=visit.pk).state == AttemptState.PLANNED

    @pytest.mark.parametrize(
        ("latitude", "longitude", "accuracy", "field"),
        [
            ("91", "8.6", "", "latitude"),
            ("44.9", "-180.5", "", "longitude"),
            ("44.9", "", "", "longitude"),
            ("", "", "10", "accuracy"),
            ("44.9", "8.6", "-1", "accuracy"),
            ("nord", "8.6", "", "latitude"),
            ("NaN", "8.6", "", "latitude"),
        ],
    )
    def test_a_position_out_of_range_is_refused(
        self, visit: ReadingAttempt, latitude: str, longitude: str, accuracy: str, field: str
    ) -> None:
        with pytest.raises(VisitInvalid) as invalid:
            attempt_failed(
                attempt_id=visit.pk,
                cause=FailureCause.ABSENT,
                latitude=latitude,
                longitude=longitude,
                accuracy=accuracy,
                by=reader(),
                now=DECEMBER_20,
            )

        assert [(e.field, e.code) for e in invalid.value.errors] == [(field, "position_invalid")]

    def test_an_unknown_cause_and_a_photo_that_is_not_one_are_both_said(
        self, visit: ReadingAttempt
    ) -> None:
        with pytest.raises(VisitInvalid) as invalid:
            attempt_failed(
                attempt_id=visit.pk,
                cause="BORED",
                photo=io.BytesIO(b"<script>alert(1)</script>"),
                by=reader(),
                now=DECEMBER_20,
            )

        assert [(e.field, e.code) for e in invalid.value.errors] == [
            ("cause", "cause_invalid"),
            ("photo", "photo_type_invalid"),
        ]

    def test_sent_twice_it_is_recorded_once_and_other_values_are_refused(
        self, visit: ReadingAttempt
    ) -> None:
        who = reader()
        sent = {
            "attempt_id": visit.pk,
            "cause": FailureCause.ABSENT,
            "latitude": "44.9",
            "longitude": "8.6",
            "by": who,
            "idempotency_key": KEY,
        }
        attempt_failed(**sent, photo=io.BytesIO(pictures.JPEG), now=DECEMBER_20)
        first_photo = ReadingAttempt.objects.get(pk=visit.pk).photo.name

        again = attempt_failed(
            **sent, photo=io.BytesIO(pictures.JPEG), now=DECEMBER_20 + timedelta(minutes=5)
        )
        with pytest.raises(VisitRefused) as refused:
            attempt_failed(**{**sent, "cause": FailureCause.REFUSED}, now=DECEMBER_20)

        assert not again.created
        assert refused.value.code == "key_reused"
        visit.refresh_from_db()
        assert (visit.cause, visit.recorded_at, visit.photo.name) == (
            "ABSENT",
            DECEMBER_20,
            first_photo,
        )

    def test_a_visit_read_cannot_then_be_recorded_as_failed(self, visit: ReadingAttempt) -> None:
        who = reader()
        attempt_read(attempt_id=visit.pk, reading="445", by=who, now=DECEMBER_20)

        with pytest.raises(VisitRefused) as refused:
            attempt_failed(attempt_id=visit.pk, cause=FailureCause.ABSENT, by=who, now=DECEMBER_20)

        assert refused.value.code == "already_recorded"
        assert ReadingAttempt.objects.get(pk=visit.pk).state == AttemptState.MADE


class TestDatabaseConstraints:
    def test_a_half_position_cannot_be_stored_by_any_path(self, visit: ReadingAttempt) -> None:
        from django.db import IntegrityError, transaction

        with pytest.raises(IntegrityError), transaction.atomic():
            ReadingAttempt.objects.filter(pk=visit.pk).update(latitude=Decimal("44.9"))
        with pytest.raises(IntegrityError), transaction.atomic():
            ReadingAttempt.objects.filter(pk=visit.pk).update(
                state=AttemptState.FAILED, cause=FailureCause.OTHER, cause_note=""
            )


@requires_postgres
@pytest.mark.django_db(transaction=True)
class TestSentAtOnce:
    def test_the_page_and_the_worker_sending_one_visit_together_record_it_once(self) -> None:
        visit = planned_visit(supply_on_round())
        who = reader()

        def work(_: int) -> tuple[bool, str, str | None]:
            outcome = attempt_read(
                attempt_id=visit.pk, reading="445", by=who, now=DECEMBER_20, idempotency_key=KEY
            )
            reading = outcome.reading
            # Each answer says what the first one said: the state and its reading.
            return outcome.created, outcome.attempt.state, reading.receipt if reading else None

        answers = run_together(4, work)

        assert sum(created for created, _, _ in answers) == 1
        assert {(state, receipt) for _, state, receipt in answers} == {
            (AttemptState.MADE, Reading.objects.get(channel=Channel.ROUND).receipt)
        }
