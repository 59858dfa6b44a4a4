"""Writes about readings: `reading_submit` is the only way any channel takes a reading."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction

from autolettura import db
from autolettura.customers import selectors as customer_selectors
from autolettura.customers import services as customer_services
from autolettura.customers.models import Customer, Meter, Supply
from autolettura.readings import photos, policy, selectors
from autolettura.readings.models import (
    Channel,
    InboundMessage,
    Reading,
    ReadingSubmitter,
    ReceiptCounter,
    Source,
)
from autolettura.rules import parsing
from autolettura.rules.errors import CODES_MISMATCH, FieldError, FormatError
from autolettura.rules.outcomes import Reason
from autolettura.rules.outcomes import Status as RuleStatus
from autolettura.rules.photo_evidence import PhotoEvidence, photo_agreement, photo_outcome
from autolettura.rules.plausibility import assess_reading
from autolettura.rules.register import History
from autolettura.rules.window import Window, rome_today
from autolettura.throttling import Throttled

logger = logging.getLogger(__name__)


class SubmissionRejected(Exception):
    """R1 to R3: the submission is not well formed, so no reading exists.

    `errors` lists every problem found, each with its field and code, so that a channel
    can say everything that must be fixed at once.
    """

    def __init__(self, errors: list[FieldError], *, supply: Supply | None = None) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors
        # The supply the codes named, when they were right: only then may a channel answer
        # in its holder's language (before that, the language would tell the codes apart).
        self.supply = supply


@dataclass(frozen=True)
class Submission:
    """A reading taken in charge. `created` is False when it repeats an earlier one (R4)."""

    reading: Reading
    created: bool
    window: Window  # the window that applies now, or the next one


def reading_submit(
    *,
    channel: str,
    reading: object,
    read_on: object,
    now: datetime,
    supply_code: object = None,
    customer_code: object = None,
    customer: Customer | None = None,
    source: str = Source.SELF,
    submitted_by: User | None = None,
    inbound_message: InboundMessage | None = None,
    photo: IO[bytes] | None = None,
    caller: str | None = None,
) -> Submission:
    """Identify the supply, check a reading against R1 to R6 and take it in charge (R4).

    `customer` is a signed-in customer, who may leave out the codes (and the supply code
    too when they hold a single supply). `read_on` may be None for today. Returns the stored
    reading with its receipt and outcome; a repeat of the same supply, date and value
    returns the first one. `photo` is an optional picture of the meter, stored with a new
    reading as evidence (ignored on a repeat). `inbound_message`, the channel's logged
    message, is marked answered with the reading in the same transaction. `caller` is who
    tries the codes (see `caller_of`): wrong codes are counted against it and the supply
    code, and past the limit the answer is `too_many_attempts`, whether the codes are right
    or not. Without a caller (an operator, an import) codes are not counted.

    Raises SubmissionRejected with every format error found, a photo that is not a JPEG, PNG
    or HEIC of at most 5 MB included. The codes are looked up only once everything else is
    well formed, so that which errors come back never says whether the codes are right.

    A photo is also read (`photo_read`, with the meter's digits and the supply's history) and
    weighed against the typed value (rules.photo_evidence): a photo that shows another
    value sends the reading to an operator as `photo_mismatch`; one that shows the same
    value turns an `implausible` discard into a review. What the photo said is kept on the
    reading. The read waits at most AUTOLETTURA_PHOTO_READ_SECONDS (a photo `photo_read`
    has already read costs nothing): past it the reading is taken on the typed value, the
    photo kept as evidence to be read later.
    """
    if channel not in Channel.values:
        raise SubmissionRejected([FieldError("channel", "channel_invalid")])
    today = rome_today(now)
    errors: list[FieldError] = []
    codes = _codes_parse(supply_code, customer_code, customer, errors)
    # The syntax now; the number of digits below, against the meter's own register.
    value_errors: list[FieldError] = []
    typed = _collect(value_errors, parsing.parse_reading_value, reading)
    errors.extend(e for e in value_errors if e.code != "too_many_digits")
    if read_on is None or read_on == "":
        day: date | None = today
    else:
        day = _collect(errors, parsing.parse_read_on, read_on)
    if day is not None:
        _collect(errors, parsing.check_read_on, day, today=today, meter_installed_on=None)
    stored_photo: photos.CheckedPhoto | None = None
    if isinstance(photo, photos.CheckedPhoto):
        stored_photo = photo  # checked and encoded anew already: the same bytes, read once
    elif photo is not None:
        stored_photo = _collect(errors, photos.photo_check, photo)
    if errors or day is None:
        # Before any lookup: a malformed date must not tell right codes from wrong ones.
        raise SubmissionRejected(errors)
    image = _photo_bytes(stored_photo)
    # Read before the supply is locked, so that the lock is not held while a photo is read;
    # inside, with the meter and its history known, the same photo is only weighed again.
    photo_late = image is not None and not _photo_read_in_time(image, now)

    with transaction.atomic():
        # One submission at a time per supply: the last valid reading cannot change under us.
        # The lookup by the codes takes the row's lock itself, rather than a second query.
        supply = _identify(codes, customer, caller, errors)
        if errors or supply is None:
            raise SubmissionRejected(errors or [CODES_MISMATCH])
        # All the supply's meters (R6/R9 need them below, not only this one), its billed
        # window and its readings, in one query, read once the supply is locked.
        context = selectors.submission_context(
            supply=supply, read_on=day, value=typed, source=source
        )
        meters = context.meters
        meter = _meter_current(meters) if source == Source.SELF else _meter_in_service(meters, day)
        if meter is None:
            raise SubmissionRejected(
                [FieldError("read_on", "date_before_meter", {})], supply=supply
            )
        value = _collect(errors, parsing.parse_reading_value, reading, digits=meter.digits)
        _collect(
            errors, parsing.check_read_on, day, today=today, meter_installed_on=meter.installed_on
        )
        if errors or value is None:
            raise SubmissionRejected(errors, supply=supply)

        window = selectors.window_verdict(
            supply=supply, read_on=day, now=now, billed=context.billed
        )
        known = selectors.submission_readings(
            supply=supply,
            meter=meter,
            meters=meters,
            read_on=day,
            value=value,
            source=source,
            # Read for the value as typed, which the meter's digits do not change; read
            # again should they ever differ.
            rows=context.rows if context.value == value else None,
        )
        if known.repeat_id is not None:
            existing = Reading.objects.select_related("meter").get(pk=known.repeat_id)
            _message_answered(inbound_message, existing, now, made=False)
            return Submission(existing, created=False, window=window.window)

        reason: str | None
        if source == Source.SELF and not window.inside:
            status, reason, consumption, rollover = "DISCARDED", "outside_window", None, False
        else:
            cma_m3 = selectors.consumption_profile(supply, histories=known.histories).cma.m3
            limits = policy.limits(meter.q4_m3h)
            assessment = assess_reading(
                value=value,
                read_on=day,
                last=known.last,
                digits=meter.digits,
                cma_m3=cma_m3,
                limits=limits,
            )
            status, reason = assessment.status.value, assessment.reason
            consumption, rollover = assessment.consumption_m3, assessment.rollover
        photo_said: dict[str, Any] = {}
        if image is not None:
            photo_said["photo_sha256"] = hashlib.sha256(image).hexdigest()
        if image is not None and not photo_late:
            from autolettura.photos.services import photo_read

            read = photo_read(
                image=image,
                meter_digits=meter.digits,
                history=History(last=known.last, read_on=day, cma_m3=cma_m3, limits=limits)
                if reason != Reason.OUTSIDE_WINDOW
                else None,
                now=now,
            )
            evidence = PhotoEvidence(
                value=int(read.reading) if read.reading is not None else None,
                confidence=read.confidence,
                alternatives=tuple(int(a) for a in read.alternatives),
            )
            photo_said.update(
                photo_value=evidence.value,
                photo_confidence=read.confidence,
                photo_box=[list(corner) for corner in read.box] or None,
            )
            agreement = photo_agreement(
                value, evidence, threshold=settings.AUTOLETTURA_PHOTO_CONFIDENCE
            )
            weighed_status, weighed_reason = photo_outcome(
                RuleStatus(status), Reason(reason) if reason else None, agreement
            )
            status, reason = weighed_status.value, weighed_reason
        values = {
            "supply": supply,
            "meter": meter,
            "read_on": day,
            "value": value,
            "source": source,
            "channel": channel,
            "status": status,
            "reason": reason,
            "consumption_m3": consumption,
            "rollover": rollover,
            "submitted_at": now,
            **photo_said,
        }
        if connection.vendor == "postgresql" and stored_photo is None:
            stored = _reading_insert(values, inbound_message, now)
        else:
            # The receipt is drawn last, just before the reading that carries it (on SQLite
            # its counter row is then locked only until the reading, its message and the
            # commit); the ORM stores the photo's file.
            stored = Reading.objects.create(
                **values, receipt=receipt_next(now), photo=stored_photo or ""
            )
            _message_answered(inbound_message, stored, now, made=True)
        if submitted_by is not None:
            ReadingSubmitter.objects.create(reading=stored, submitted_by=submitted_by)
    logger.info(
        "reading %s supply=%s channel=%s status=%s reason=%s",
        stored.receipt,
        supply.supply_code,
        channel,
        status,
        reason,
    )
    return Submission(stored, created=True, window=window.window)


def _photo_bytes(photo: photos.CheckedPhoto | None) -> bytes | None:
    if photo is None:
        return None
    photo.seek(0)
    data = photo.read()
    photo.seek(0)
    return data


def _photo_read_in_time(image: bytes, now: datetime) -> bool:
    """Read the photo (once: by its SHA-256) within AUTOLETTURA_PHOTO_READ_SECONDS. False:
    not in time; it goes on being read in the background."""
    from autolettura.photos.services import PhotoReadLate, photo_read

    try:
        photo_read(
            image=image,
            meter_digits=None,
            now=now,
            within=settings.AUTOLETTURA_PHOTO_READ_SECONDS,
        )
    except PhotoReadLate:
        logger.info("photo not read within %ss", settings.AUTOLETTURA_PHOTO_READ_SECONDS)
        return False
    except Exception:
        # The reader failing (a model file missing, a photo it chokes on) must never cost
        # the customer their reading: it is taken on the typed value, the photo kept.
        logger.exception("photo could not be read; the reading is taken without it")
        return False
    return True


def _codes_parse(
    supply_code: object, customer_code: object, customer: Customer | None, errors: list[FieldError]
) -> tuple[str, str] | None:
    """The codes' format (R1): (supply code, customer code) normalised, the customer code ""
    for a signed-in customer, the supply code "" when they leave it out. None when one is
    malformed, its error added to `errors`."""
    if customer is not None:
        if supply_code is None or supply_code == "":
            return "", ""
        code = _collect(errors, parsing.normalize_code, supply_code, field="supply_code")
        return (code, "") if code else None
    codes = (
        _collect(errors, parsing.normalize_code, supply_code, field="supply_code"),
        _collect(errors, parsing.normalize_code, customer_code, field="customer_code"),
    )
    if codes[0] is None or codes[1] is None:
        return None
    return codes[0], codes[1]


def _identify(
    codes: tuple[str, str] | None,
    customer: Customer | None,
    caller: str | None,
    errors: list[FieldError],
) -> Supply | None:
    """R1. A signed-in customer names one of their own supplies (or none if they hold one).

    Called inside the submission's transaction: the supply found is locked."""
    if codes is None:
        return None
    supply_code, customer_code = codes
    if customer is not None:
        supplies = customer_selectors.supplies_of(customer).select_for_update()
        if not supply_code:
            only = list(supplies[:2])
            if len(only) == 1:
                return only[0]
            errors.append(FieldError("supply_code", "required"))
            return None
        found = supplies.filter(customer_selectors.code_names(supply_code)).first()
        if found is None:
            errors.append(CODES_MISMATCH)
        return found
    if caller is None:
        found = customer_selectors.supply_identify(
            supply_code=supply_code, customer_code=customer_code, for_update=True
        )
    else:
        try:
            found = customer_services.supply_identify_guarded(
                supply_code=supply_code,
                customer_code=customer_code,
                source=caller,
                for_update=True,
            )
        except Throttled as exc:
            errors.append(too_many_attempts(exc.retry_after))
            return None
    if found is None:
        errors.append(CODES_MISMATCH)
    return found


