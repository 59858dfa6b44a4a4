"""Reads about the data's lifecycle: what a restored installation holds, and whether it is
whole (`autolettura check-restore`)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db.models import Max, Model, Q, QuerySet

from autolettura.billing.models import Bill, BillNumberCounter
from autolettura.channels.models import WhatsAppConversation
from autolettura.customers.models import Customer, Meter, Supply
from autolettura.customers.selectors import holder_since
from autolettura.env import KEYS_MADE_HERE
from autolettura.lifecycle.models import AccessEntry, DataExport, ErasureRequest
from autolettura.outbox.models import OutboundMessage
from autolettura.readings.models import InboundMessage, Reading
from autolettura.readings.selectors import (
    consumption_profile,
    readings_of,
    receipt_last_numbers,
    receipt_sequences,
)
from autolettura.rules.retention import (
    RetentionPolicy,
    gaps_text,
    horizons,
    number_gaps,
    receipt_number,
)
from autolettura.rules.rights import days_left
from autolettura.rules.window import rome_today
from autolettura.service.models import FaultReport

# Missing files listed by name; past this many only their number is given.
MISSING_FILES_LISTED = 20


@dataclass
class RestoreReport:
    """What `check-restore` found: counts, errors (something is wrong: the command fails)
    and notes (worth knowing, not wrong)."""

    counts: list[tuple[str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def restore_check(
    *, now: datetime, policy: RetentionPolicy, secret_key_file: Path | None = None
) -> RestoreReport:
    """Counts of what the database holds; gaps in receipt numbers (notes: retention removes
    old readings) and in bill numbers (errors, for the years still kept); counters behind the
    numbers already given (errors: the next number would repeat one); files the database
    names that storage does not have (errors); and, when the installation's secret key is
    kept in `secret_key_file`, whether that file was restored or made anew (an error)."""
    report = RestoreReport()
    counted: list[tuple[str, type[Model]]] = [
        ("customers", Customer),
        ("supplies", Supply),
        ("meters", Meter),
        ("readings", Reading),
        ("inbound messages", InboundMessage),
        ("bills", Bill),
        ("fault reports", FaultReport),
        ("outbound messages", OutboundMessage),
        ("users", User),
    ]
    for label, model in counted:
        report.counts.append((label, model._default_manager.count()))
    _receipts(report)
    kept_from_year = horizons(policy, today=rome_today(now), now=now).bills_year_before
    _bills(report, kept_from_year=kept_from_year)
    _files(report)
    if secret_key_file is not None:
        _secret_key(report, secret_key_file)
    return report


def _secret_key(report: RestoreReport, path: Path) -> None:
    """A key file this very process made, or newer than the newest reading or bill, was made
    anew, not restored: the sessions and the sign-up and password-reset links signed before
    are void with it."""
    try:
        in_use = path.read_text(encoding="ascii").strip() == settings.SECRET_KEY
        made = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except (OSError, UnicodeDecodeError):
        return
    if not in_use:
        return  # SECRET_KEY comes from the environment: nothing to restore
    newest = max(
        (
            moment
            for moment in (
                Reading.objects.aggregate(Max("submitted_at"))["submitted_at__max"],
                Bill.objects.aggregate(Max("created_at"))["created_at__max"],
            )
            if moment is not None
        ),
        default=None,
    )
    if path in KEYS_MADE_HERE or (newest is not None and made > newest):
        after = (
            f", after the newest data ({newest.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
            if newest is not None and made > newest
            else " by this command"
        )
        report.errors.append(
            f"the secret key in {path} was made at {made:%Y-%m-%d %H:%M} UTC{after}: it was "
            "made anew, not restored. Stop the services, restore it from the files' backup and "
            "start them again, or customers' sessions and the links already sent stop working"
        )
    else:
        report.notes.append(f"secret key: {path}, made at {made:%Y-%m-%d %H:%M} UTC")


def _receipts(report: RestoreReport) -> None:
    numbers: dict[int, list[int]] = defaultdict(list)
    receipts = Reading.objects.exclude(receipt=None).values_list("receipt", flat=True)
    for receipt in receipts.iterator(chunk_size=10_000):
        parsed = receipt_number(receipt or "")
        if parsed is None:
            report.errors.append(f"receipt {receipt!r} is not of the form PREFIX-YEAR-NUMBER")
            continue
        numbers[parsed[0]].append(parsed[1])
    sequences = receipt_sequences()
    counters = receipt_last_numbers()
    for year in sorted(set(numbers) | set(counters)):
        last = counters.get(year, 0)
        given = numbers.get(year, [])
        report.counts.append((f"receipts of {year}", len(given)))
        highest = max(given, default=0)
        if highest > last:
            fix = (
                f"move the year's sequence on (SELECT setval('readings_receipt_{year}', {highest}))"
                if year in sequences
                else f"set the counter (readings_receiptcounter, year {year}) to {highest}"
            )
            report.errors.append(
                f"receipts of {year}: the counter is at {last} but receipt number {highest} "
                f"exists, so the next receipts would repeat given ones: {fix}"
            )
        gaps = number_gaps(given, last=last)
        if gaps:
            missing = sum(b - a + 1 for a, b in gaps)
            # A sequence keeps the number of a submission that was rolled back after drawing it.
            rolled_back = " submissions that failed after drawing their number," * (
                year in sequences
            )
            report.notes.append(
                f"receipts of {year}: {missing} numbers up to {last} have no reading "
                f"({gaps_text(gaps)}); readings removed at the end of their retention,"
                f"{rolled_back} or lost since the backup"
            )


def _bills(report: RestoreReport, *, kept_from_year: int) -> None:
    numbers: dict[int, list[int]] = defaultdict(list)
    for year, sequence in Bill.objects.values_list("year", "sequence").iterator(chunk_size=10_000):
        numbers[year].append(sequence)
    counters = dict(BillNumberCounter.objects.values_list("year", "last_sequence"))
    for year in sorted(set(numbers) | set(counters)):
        last = counters.get(year, 0)
        given = numbers.get(year, [])
        highest = max(given, default=0)
        if highest > last:
            report.errors.append(
                f"bills of {year}: the counter is at {last} but bill {year}/{highest:06d} "
                "exists, so the next bills would repeat its number: set the counter "
                f"(billing_billnumbercounter, year {year}) to {highest}"
            )
        gaps = number_gaps(given, last=last)
        if not gaps:
            continue
        missing = sum(b - a + 1 for a, b in gaps)
        text = f"bills of {year}: {missing} numbers up to {last} missing ({gaps_text(gaps)})"
        if year >= kept_from_year:
            report.errors.append(f"{text}; bill numbers must run without gaps")
        else:
            report.notes.append(f"{text}; the year is past its retention")


def _referenced_files() -> Iterator[tuple[str, str]]:
    """(what, file name) of every file the database names."""
    readings = Reading.objects.exclude(photo="").values_list("receipt", "pk", "photo")
    for receipt, pk, name in readings.iterator(chunk_size=10_000):
        yield f"photo of reading {receipt or pk}", name
    faults = FaultReport.objects.exclude(photo="").values_list("ticket", "photo")
    for ticket, name in faults.iterator(chunk_size=10_000):
        yield f"photo of fault report {ticket}", name
    drafts = WhatsAppConversation.objects.exclude(photo="").values_list("pk", "photo")
    for pk, name in drafts.iterator(chunk_size=10_000):
        yield f"photo of WhatsApp conversation {pk}", name


def _files(report: RestoreReport) -> None:
    checked = 0
    missing: list[str] = []
    for what, name in _referenced_files():
        checked += 1
        if not default_storage.exists(name):
            missing.append(f"{what}: {name}")
    report.counts.append(("files referenced", checked))
    if missing:
        listed = "; ".join(missing[:MISSING_FILES_LISTED])
        more = len(missing) - MISSING_FILES_LISTED
        where = getattr(default_storage, "location", "the storage")
        report.errors.append(
            f"files referenced but missing from {where} ({len(missing)}): "
            f"{listed}{f'; and {more} more' if more > 0 else ''}"
        )


# --- Operators' access to customers' data -------------------------------------------------

ACCESSES_LISTED = 500


def customer_by_code(customer_code: str) -> Customer | None:
    return Customer.objects.filter(customer_code=customer_code.strip()).first()


def customer_accesses(customer: Customer) -> QuerySet[AccessEntry]:
    """Who looked at the customer's data, newest first (the latest ACCESSES_LISTED)."""
    return (
        AccessEntry.objects.filter(customer=customer)
        .select_related("by", "supply")
        .order_by("-at", "-id")[:ACCESSES_LISTED]
    )


