"""Planning the reading rounds, and recording the readers' visits.

Planning: every supply's attempts for the regulator's minimum.

`reading_plan` (the command `autolettura reading-plan --from --to`) plans, for every supply,
the attempts of rules/rounds.plan_year that fall between two days, and stores them once: run
again over the same days it adds nothing. Supplies are read in chunks and the attempts
written with one bulk insert a chunk, so memory does not grow with the supplies.

Two kinds of supply are planned apart (TIMSII art. 7):
- a remotely read supply (a meter with a radio id that sent its register within
  AUTOLETTURA_ROUNDS_REMOTE_DAYS) gets no visit: its daily readings meet the minimum;
- the supplies of a condominium (`Supply.condominium`) count as one user: one plan for them
  all, on the CMAs' sum (rules/rounds.condominium_cma), visited on the same days and in the
  same time slot.

Recording (the reader's app): `attempt_read` takes the reader's reading through
`reading_submit` and marks the visit MADE; `attempt_failed` marks it FAILED with its cause
and evidence. Both are safe to send twice, as a phone that lost an answer will.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max, Q

from autolettura import db
from autolettura.billing.models import Bill
from autolettura.billing.policy import default_cma
from autolettura.customers.models import Supply
from autolettura.readings import photos
from autolettura.readings.models import Channel, Reading, Source
from autolettura.readings.services import reading_submit
from autolettura.rounds import selectors
from autolettura.rounds.models import AttemptState, FailureCause, ReadingAttempt, Slot
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.round_visits import position_parse
from autolettura.rules.rounds import condominium_cma, plan_year
from autolettura.rules.window import rome_today

logger = logging.getLogger(__name__)
MAX_PHOTO_BYTES = photos.MAX_BYTES

CHUNK = 5000
_SLOTS = (Slot.MORNING.value, Slot.AFTERNOON.value)
_COLUMNS = ("supply_id", "planned_on", "slot", "state", "cause", "created_at")


class PlanInvalid(Exception):
    """A plan that cannot be made as asked; the message says what to fix."""


@dataclass
class PlanReport:
    planned: int = 0
    by_month: Counter[str] = field(default_factory=Counter)


def _chunks(rows: Any, size: int = CHUNK) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class _Condominium:
    key: int
    activated_on: date | None = None
    last: date | None = None
    cmas: list[Decimal] = field(default_factory=list)


class _History:
    """What the planner needs of each supply before a year: its CMA (from its latest bill)
    and its latest attempt (a visit planned, or a reading taken by the utility, which is an
    attempt that succeeded). Read for a set of supplies at a time (a chunk, the
    condominiums), so the planner's memory does not grow with the installation."""

    def __init__(self, first_day: date) -> None:
        self.cmas = (
            Bill.objects.filter(period_end__lt=first_day)
            .order_by("supply_id", "period_end")
            .values_list("supply_id", "cma_m3")
        )
        self.readings = (
            Reading.objects.filter(source=Source.OPERATOR, read_on__lt=first_day)
            .values("supply_id")
            .annotate(on=Max("read_on"))
            .values_list("supply_id", "on")
        )
        self.visits = (
            ReadingAttempt.objects.filter(planned_on__lt=first_day)
            .values("supply_id")
            .annotate(on=Max("planned_on"))
            .values_list("supply_id", "on")
        )

    def of(self, supplies: Q) -> tuple[dict[int, Decimal], dict[int, date]]:
        """The CMAs and latest attempts of the `supplies` (a condition on `supply_id` or
        `supply__...`)."""
        cma: dict[int, Decimal] = dict(self.cmas.filter(supplies))
        last: dict[int, date] = dict(self.readings.filter(supplies))
        for supply_id, on in self.visits.filter(supplies):
            last[supply_id] = max(on, last.get(supply_id, on))
        return cma, last


