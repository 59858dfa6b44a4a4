"""The photo weighed against the typed value: when it agrees, allows, disagrees or is silent,
and what that does to R6's outcome."""

from __future__ import annotations

import pytest

from autolettura.rules.outcomes import Reason, Status
from autolettura.rules.photo_evidence import (
    Agreement,
    PhotoEvidence,
    photo_agreement,
    photo_outcome,
)

SURE = 0.97


class TestPhotoAgreement:
    def test_the_same_whole_m3_read_with_confidence_agrees_whatever_the_zeros(self) -> None:
        assert photo_agreement(530, PhotoEvidence(530, SURE), threshold=0.9) is Agreement.AGREES

    def test_another_value_read_with_confidence_disagrees(self) -> None:
        assert photo_agreement(580, PhotoEvidence(530, SURE), threshold=0.9) is Agreement.DISAGREES

    def test_a_value_among_the_photo_s_other_readings_is_allowed_not_contradicted(self) -> None:
        # The units wheel caught between 0 and 1: 530 read, 531 possible.
        evidence = PhotoEvidence(530, SURE, alternatives=(531,))
        assert photo_agreement(531, evidence, threshold=0.9) is Agreement.ALLOWS

    def test_a_reading_below_the_threshold_neither_agrees_nor_disagrees(self) -> None:
        assert photo_agreement(580, PhotoEvidence(530, 0.6), threshold=0.9) is Agreement.ALLOWS
        assert photo_agreement(530, PhotoEvidence(530, 0.6), threshold=0.9) is Agreement.ALLOWS

    def test_nothing_read_is_silent(self) -> None:
        assert photo_agreement(530, PhotoEvidence(None, 0.0), threshold=0.9) is Agreement.SILENT

    def test_the_threshold_itself_is_confident_enough(self) -> None:
        assert photo_agreement(530, PhotoEvidence(530, 0.9), threshold=0.9) is Agreement.AGREES


class TestPhotoOutcome:
    @pytest.mark.parametrize(
        ("status", "reason"),
        [
            (Status.ACCEPTED, None),
            (Status.DISCARDED, Reason.LOWER_THAN_PREVIOUS),
            (Status.DISCARDED, Reason.IMPLAUSIBLE),
            (Status.UNDER_REVIEW, Reason.HIGH_CONSUMPTION),
        ],
    )
    def test_a_disagreeing_photo_sends_any_outcome_on_the_value_to_review(
        self, status: Status, reason: Reason | None
    ) -> None:
        assert photo_outcome(status, reason, Agreement.DISAGREES) == (
            Status.UNDER_REVIEW,
            Reason.PHOTO_MISMATCH,
        )

    @pytest.mark.parametrize("reason", [Reason.OUTSIDE_WINDOW, Reason.OLDER_THAN_LAST_READING])
    @pytest.mark.parametrize("agreement", list(Agreement))
    def test_the_photo_never_changes_an_outcome_on_the_date(
        self, reason: Reason, agreement: Agreement
    ) -> None:
        assert photo_outcome(Status.DISCARDED, reason, agreement) == (Status.DISCARDED, reason)

    def test_an_agreeing_photo_makes_an_implausible_reading_reviewable(self) -> None:
        assert photo_outcome(Status.DISCARDED, Reason.IMPLAUSIBLE, Agreement.AGREES) == (
            Status.UNDER_REVIEW,
            Reason.IMPLAUSIBLE,
        )

    def test_an_agreeing_photo_keeps_high_consumption_under_review(self) -> None:
        assert photo_outcome(Status.UNDER_REVIEW, Reason.HIGH_CONSUMPTION, Agreement.AGREES) == (
            Status.UNDER_REVIEW,
            Reason.HIGH_CONSUMPTION,
        )

    def test_an_agreeing_photo_does_not_rescue_a_reading_lower_than_the_last(self) -> None:
        assert photo_outcome(Status.DISCARDED, Reason.LOWER_THAN_PREVIOUS, Agreement.AGREES) == (
            Status.DISCARDED,
            Reason.LOWER_THAN_PREVIOUS,
        )

    @pytest.mark.parametrize("agreement", [Agreement.ALLOWS, Agreement.SILENT])
    def test_a_photo_that_says_nothing_sure_changes_nothing(self, agreement: Agreement) -> None:
        assert photo_outcome(Status.ACCEPTED, None, agreement) == (Status.ACCEPTED, None)
        assert photo_outcome(Status.DISCARDED, Reason.IMPLAUSIBLE, agreement) == (
            Status.DISCARDED,
            Reason.IMPLAUSIBLE,
        )