# --- The customer's rights: what an account's data export holds ---------------------------

Row = dict[str, Any]


@dataclass
class CustomerData:
    """Everything an export gives, as tables of plain values (the same rows become the JSON
    and the CSV files), with the files to add: bills to render and photos to copy."""

    tables: dict[str, list[Row]] = field(default_factory=dict)
    bills: list[tuple[str, Bill]] = field(default_factory=list)  # (name in the zip, bill)
    photos: list[tuple[str, str]] = field(default_factory=list)  # (name in the zip, storage)


def _iso(value: date | datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _photo_name(reading: Reading) -> str:
    suffix = PurePosixPath(reading.photo.name).suffix.lower() or ".jpg"
    return f"photos/{reading.receipt or f'reading-{reading.pk}'}{suffix}"


def account_data(user: User) -> CustomerData:
    """The data of the customers an account acts for (its own and those it added): who
    they are, their supplies and meters, the readings of their own days on each supply
    (with the photos), the consumption profile, the bills made out to them (with their
    PDFs), and the messages sent to them and received from them."""
    from autolettura.portal.selectors import account_customers

    data = CustomerData()
    customers = list(account_customers(user))
    data.tables["account"] = [
        {
            "username": user.get_username(),
            "email": user.email,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
        }
    ]
    data.tables["customers"] = [
        {
            "customer_code": c.customer_code,
            "name": c.name,
            "email": c.email,
            "phone": c.phone,
            "language": c.language,
            "notify_by_email": c.notify_by_email,
            "notify_by_sms": c.notify_by_sms,
            "notify_by_whatsapp": c.notify_by_whatsapp,
            "created_at": _iso(c.created_at),
        }
        for c in customers
    ]
    supplies = list(
        Supply.objects.filter(holder__in=customers).select_related("holder").order_by("supply_code")
    )
    data.tables["supplies"] = [
        {
            "supply_code": s.supply_code,
            "customer_code": s.holder.customer_code,
            "address": s.address,
            "usage": s.usage,
            "household_members": s.household_members,
            "activated_on": _iso(s.activated_on),
        }
        for s in supplies
    ]
    meters = Meter.objects.filter(supply__in=supplies).select_related("supply")
    data.tables["meters"] = [
        {
            "supply_code": m.supply.supply_code,
            "serial": m.serial,
            "digits": m.digits,
            "installed_on": _iso(m.installed_on),
            "initial_reading": m.initial_reading,
            "removed_on": _iso(m.removed_on),
            "final_reading": "" if m.final_reading is None else m.final_reading,
        }
        for m in meters.order_by("supply__supply_code", "installed_on", "pk")
    ]
    readings: list[Reading] = []
    consumption: list[Row] = []
    for supply in supplies:
        readings.extend(reversed(readings_of(supply).select_related("meter")))
        profile = consumption_profile(supply)
        since = holder_since(supply)
        consumption.append(
            {
                "supply_code": supply.supply_code,
                "from": "",
                "to": "",
                "consumption_m3": "",
                "daily_average_m3": "",
                "cma_m3": str(profile.cma.m3),
                "cma_from_history": profile.cma.from_history,
            }
        )
        for segment in profile.segments:
            if since is not None and segment.start < since:
                continue  # the previous holder's consumption
            consumption.append(
                {
                    "supply_code": supply.supply_code,
                    "from": _iso(segment.start),
                    "to": _iso(segment.end),
                    "consumption_m3": segment.consumption_m3,
                    "daily_average_m3": str(segment.daily_average_m3),
                    "cma_m3": "",
                    "cma_from_history": "",
                }
            )
    codes = {s.pk: s.supply_code for s in supplies}
    data.tables["readings"] = []
    for r in readings:
        photo = _photo_name(r) if r.photo else ""
        if photo:
            data.photos.append((photo, r.photo.name))
        data.tables["readings"].append(
            {
                "receipt": r.receipt or "",
                "supply_code": codes[r.supply_id],
                "meter_serial": r.meter.serial,
                "read_on": _iso(r.read_on),
                "reading": str(r.value).zfill(r.meter.digits),
                "source": r.source,
                "channel": r.channel,
                "status": r.status,
                "reason": r.reason or "",
                "consumption_m3": "" if r.consumption_m3 is None else r.consumption_m3,
                "submitted_at": _iso(r.submitted_at),
                "voided_at": _iso(r.voided_at),
                "void_reason": r.void_reason,
                "photo": photo,
            }
        )
    data.tables["consumption"] = consumption
    bills = (
        Bill.objects.filter(customer__in=customers)
        .select_related("supply")
        .order_by("year", "sequence")
    )
    data.tables["bills"] = []
    data.tables["bill_lines"] = []
    for bill in bills:
        pdf_name = f"bills/bolletta-{bill.year}-{bill.sequence:06d}.pdf"
        data.bills.append((pdf_name, bill))
        data.tables["bills"].append(
            {
                "number": bill.number,
                "supply_code": bill.supply.supply_code,
                "period_start": _iso(bill.period_start),
                "period_end": _iso(bill.period_end),
                "issued_on": _iso(bill.issued_on),
                "due_on": _iso(bill.due_on),
                "previous_register": bill.previous_register,
                "previous_register_on": _iso(bill.previous_register_on),
                "current_register": bill.current_register,
                "current_register_on": _iso(bill.current_register_on),
                "effective_m3": bill.effective_m3,
                "estimated_m3": bill.estimated_m3,
                "adjustment_m3": bill.adjustment_m3,
                "billed_m3": bill.billed_m3,
                "net_eur": str(bill.net_eur),
                "vat_eur": str(bill.vat_eur),
                "total_eur": str(bill.total_eur),
                "pdf": pdf_name,
            }
        )
        for line in bill.line_items:
            data.tables["bill_lines"].append(
                {
                    "bill": bill.number,
                    "position": line.position,
                    "description": line.description,
                    "quantity": str(line.quantity),
                    "unit_price": str(line.unit_price),
                    "amount": str(line.amount),
                }
            )
    data.tables["messages_sent"] = [
        {
            "created_at": _iso(m.created_at),
            "sent_at": _iso(m.sent_at),
            "route": m.route,
            "recipient": m.recipient,
            "subject": m.subject,
            "body": m.body,
            "status": m.status,
        }
        for m in messages_sent(user, customers, readings)
    ]
    by_reading = {r.pk: r.receipt or "" for r in readings}
    data.tables["messages_received"] = [
        {
            "received_at": _iso(m.received_at),
            "channel": m.channel,
            "sender": m.sender,
            "content": json.dumps(m.payload, ensure_ascii=False, sort_keys=True),
            "receipt": by_reading.get(m.reading_id or 0, ""),
        }
        for m in messages_received(customers, readings)
    ]
    return data


def _contacts(user: User, customers: list[Customer]) -> set[str]:
    found = {user.email} | {c.email for c in customers} | {c.phone for c in customers}
    return {c for c in found if c}


def messages_sent(
    user: User, customers: list[Customer], readings: list[Reading]
) -> QuerySet[OutboundMessage]:
    """What was sent to the account's addresses and numbers, and every message about one of
    its readings (`reading:<id>:...`, whatever address it went to)."""
    wanted = Q(recipient__in=_contacts(user, customers))
    for reading in readings:
        wanted |= Q(dedupe_key__startswith=f"reading:{reading.pk}:")
    return OutboundMessage.objects.filter(wanted).order_by("created_at", "pk")


def messages_received(
    customers: list[Customer], readings: list[Reading]
) -> QuerySet[InboundMessage]:
    """The inbound log's messages that made one of the readings, and those whose sender is
    one of the customers' addresses or numbers."""
    ids = [r.pk for r in readings]
    senders = {c.email for c in customers if c.email} | {c.phone for c in customers if c.phone}
    return InboundMessage.objects.filter(Q(reading_id__in=ids) | Q(sender__in=senders)).order_by(
        "received_at", "pk"
    )


def account_exports(user: User) -> QuerySet[DataExport]:
    """The account's exports, newest first."""
    return DataExport.objects.filter(user=user).order_by("-requested_at", "-pk")


def account_export(user: User, token: str) -> DataExport | None:
    """The account's export `token` while it can be downloaded; None for another account's,
    an expired one and one that does not exist, alike."""
    return (
        DataExport.objects.filter(user=user, token=token, status=DataExport.Status.READY)
        .exclude(file_name="")
        .first()
    )


def account_erasure_request(user: User) -> ErasureRequest | None:
    """The account's request to be closed, while it waits."""
    return ErasureRequest.objects.filter(user=user, status=ErasureRequest.Status.PENDING).first()


def erasure_requests_open() -> QuerySet[ErasureRequest]:
    """Requests waiting for an administrator, the nearest deadline first."""
    return ErasureRequest.objects.filter(status=ErasureRequest.Status.PENDING).order_by(
        "due_on", "pk"
    )


ERASURES_DONE_LISTED = 50


def erasure_requests_done() -> QuerySet[ErasureRequest]:
    """The latest requests carried out, with who did it."""
    return (
        ErasureRequest.objects.filter(status=ErasureRequest.Status.DONE)
        .select_related("handled_by")
        .order_by("-handled_at", "-pk")[:ERASURES_DONE_LISTED]
    )


def erasure_deadlines(today: date) -> list[tuple[ErasureRequest, int, int]]:
    """The requests waiting, each with the days left before its deadline and the days it
    is late (one of the two is what the page shows)."""
    rows = []
    for request in erasure_requests_open():
        left = days_left(request.due_on, today=today)
        rows.append((request, left, -left))
    return rows


@dataclass(frozen=True)
class RetentionTerms:
    """How long each kind of data is kept, from the settings the retention run applies: the
    privacy page says what the code does."""

    readings_years: int
    bills_years: int
    messages_days: int
    discarded_photos_days: int
    export_days: int


def retention_terms() -> RetentionTerms:
    return RetentionTerms(
        readings_years=settings.AUTOLETTURA_RETENTION_READINGS_YEARS,
        bills_years=settings.AUTOLETTURA_RETENTION_BILLS_YEARS,
        messages_days=settings.AUTOLETTURA_RETENTION_MESSAGES_DAYS,
        discarded_photos_days=settings.AUTOLETTURA_RETENTION_DISCARDED_PHOTOS_DAYS,
        export_days=settings.AUTOLETTURA_EXPORT_DAYS,
    )
