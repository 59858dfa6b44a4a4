"""Writes about fault reports: every channel reports a fault through `fault_report_create`,
and every change to one goes through `fault_report_advance` or `fault_report_set_urgency`."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import transaction

from autolettura import db
from autolettura.customers.models import Supply
from autolettura.readings import photos
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.window import rome_today
from autolettura.service.models import (
    Category,
    EventKind,
    FaultChannel,
    FaultEvent,
    FaultReport,
    FaultStatus,
    FaultTicketCounter,
    Urgency,
)
from autolettura.service.notifications import fault_notify
from autolettura.throttling import FailureLimit

logger = logging.getLogger(__name__)


def fault_report_follow(*, ticket: str, contact: str, source: str) -> FaultReport | None:
    """The report a reporter follows with its ticket and contact, or None; a wrong pair is
    counted against `source` and the ticket (as typed, normalised as the lookup does), so
    contacts cannot be guessed, and a reporter whose own source has not failed is never
    locked out by someone else's failures.

    Raises autolettura.throttling.Throttled past the limit, before looking anything up.
    """
    from autolettura.service import selectors  # selectors use this module's phone_key

    failures = FailureLimit(
        "fault-contact",
        per_source=settings.AUTOLETTURA_FAILURES_PER_SOURCE,
        per_target=settings.AUTOLETTURA_FAILURES_PER_TARGET,
    )
    target = selectors.ticket_normalize(ticket)
    failures.check(source=source, target=target)
    report = selectors.fault_report_for_contact(ticket=ticket, contact=contact)
    if report is None:
        failures.record(source=source, target=target)
    return report


# Leaks and a supply with no water are emergencies (the regulator's pronto intervento); water
# that may not be safe to drink comes next. An operator may change a report's urgency.
URGENCY_BY_CATEGORY = {
    Category.LEAK: Urgency.EMERGENCY,
    Category.NO_WATER: Urgency.EMERGENCY,
    Category.WATER_QUALITY: Urgency.URGENT,
    Category.LOW_PRESSURE: Urgency.NORMAL,
    Category.DAMAGED_METER: Urgency.NORMAL,
    Category.OTHER: Urgency.NORMAL,
}

LIFECYCLE = list(FaultStatus)  # RECEIVED, DISPATCHED, ON_SITE, RESOLVED
_INSTANT_FIELD = {
    FaultStatus.DISPATCHED: "dispatched_at",
    FaultStatus.ON_SITE: "on_site_at",
    FaultStatus.RESOLVED: "resolved_at",
}

MAX_DESCRIPTION = 2000
MAX_ADDRESS = 300
MAX_NAME = 200
MAX_EMAIL = 254


class FaultReportRejected(Exception):
    """A fault report that cannot be taken: no way to locate the fault or to reach the
    reporter, or a value that is not valid. `errors` lists every problem found, each with
    its field and code, so a channel can say at once everything that is needed."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


class FaultTransitionRefused(Exception):
    """A change of status out of the lifecycle order (RECEIVED, DISPATCHED, ON_SITE,
    RESOLVED, one step at a time), or dated before the step it follows."""

    def __init__(self, report: FaultReport, to_status: str, reason: str) -> None:
        super().__init__(f"{report.ticket}: {report.status} -> {to_status}: {reason}")
        self.report = report
        self.to_status = to_status
        self.reason = reason