def too_many_attempts(retry_after: int) -> FieldError:
    """The error of a caller stopped for trying too many wrong codes."""
    return FieldError(
        "codes",
        "too_many_attempts",
        {"retry_after": retry_after, "minutes": max(1, -(-retry_after // 60))},
    )


def caller_of(channel: str, sender: str) -> str:
    """Who tries the codes, as the failures are counted: the same phone number whether it
    texts, writes on WhatsApp or calls, and an e-mail address in any case."""
    if channel in (Channel.SMS, Channel.WHATSAPP, Channel.PHONE):
        return "phone:" + re.sub(r"\D", "", sender)
    if channel == Channel.EMAIL:
        return "email:" + sender.strip().casefold()
    return "address:" + sender


def _meter_current(meters: list[Meter]) -> Meter | None:
    """As customer_selectors.meter_current, among meters already fetched (at most one is
    in service: the meter_one_in_service_per_supply constraint)."""
    return next((m for m in meters if m.removed_on is None), None)


def _meter_in_service(meters: list[Meter], on: date) -> Meter | None:
    """As customer_selectors.meter_in_service, among meters already fetched."""
    fitted = [
        m for m in meters if m.installed_on <= on and (m.removed_on is None or m.removed_on > on)
    ]
    return max(fitted, key=lambda m: m.installed_on, default=None)


def _reading_insert(
    values: dict[str, Any], message: InboundMessage | None, now: datetime
) -> Reading:
    """PostgreSQL, a reading without a photo: one statement inserts it with its receipt,
    drawn from the year's sequence, and marks its inbound message answered by it, the
    message that made it; the ORM's
    INSERT, the receipt's SELECT and the message's UPDATE took three round trips. The
    statement is written once per process from the model's table and column names."""
    from django.conf import settings

    reading = Reading(**values, receipt=None, photo="")
    year = rome_today(now).year
    fields = _reading_insert_fields()
    # NULL is NULL whatever the field (tests/test_hot_path_sql.py checks it for these): the
    # field's conversion is skipped for the columns a plain submission leaves empty.
    params: list[Any] = [
        None
        if (value := getattr(reading, f.attname)) is None
        else f.get_db_prep_save(value, connection)
        for f in fields
    ]
    params += [f"{settings.AUTOLETTURA_RECEIPT_PREFIX}-{year}-", receipt_sequence_name(year)]
    if message is not None:
        processed_at = InboundMessage._meta.get_field("processed_at")
        params += [processed_at.get_db_prep_save(now, connection), message.pk]
    with db.hot_cursor() as cursor:
        cursor.execute(_reading_insert_sql(message is not None), params)
        reading.pk, reading.receipt = cursor.fetchone()
        if reading.receipt is None:
            # The year's first receipt: its sequence is made now (see receipt_next).
            reading.receipt = receipt_next(now)
            cursor.execute(_reading_receipt_sql(), [reading.receipt, reading.pk])
    reading._state.adding = False
    reading._state.db = Reading.objects.db
    return reading


@functools.cache
def _reading_insert_fields() -> list[Any]:
    return [f for f in Reading._meta.concrete_fields if not f.primary_key and f.name != "receipt"]


@functools.cache
def _reading_insert_sql(with_message: bool) -> str:
    quote = connection.ops.quote_name
    fields = _reading_insert_fields()
    table, pk = quote(Reading._meta.db_table), quote(Reading._meta.pk.column)
    receipt = quote(Reading._meta.get_field("receipt").column)
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    # PREFIX-YEAR- and the number on at least six digits; NULL when the year has no
    # sequence yet (nextval(NULL) is NULL), so the statement never fails for it.
    number = (
        "(SELECT %s || lpad(n::text, greatest(6, length(n::text)), '0') "
        "FROM (SELECT nextval(to_regclass(%s)) AS n) AS drawn)"
    )
    sql = (
        f"WITH stored AS (INSERT INTO {table} ({columns}, {receipt}) "
        f"VALUES ({placeholders}, {number}) RETURNING {pk}, {receipt})"
    )
    if with_message:
        messages = InboundMessage._meta
        column = {f.name: quote(f.column) for f in messages.concrete_fields}
        sql += (
            f", answered AS (UPDATE {quote(messages.db_table)} SET "
            f"{column['processed_at']} = %s, {column['reading']} = (SELECT {pk} FROM stored), "
            f"{column['made_reading']} = TRUE, {column['errors']} = NULL "
            f"WHERE {column['id']} = %s)"
        )
    return sql + f" SELECT {pk}, {receipt} FROM stored"


@functools.cache
def _reading_receipt_sql() -> str:
    quote = connection.ops.quote_name
    return (
        f"UPDATE {quote(Reading._meta.db_table)} SET "
        f"{quote(Reading._meta.get_field('receipt').column)} = %s "
        f"WHERE {quote(Reading._meta.pk.column)} = %s"
    )


def _message_answered(
    message: InboundMessage | None, reading: Reading, now: datetime, *, made: bool
) -> None:
    """Mark `message` answered by `reading`, which it `made` or repeated."""
    if message is None:
        return
    # The UPDATE the ORM's update(processed_at=now, reading=reading, made_reading=made,
    # errors=None) sends, without building that query on every submission.
    fields = InboundMessage._meta
    processed_at = fields.get_field("processed_at")
    with db.hot_cursor() as cursor:
        cursor.execute(
            _message_answered_sql(),
            [processed_at.get_db_prep_save(now, connection), reading.pk, made, message.pk],
        )


@functools.cache
def _message_answered_sql() -> str:
    quote = connection.ops.quote_name
    fields = InboundMessage._meta
    column = {field.name: quote(field.column) for field in fields.concrete_fields}
    return (
        f"UPDATE {quote(fields.db_table)} SET {column['processed_at']} = %s, "
        f"{column['reading']} = %s, {column['made_reading']} = %s, {column['errors']} = NULL "
        f"WHERE {column['id']} = %s"
    )


def _collect(errors: list[FieldError], check: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one parser, adding its format errors to `errors` instead of stopping at the first."""
    try:
        return check(*args, **kwargs)
    except FormatError as exc:
        errors.extend(exc.errors)
        return None


def receipt_next(now: datetime, *, prefix: str | None = None) -> str:
    """The next receipt number of the year in Europe/Rome, such as AL-2026-000123.

    On PostgreSQL the number comes from the year's sequence, readings_receipt_YYYY: no row
    is shared by every submission, so submissions for different supplies never wait for
    one another, on one machine or several. A sequence does not give a number back when its
    transaction rolls back, so receipts may have gaps; they are not fiscal documents (bill
    numbers, which must be gapless, keep their counter row). A receipt is still given to
    one reading only, and shown once that reading is committed.

    On SQLite (one writer at a time anyway) the year's counter row moves inside the
    caller's transaction, and a rollback gives the number back.
    """
    from django.conf import settings

    year = rome_today(now).year
    if connection.vendor == "postgresql":
        number = _receipt_drawn(year)
    else:
        number = db.counter_advance(ReceiptCounter, year)
    return f"{prefix or settings.AUTOLETTURA_RECEIPT_PREFIX}-{year}-{number:06d}"


def _receipt_drawn(year: int) -> int:
    name = receipt_sequence_name(year)
    with connection.cursor() as cursor:
        # nextval(NULL) is NULL: one statement, which does not fail (and so does not spoil
        # the submission's transaction) when the year has no sequence yet.
        cursor.execute("SELECT nextval(to_regclass(%s))", [name])
        (number,) = cursor.fetchone()
        if number is None:
            # By its object id: a name looked up in vain a moment ago may still read as
            # missing in this transaction.
            cursor.execute("SELECT nextval(%s::oid::regclass)", [_receipt_sequence_made(year)])
            (number,) = cursor.fetchone()
    return int(number)


def receipt_sequence_name(year: int) -> str:
    return f"readings_receipt_{int(year)}"


def _receipt_sequence_made(year: int) -> int:
    """Make the year's receipt sequence (the year's first receipt does) and return its
    object id. It is made and committed on a connection of its own, so the submission
    that makes it holds nothing the year's other submissions wait for; makers queue on an
    advisory lock for that moment only. It starts after the number the counter row
    reached, so an installation that numbered with the row goes on from there."""
    from django.db import connections

    name = receipt_sequence_name(year)
    own = connections.create_connection(connection.alias)
    try:
        with own.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(hashtext('readings_receipt'), %s)", [year])
            cursor.execute("SELECT to_regclass(%s)::oid", [name])
            (oid,) = cursor.fetchone()
            if oid is None:
                cursor.execute(
                    "SELECT coalesce(max(last_number), 0) + 1 FROM "
                    f"{own.ops.quote_name(ReceiptCounter._meta.db_table)} WHERE year = %s",
                    [year],
                )
                (first,) = cursor.fetchone()
                cursor.execute(
                    f"CREATE SEQUENCE {own.ops.quote_name(name)} AS bigint START WITH {int(first)}"
                )
                cursor.execute("SELECT to_regclass(%s)::oid", [name])
                (oid,) = cursor.fetchone()
            cursor.execute("SELECT pg_advisory_unlock(hashtext('readings_receipt'), %s)", [year])
    finally:
        own.close()
    return int(oid)


def inbound_message_record(
    *,
    channel: str,
    provider_message_id: str,
    payload: dict[str, Any],
    now: datetime,
    sender: str = "",
) -> tuple[InboundMessage, bool]:
    """Store what a channel received before processing it. Returns (message, created);
    created is False for a retry of a message already stored."""
    values = {
        "channel": channel,
        "provider_message_id": provider_message_id,
        "payload": payload,
        "sender": sender,
        "received_at": now,
    }
    # One INSERT ... ON CONFLICT DO NOTHING on the (channel, provider_message_id) constraint:
    # no SELECT first, no savepoint, and a concurrent retry waits for the first to commit.
    pk = db.insert_or_ignore(InboundMessage, values)
    if pk is None:
        return InboundMessage.objects.get(
            channel=channel, provider_message_id=provider_message_id
        ), False
    message = InboundMessage(pk=pk, **values)
    message._state.adding = False
    message._state.db = InboundMessage.objects.db
    return message, True


@dataclass(frozen=True)
class InboundOutcome:
    """What a channel answers for an inbound message: a submission or its format errors."""

    submission: Submission | None
    errors: list[FieldError]
    # With errors: the supply the codes named, when they were right (SubmissionRejected).
    supply: Supply | None = None


def inbound_message_answer(message: InboundMessage, now: datetime) -> Submission | None:
    """The first answer to a message already taken in charge (a retry), or None."""
    if message.reading_id is None:
        return None
    reading = Reading.objects.select_related("supply", "meter").get(pk=message.reading_id)
    window = selectors.window_verdict(supply=reading.supply, read_on=reading.read_on, now=now)
    return Submission(reading, created=False, window=window.window)


def inbound_reading_submit(
    *,
    channel: str,
    provider_message_id: str,
    payload: dict[str, Any],
    now: datetime,
    customer: Customer | None = None,
    sender: str = "",
    photo: IO[bytes] | None = None,
) -> InboundOutcome:
    """Log an inbound submission, then take it in charge through `reading_submit`.

    `payload` holds `supply_code`, `customer_code`, `reading` and `read_on` as received;
    `photo`, a picture of the meter the message brought, goes to `reading_submit` as evidence.
    A message already processed (a retried webhook) gives back the first answer.
    """
    message, _created = inbound_message_record(
        channel=channel,
        provider_message_id=provider_message_id,
        payload=payload,
        now=now,
        sender=sender,
    )
    answered = inbound_message_answer(message, now)
    if answered is not None:
        return InboundOutcome(answered, [])
    try:
        # reading_submit marks the message answered in its own transaction: a database lost
        # between the two would leave a reading whose message says it was never answered.
        submission = reading_submit(
            channel=channel,
            reading=payload.get("reading"),
            read_on=payload.get("read_on"),
            supply_code=payload.get("supply_code"),
            customer_code=payload.get("customer_code"),
            customer=customer,
            now=now,
            inbound_message=message,
            photo=photo,
            caller=caller_of(channel, sender),
        )
    except SubmissionRejected as exc:
        InboundMessage.objects.filter(pk=message.pk).update(
            processed_at=now,
            errors=[{"field": e.field, "code": e.code} for e in exc.errors],
        )
        return InboundOutcome(None, exc.errors, exc.supply)
    return InboundOutcome(submission, [])


def reading_photos_read_late(*, now: datetime, limit: int = 20) -> int:
    """Read the photos that were not read in time when their readings were taken, and keep
    on each reading what its photo said, for the operator to see. The reading's outcome
    stands: it was given to the customer on the typed value. Returns how many were read.
    """
    from autolettura.photos.services import photo_read

    late = (
        Reading.objects.filter(photo_sha256__isnull=False, photo_confidence__isnull=True)
        .exclude(photo="")
        .select_related("meter")
        .order_by("submitted_at", "pk")[:limit]
    )
    done = 0
    for reading in late:
        with reading.photo.open("rb") as stored:
            image = stored.read()
        read = photo_read(image=image, meter_digits=reading.meter.digits, now=now)
        Reading.objects.filter(pk=reading.pk, photo_confidence__isnull=True).update(
            photo_value=int(read.reading) if read.reading is not None else None,
            photo_confidence=read.confidence,
            photo_box=[list(corner) for corner in read.box] or None,
        )
        done += 1
        logger.info("reading %s: photo read late: %s", reading.receipt, read.reading)
    return done


# --- Operators' decisions (R4, R7): review and void -------------------------------------------


class ReadingActionRefused(Exception):
    """An operator's action that does not apply to the reading as it is now (a review of a
    reading no longer under review, a second void, a missing reason)."""

    def __init__(self, reading: Reading, reason: str) -> None:
        super().__init__(f"{reading.receipt or reading.pk}: {reason}")
        self.reading = reading
        self.reason = reason


def reading_review(
    *,
    reading: Reading,
    accept: bool,
    by: User,
    now: datetime,
    note: str = "",
    reason: str | None = None,
) -> Reading:
    """R7: an operator turns a reading UNDER_REVIEW into ACCEPTED or DISCARDED, records it
    in the audit trail and tells the customer on the channel the reading came from, all in
    one transaction. A discard gives its `reason`, one of REVIEW_DISCARD_REASONS, which the
    customer is told in plain words; without one it is `operator_discarded`, which needs a
    `note` saying why (the note stays in the audit trail).

    Raises ReadingActionRefused when the reading is no longer under review (someone else
    decided first), is voided, or a discard has no reason it can give.
    """
    from autolettura.backoffice.models import AuditAction, AuditEntry
    from autolettura.readings.models import Status
    from autolettura.readings.notifications import reading_outcome_notify
    from autolettura.rules.outcomes import REVIEW_DISCARD_REASONS, Reason

    note = note.strip()
    reason = reason or Reason.OPERATOR_DISCARDED.value
    with transaction.atomic():
        # Two operators on the same reading: the second finds it decided and is refused.
        current = Reading.objects.select_for_update().get(pk=reading.pk)
        if current.status != Status.UNDER_REVIEW or current.voided_at is not None:
            raise ReadingActionRefused(current, "not under review")
        if not accept and reason not in REVIEW_DISCARD_REASONS:
            raise ReadingActionRefused(current, f"not a reason to discard on review: {reason}")
        if not accept and reason == Reason.OPERATOR_DISCARDED and not note:
            raise ReadingActionRefused(current, "a discard needs a reason")
        before = current.status
        current.status = Status.ACCEPTED if accept else Status.DISCARDED
        # An accepted reading has no reason; the one it was held for stays in the trail.
        current.reason = None if accept else reason
        current.reviewed_at = now
        current.save(update_fields=["status", "reason", "reviewed_at"])
        AuditEntry.objects.create(
            reading=current,
            action=AuditAction.ACCEPTED if accept else AuditAction.DISCARDED,
            by=by,
            at=now,
            note=note,
            status_before=before,
            status_after=current.status,
        )
        reading_outcome_notify(reading=current, now=now)
    logger.info("reading %s reviewed by=%s status=%s", current.receipt, by.pk, current.status)
    return current


def reading_void(*, reading: Reading, by: User, reason: str, now: datetime) -> Reading:
    """R4: an operator voids a reading with a reason: it stays stored, with who, when and
    why, but no longer counts. Recorded in the audit trail; the customer is told.

    Raises ReadingActionRefused for a reading already voided or an empty reason.
    """
    from autolettura.backoffice.models import AuditAction, AuditEntry
    from autolettura.readings.notifications import reading_outcome_notify

    reason = reason.strip()
    with transaction.atomic():
        current = Reading.objects.select_for_update().get(pk=reading.pk)
        if current.voided_at is not None:
            raise ReadingActionRefused(current, "already voided")
        if not reason:
            raise ReadingActionRefused(current, "a void needs a reason")
        current.voided_at = now
        current.void_reason = reason
        current.save(update_fields=["voided_at", "void_reason"])
        AuditEntry.objects.create(
            reading=current,
            action=AuditAction.VOIDED,
            by=by,
            at=now,
            note=reason,
            status_before=current.status,
            status_after=current.status,
        )
        reading_outcome_notify(reading=current, now=now)
    logger.info("reading %s voided by=%s", current.receipt, by.pk)
    return current