def reading_plan(*, start: date, end: date, now: datetime) -> PlanReport:
    """Plan every supply's reading attempts from `start` to `end` (both included). Raises
    PlanInvalid for an end before the start or a span longer than two years."""
    if end < start:
        raise PlanInvalid(f"--to {end:%Y-%m-%d} is before --from {start:%Y-%m-%d}")
    if (end - start).days > 731:
        raise PlanInvalid("plan at most two years at a time")
    report = PlanReport()
    threshold = settings.AUTOLETTURA_ARERA_READING_ATTEMPTS_CMA_M3
    remote = selectors.remote_supplies(now=now)
    copy = db.is_postgresql()
    # The columns every row shares, state, cause and creation, in COPY's text format.
    fixed = "\t".join(db.copy_value(v) for v in (AttemptState.PLANNED.value, "", now))
    months: Counter[tuple[int, int]] = Counter()
    for year in range(start.year, end.year + 1):
        first_day = date(year, 1, 1)
        history = _History(first_day)
        # Each condominium as one user: the earliest activation, the latest attempt, the
        # CMAs' sum, and its first supply's id to alternate the slot by.
        group_cma, group_last = history.of(~Q(supply__condominium=""))
        groups: dict[str, _Condominium] = {}
        for supply_id, usage, activated_on, condominium in (
            Supply.objects.filter(activated_on__lte=date(year, 12, 31))
            .exclude(condominium="")
            .order_by("id")
            .values_list("id", "usage", "activated_on", "condominium")
        ):
            if supply_id in remote:
                continue
            group = groups.setdefault(condominium, _Condominium(key=supply_id))
            group.activated_on = min(activated_on, group.activated_on or activated_on)
            if supply_id in group_last:
                group.last = max(group_last[supply_id], group.last or group_last[supply_id])
            group.cmas.append(group_cma.get(supply_id, default_cma(usage)))
        plans: dict[str, list[date]] = {}
        supplies = (
            Supply.objects.filter(activated_on__lte=date(year, 12, 31))
            .order_by("id")
            .values_list("id", "usage", "activated_on", "condominium")
        )
        for batch in _chunks(supplies.iterator(chunk_size=CHUNK)):
            cma, last = history.of(Q(supply_id__gte=batch[0][0], supply_id__lte=batch[-1][0]))
            # What an earlier run planned for these supplies and days stays as it is.
            existing = set(
                ReadingAttempt.objects.filter(
                    supply_id__gte=batch[0][0],
                    supply_id__lte=batch[-1][0],
                    planned_on__gte=start,
                    planned_on__lte=end,
                ).values_list("supply_id", "planned_on")
            )
            rows: list[tuple[Any, ...]] = []
            lines: list[str] = []
            for supply_id, usage, activated_on, condominium in batch:
                member = groups.get(condominium) if condominium else None
                key = supply_id
                if member is not None:
                    key = member.key
                    if condominium not in plans:
                        plans[condominium] = plan_year(
                            year=year,
                            cma_m3=condominium_cma(member.cmas),
                            activated_on=member.activated_on or activated_on,
                            last_attempt_on=member.last,
                            threshold_m3=threshold,
                        )
                    days = plans[condominium]
                else:
                    days = plan_year(
                        year=year,
                        cma_m3=cma.get(supply_id, default_cma(usage)),
                        activated_on=activated_on,
                        last_attempt_on=last.get(supply_id),
                        remote=supply_id in remote,
                        threshold_m3=threshold,
                    )
                for index, day in enumerate(days):
                    if start <= day <= end and (supply_id, day) not in existing:
                        # Alternate morning and afternoon, so that a household out at one
                        # time is found at the other on the next visit; a condominium's
                        # supplies by its first, so that they share the slot.
                        slot = _SLOTS[(key + index) % 2]
                        months[day.year, day.month] += 1
                        if copy:
                            lines.append(f"{supply_id}\t{day}\t{slot}\t{fixed}")
                        else:
                            rows.append((supply_id, day, slot, AttemptState.PLANNED, "", now))
            # One COPY a chunk, its rows written as COPY's text (PostgreSQL), no ORM object a
            # row. Two planners at once would collide on the (supply, day) constraint and the
            # second would stop: run one.
            if copy:
                if lines:
                    lines.append("")
                    db.copy_text(ReadingAttempt._meta.db_table, _COLUMNS, "\n".join(lines))
            else:
                db.insert_rows(ReadingAttempt._meta.db_table, _COLUMNS, rows)
    for (year_of, month), count in sorted(months.items()):
        report.by_month[f"{year_of:04d}-{month:02d}"] += count
    report.planned = sum(report.by_month.values())
    return report


# --- Recording a visit (the reader's app) -----------------------------------------------------

# A phone's key: a UUID, or any short token of letters, digits and dashes (as the portal's).
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{8,100}")