def fault_report_create(
    *,
    category: str,
    description: str,
    address: str,
    latitude: Decimal | float | str | None,
    longitude: Decimal | float | str | None,
    contact_name: str,
    contact_phone: str,
    contact_email: str,
    channel: str,
    now: datetime,
    photo: File | None = None,
    supply: Supply | None = None,
    language: str = "it",
) -> FaultReport:
    """Take a fault report in charge (R13): a ticket such as GU-2026-000042, status RECEIVED,
    urgency from the category, a RECEIVED event in its audit trail, and the reporter's
    confirmation queued in the outbox (service.notifications).

    The fault must be located (an address, or a latitude and longitude, or both) and the
    reporter reachable (a phone number or an e-mail address, or both). The photo, if any,
    must be a JPEG, PNG, WebP or HEIC picture within AUTOLETTURA_FAULT_PHOTO_MAX_MB.
    Raises FaultReportRejected with every problem found.
    """
    errors: list[FieldError] = []
    if category not in Category.values:
        errors.append(FieldError("category", "category_invalid"))
    if channel not in FaultChannel.values:
        errors.append(FieldError("channel", "channel_invalid"))
    description = (description or "").strip()
    address = " ".join((address or "").split())
    contact_name = " ".join((contact_name or "").split())
    contact_phone = " ".join((contact_phone or "").split())
    contact_email = (contact_email or "").strip()
    if category == Category.OTHER and not description:
        # With no category to go by, the description is all the crew has.
        errors.append(FieldError("description", "description_required"))
    _check_length(errors, "description", description, MAX_DESCRIPTION)
    _check_length(errors, "address", address, MAX_ADDRESS)
    _check_length(errors, "contact_name", contact_name, MAX_NAME)

    lat = _coordinate(errors, "latitude", latitude, Decimal(90))
    lon = _coordinate(errors, "longitude", longitude, Decimal(180))
    if _blank(latitude) != _blank(longitude):
        errors.append(FieldError("location", "position_incomplete"))
    elif not address and _blank(latitude):
        errors.append(FieldError("location", "location_required"))

    if contact_phone and not _phone_valid(contact_phone):
        errors.append(FieldError("contact_phone", "phone_invalid"))
    if contact_email:
        try:
            if len(contact_email) > MAX_EMAIL:
                raise ValidationError("too long")
            validate_email(contact_email)
        except ValidationError:
            errors.append(FieldError("contact_email", "email_invalid"))
    if not contact_phone and not contact_email:
        errors.append(FieldError("contact", "contact_required"))

    checked = _check_photo(errors, photo) if photo is not None else None
    if errors:
        raise FaultReportRejected(errors)

    urgency = URGENCY_BY_CATEGORY[Category(category)]
    with transaction.atomic():
        report = FaultReport(
            ticket=ticket_next(now),
            category=category,
            urgency=urgency,
            status=FaultStatus.RECEIVED,
            channel=channel,
            description=description,
            address=address,
            latitude=lat,
            longitude=lon,
            contact_name=contact_name,
            contact_phone=contact_phone,
            contact_email=contact_email,
            language=language if language in dict(settings.LANGUAGES) else "it",
            supply=supply,
            received_at=now,
        )
        if checked is not None:
            # Our own name, never the uploader's: it says which report the file belongs to.
            report.photo.save(f"{report.ticket}{_suffix(checked)}", checked, save=False)
        report.save(force_insert=True)
        FaultEvent.objects.create(
            report=report,
            kind=EventKind.STATUS,
            status=report.status,
            urgency=report.urgency,
            at=now,
        )
        # Told in the same transaction: a report rolled back tells no one.
        fault_notify(report=report, now=now)
    logger.info(
        "fault %s category=%s urgency=%s channel=%s", report.ticket, category, urgency, channel
    )
    return report


def fault_report_attach_photo(*, report: FaultReport, photo: File) -> FaultReport:
    """Attach the reporter's photo to a report taken without one (the app sends it after the
    report, as a separate upload). Raises FaultReportRejected when the photo is not a
    picture or is too large, when the report already has one, or when it is resolved."""
    errors: list[FieldError] = []
    checked = _check_photo(errors, photo)
    with transaction.atomic():
        current = FaultReport.objects.select_for_update().get(pk=report.pk)
        if current.photo:
            errors.append(FieldError("photo", "photo_already_attached"))
        elif current.status == FaultStatus.RESOLVED:
            errors.append(FieldError("photo", "report_resolved"))
        if errors or checked is None:
            raise FaultReportRejected(errors)
        current.photo.save(f"{current.ticket}{_suffix(checked)}", checked, save=False)
        current.save(update_fields=["photo"])
    return current


def fault_report_advance(
    *, report: FaultReport, to_status: str, by: User | None, now: datetime, note: str = ""
) -> FaultReport:
    """Move a report one step on (RECEIVED -> DISPATCHED -> ON_SITE -> RESOLVED), stamping
    the step's instant with `now`, appending an event, and queueing the reporter's message
    (service.notifications). Returns the report as saved.

    Raises FaultTransitionRefused for any other move (a skipped step, a step back, the same
    status again, a move after RESOLVED) or when `now` is before the previous step.
    """
    with transaction.atomic():
        # One operator at a time: two clicks on "dispatched" make one event, not two.
        current = FaultReport.objects.select_for_update().get(pk=report.pk)
        if to_status not in FaultStatus.values:
            raise FaultTransitionRefused(current, to_status, "unknown status")
        position = LIFECYCLE.index(FaultStatus(current.status))
        if position + 1 >= len(LIFECYCLE) or LIFECYCLE[position + 1] != to_status:
            raise FaultTransitionRefused(current, to_status, "out of lifecycle order")
        previous = _last_instant(current)
        if now < previous:
            raise FaultTransitionRefused(current, to_status, f"dated before {previous}")
        current.status = to_status
        setattr(current, _INSTANT_FIELD[FaultStatus(to_status)], now)
        current.save(update_fields=["status", _INSTANT_FIELD[FaultStatus(to_status)]])
        FaultEvent.objects.create(
            report=current,
            kind=EventKind.STATUS,
            status=current.status,
            urgency=current.urgency,
            at=now,
            by=by,
            note=note.strip(),
        )
        fault_notify(report=current, now=now)
    logger.info("fault %s %s by=%s", current.ticket, to_status, by.pk if by else None)
    return current


