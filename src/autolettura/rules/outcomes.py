"""The outcomes of R7 and the reason codes of R5 and R6."""

from enum import StrEnum


class Status(StrEnum):
    ACCEPTED = "ACCEPTED"
    DISCARDED = "DISCARDED"
    UNDER_REVIEW = "UNDER_REVIEW"


class Reason(StrEnum):
    OUTSIDE_WINDOW = "outside_window"
    LOWER_THAN_PREVIOUS = "lower_than_previous"
    OLDER_THAN_LAST_READING = "older_than_last_reading"
    IMPLAUSIBLE = "implausible"
    HIGH_CONSUMPTION = "high_consumption"
    # Set by an operator on review (R7) or on voiding (R4).
    OPERATOR_DISCARDED = "operator_discarded"
    # Reasons an operator gives for discarding a reading under review (R7): the customer is
    # told which, in plain words.
    DIGITS_MISREAD = "digits_misread"
    PHOTO_MISMATCH = "photo_mismatch"
    WRONG_METER = "wrong_meter"


# What an operator may give as the reason for discarding a reading under review, the
# generic one last.
REVIEW_DISCARD_REASONS = (
    Reason.DIGITS_MISREAD,
    Reason.PHOTO_MISMATCH,
    Reason.WRONG_METER,
    Reason.OPERATOR_DISCARDED,
)