class VisitRefused(Exception):
    """A visit that cannot be recorded as sent. `code`: `not_found`, `not_due` (a day still
    to come), `already_recorded` (recorded before, differently), `key_reused` (the key of
    another visit or of other values), `key_invalid`; the message says it in plain words."""

    def __init__(self, code: str, attempt: ReadingAttempt | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.attempt = attempt


class VisitInvalid(Exception):
    """A failed visit whose details cannot be taken (cause, words, photo, position); every
    problem found is in `errors`, each with its field and code."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class VisitOutcome:
    """A visit recorded: the attempt, now MADE (with its reading) or FAILED. `created` is
    False for a repeat of one recorded before, which gives back the first answer."""

    attempt: ReadingAttempt
    created: bool

    @property
    def reading(self) -> Reading | None:
        return self.attempt.reading


def _photo_digest(photo: IO[bytes] | None) -> str:
    """The SHA-256 of a photo as the phone sent it (its bytes are the same every time it is
    sent again), leaving the file where it was."""
    if photo is None:
        return ""
    if hasattr(photo, "seek"):
        photo.seek(0)
    data = photo.read(MAX_PHOTO_BYTES + 1)
    if hasattr(photo, "seek"):
        photo.seek(0)
    return hashlib.sha256(data).hexdigest()


def _digest(*parts: object) -> str:
    return hashlib.sha256("\n".join(str(part) for part in parts).encode()).hexdigest()


def _attempt_locked(attempt_id: int) -> ReadingAttempt:
    """The attempt, locked until the visit is recorded: a phone sending twice at once (the
    page and the worker) waits for the first, then finds it recorded."""
    try:
        ReadingAttempt.objects.select_for_update().only("pk").get(pk=attempt_id)
    except ReadingAttempt.DoesNotExist:
        raise VisitRefused("not_found") from None
    # Read again once locked, in a statement of its own: a lock taken with a join would
    # give the row as the first sender left it but its reading as it was before (NULL).
    return ReadingAttempt.objects.select_related("supply", "reading", "reading__meter").get(
        pk=attempt_id
    )


def _key_checked(key: str) -> str | None:
    if not key:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise VisitRefused("key_invalid")
    return key


def _repeat(attempt: ReadingAttempt, key: str | None, digest: str) -> VisitOutcome | None:
    """The first answer when this visit was recorded before with these values; a refusal
    when it was recorded otherwise; None when it is still to be recorded."""
    if attempt.state == AttemptState.PLANNED:
        if key and ReadingAttempt.objects.filter(idempotency_key=key).exists():
            raise VisitRefused("key_reused", attempt)  # the key of another visit
        return None
    same_values = digest == attempt.recorded_digest
    if key and attempt.idempotency_key == key and not same_values:
        raise VisitRefused("key_reused", attempt)
    if same_values:
        # Sent again (an answer lost on the way), under its key or another one made for
        # the same values by a second tap: the visit is recorded once.
        return VisitOutcome(attempt, created=False)
    raise VisitRefused("already_recorded", attempt)


def _due(attempt: ReadingAttempt, now: datetime) -> None:
    # A day still to come is not the reader's to record; an earlier day is a phone that
    # kept the visit without signal and syncs late.
    if attempt.planned_on > rome_today(now):
        raise VisitRefused("not_due", attempt)


def attempt_read(
    *,
    attempt_id: int,
    reading: object,
    by: User,
    now: datetime,
    idempotency_key: str = "",
    photo: IO[bytes] | None = None,
) -> VisitOutcome:
    """The reader read the meter: the reading goes through `reading_submit` (source
    OPERATOR, channel ROUND, dated the visit's day, `photo` kept as its evidence), and the
    attempt becomes MADE with it. The outcome (accepted, under review, discarded and why)
    is the reading's status and reason.

    Sent again with the same key and value (or the same value under another key), the first
    answer comes back and nothing is taken twice. Raises VisitRefused for an unknown visit,
    a day still to come, a visit recorded before otherwise, or a key already used for other
    values; SubmissionRejected (from reading_submit) for a malformed value, the visit then
    still planned.
    """
    key = _key_checked(idempotency_key)
    digest = _digest(
        "read", str(reading if reading is not None else "").strip(), _photo_digest(photo)
    )
    with transaction.atomic():
        attempt = _attempt_locked(attempt_id)
        repeat = _repeat(attempt, key, digest)
        if repeat is not None:
            return repeat
        _due(attempt, now)
        supply = attempt.supply
        # The visit's day: a reading kept on the phone and sent the next morning was read
        # on the day of the visit, which is the only day the app shows it.
        submission = reading_submit(
            channel=Channel.ROUND,
            source=Source.OPERATOR,
            customer=supply.holder,
            supply_code=supply.supply_code,
            reading=reading,
            read_on=attempt.planned_on,
            submitted_by=by,
            photo=photo,
            now=now,
        )
        attempt.state = AttemptState.MADE
        attempt.reading = submission.reading
        _recorded(attempt, by=by, now=now, key=key, digest=digest)
        attempt.save(
            update_fields=[
                "state",
                "reading",
                "recorded_at",
                "recorded_by",
                "idempotency_key",
                "recorded_digest",
            ]
        )
    logger.info(
        "visit %s supply=%s read: %s %s",
        attempt.pk,
        supply.supply_code,
        submission.reading.status,
        submission.reading.reason,
    )
    return VisitOutcome(attempt, created=True)


def _recorded(
    attempt: ReadingAttempt, *, by: User, now: datetime, key: str | None, digest: str
) -> None:
    attempt.recorded_at = now
    attempt.recorded_by = by
    attempt.idempotency_key = key
    attempt.recorded_digest = digest


def attempt_failed(
    *,
    attempt_id: int,
    cause: str,
    by: User,
    now: datetime,
    cause_note: str = "",
    photo: IO[bytes] | None = None,
    latitude: object = None,
    longitude: object = None,
    accuracy: object = None,
    idempotency_key: str = "",
) -> VisitOutcome:
    """The reader could not read the meter: the attempt becomes FAILED with its cause (one
    of FailureCause; OTHER with the reader's words), and as evidence an optional photo
    (checked and encoded anew, as a reading's) and the phone's position (degrees, accuracy
    in metres). What follows a failure (inviting the customer to self-read, planning
    again) reacts to the FAILED state.

    Idempotent as `attempt_read`. Raises VisitInvalid with every problem in the details,
    and VisitRefused as `attempt_read` does.
    """
    key = _key_checked(idempotency_key)
    errors: list[FieldError] = []
    if cause not in FailureCause.values:
        errors.append(FieldError("cause", "cause_invalid"))
    note = " ".join(str(cause_note or "").split())
    if cause == FailureCause.OTHER and not note:
        errors.append(FieldError("cause_note", "required"))
    if len(note) > 500:
        errors.append(FieldError("cause_note", "too_long", {"max": 500}))
    position = None
    try:
        position = position_parse(latitude, longitude, accuracy)
    except FormatError as exc:
        errors.extend(exc.errors)
    checked = None
    if photo is not None:
        try:
            checked = photos.photo_check(photo)
        except FormatError as exc:
            errors.extend(exc.errors)
    if errors:
        raise VisitInvalid(errors)
    digest = _digest(
        "failed",
        cause,
        note,
        position.latitude if position else "",
        position.longitude if position else "",
        position.accuracy_m if position and position.accuracy_m is not None else "",
        _photo_digest(photo),
    )
    with transaction.atomic():
        attempt = _attempt_locked(attempt_id)
        repeat = _repeat(attempt, key, digest)
        if repeat is not None:
            return repeat
        _due(attempt, now)
        attempt.state = AttemptState.FAILED
        attempt.cause = cause
        attempt.cause_note = note
        if position is not None:
            attempt.latitude = position.latitude
            attempt.longitude = position.longitude
            attempt.position_accuracy_m = position.accuracy_m
        _recorded(attempt, by=by, now=now, key=key, digest=digest)
        fields = [
            "state",
            "cause",
            "cause_note",
            "latitude",
            "longitude",
            "position_accuracy_m",
            "recorded_at",
            "recorded_by",
            "idempotency_key",
            "recorded_digest",
        ]
        if checked is not None:
            attempt.photo.save(checked.name or "visit.jpg", checked, save=False)
            fields.append("photo")
        attempt.save(update_fields=fields)
    logger.info("visit %s supply=%s failed: %s", attempt.pk, attempt.supply.supply_code, cause)
    return VisitOutcome(attempt, created=True)
