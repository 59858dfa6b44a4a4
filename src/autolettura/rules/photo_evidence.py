"""A photo sent with a typed reading, weighed against it (issue 12).

The photo is evidence, not the reading: the customer's typed value is what is assessed
(R6). What the photo says only changes the outcome in two ways:

- it disagrees (a confident reading of another value, which the photo does not allow as
  one of its other readings either): the reading goes to an operator as `photo_mismatch`,
  both values kept, instead of being accepted or discarded on the typed value alone;
- it agrees (a confident reading of the same whole m³): a reading R6 discards as
  `implausible` goes to an operator with the photo as evidence instead, and one held for
  `high_consumption` stays under review with it.

A photo read with little confidence, or in which nothing was read, changes nothing: it is
kept for the operator to look at. Outcomes about the date (outside the window, older than
the last reading) are never the photo's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .outcomes import Reason, Status


class Agreement(StrEnum):
    AGREES = "agrees"  # confidently read, the same whole m³
    ALLOWS = "allows"  # not confidently read, or the typed value is one of its other readings
    DISAGREES = "disagrees"  # confidently read, another value the photo does not allow
    SILENT = "silent"  # nothing read (no register found, or not read in time)


@dataclass(frozen=True)
class PhotoEvidence:
    """What the photo said: the whole m³ read (None: nothing), how sure, and the other
    readings it allows."""

    value: int | None
    confidence: float
    alternatives: tuple[int, ...] = ()


def photo_agreement(typed: int, evidence: PhotoEvidence, *, threshold: float) -> Agreement:
    """How the photo stands to the typed value. `threshold` is the confidence from which a
    reading read from a photo is acted on (AUTOLETTURA_PHOTO_CONFIDENCE).

    Agreement is on the whole m³, as numbers: "0530" typed and "00530" read agree.
    """
    if evidence.value is None:
        return Agreement.SILENT
    if evidence.confidence < threshold:
        return Agreement.ALLOWS
    if typed == evidence.value:
        return Agreement.AGREES
    if typed in evidence.alternatives:
        # A turning wheel or an uncertain digit: the customer's reading is one the photo
        # shows too, only not the likeliest. Not a contradiction.
        return Agreement.ALLOWS
    return Agreement.DISAGREES


# What R6 decided on the value alone: the photo may speak to these, never to the date.
_ABOUT_THE_VALUE = {
    None,
    Reason.LOWER_THAN_PREVIOUS,
    Reason.IMPLAUSIBLE,
    Reason.HIGH_CONSUMPTION,
}


def photo_outcome(
    status: Status, reason: Reason | None, agreement: Agreement
) -> tuple[Status, Reason | None]:
    """The outcome once the photo is weighed: (status, reason)."""
    if reason not in _ABOUT_THE_VALUE:
        return status, reason
    if agreement is Agreement.DISAGREES:
        return Status.UNDER_REVIEW, Reason.PHOTO_MISMATCH
    if agreement is Agreement.AGREES and reason in (Reason.IMPLAUSIBLE, Reason.HIGH_CONSUMPTION):
        return Status.UNDER_REVIEW, reason
    return status, reason