def fault_report_set_urgency(
    *, report: FaultReport, urgency: str, by: User, now: datetime, note: str
) -> FaultReport:
    """An operator's change of a report's urgency, with the reason in `note` (required).

    Raises ValueError for an unknown urgency or an empty note. Setting the urgency the
    report already has changes nothing and records nothing.
    """
    if urgency not in Urgency.values:
        raise ValueError(f"unknown urgency {urgency!r}")
    if not note.strip():
        raise ValueError("say why the urgency changes")
    with transaction.atomic():
        current = FaultReport.objects.select_for_update().get(pk=report.pk)
        if current.urgency == urgency:
            return current
        current.urgency = urgency
        current.save(update_fields=["urgency"])
        FaultEvent.objects.create(
            report=current,
            kind=EventKind.URGENCY,
            status=current.status,
            urgency=urgency,
            at=now,
            by=by,
            note=note.strip(),
        )
    return current


def ticket_next(now: datetime, *, prefix: str | None = None) -> str:
    """The next ticket number of the year in Europe/Rome, such as GU-2026-000042.

    Like reading receipts, the counter moves inside the caller's transaction: a report
    rolled back gives its number back, and no number is ever given to two reports.
    """
    year = rome_today(now).year
    number = db.counter_advance(FaultTicketCounter, year)
    return f"{prefix or settings.AUTOLETTURA_FAULT_TICKET_PREFIX}-{year}-{number:06d}"


def _last_instant(report: FaultReport) -> datetime:
    instants = [report.received_at, report.dispatched_at, report.on_site_at, report.resolved_at]
    return max(i for i in instants if i is not None)


def _check_length(errors: list[FieldError], field: str, value: str, maximum: int) -> None:
    if len(value) > maximum:
        errors.append(FieldError(field, "too_long", {"max": maximum}))


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _coordinate(
    errors: list[FieldError], field: str, value: object, bound: Decimal
) -> Decimal | None:
    if _blank(value):
        return None
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        # A comma is how an Italian writes a decimal point.
        number = Decimal(str(value).strip().replace(",", "."))
        if not number.is_finite() or not -bound <= number <= bound:
            raise InvalidOperation
    except InvalidOperation:
        errors.append(FieldError(field, f"{field}_invalid"))
        return None
    return number.quantize(Decimal("0.000001"))


_PHONE_CHARACTERS = re.compile(r"^\+?[\d\s./()-]+$")


def _phone_valid(phone: str) -> bool:
    digits = re.sub(r"\D", "", phone)
    return bool(_PHONE_CHARACTERS.match(phone)) and 6 <= len(digits) <= 15


def phone_key(phone: str) -> str:
    """A phone number as comparable digits with the country code: `+39 347 123 4567`,
    `0039 3471234567` and `347 1234567` give the same key."""
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+"):
        return digits
    if digits.startswith("00"):
        return digits[2:]
    return "39" + digits


def _check_photo(errors: list[FieldError], photo: File) -> ContentFile[bytes] | None:
    """The photo decoded and encoded anew by `readings.photos.photo_check`, as every photo
    is; WebP too, within AUTOLETTURA_FAULT_PHOTO_MAX_MB."""
    try:
        return photos.photo_check(
            photo,
            max_bytes=settings.AUTOLETTURA_FAULT_PHOTO_MAX_MB * 1024 * 1024,
            kinds=(*photos.READING_KINDS, "webp"),
        )
    except FormatError as exc:
        for error in exc.errors:
            # The fault's own word for a file that is no picture of the kinds it takes.
            errors.append(
                FieldError("photo", "photo_type") if error.code == "photo_type_invalid" else error
            )
        return None


def _suffix(checked: ContentFile[bytes]) -> str:
    name = checked.name or ""
    return name[name.rfind(".") :] if "." in name else ""
