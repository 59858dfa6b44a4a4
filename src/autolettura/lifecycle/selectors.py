"""Reads about the data's lifecycle: what a restored installation holds, and whether it is
whole (`autolettura check-restore`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db.models import Max, Model, QuerySet

from autolettura.billing.models import Bill, BillNumberCounter
from autolettura.channels.models import WhatsAppConversation
from autolettura.customers.models import Customer, Meter, Supply
from autolettura.env import KEYS_MADE_HERE
from autolettura.lifecycle.models import AccessEntry
from autolettura.outbox.models import OutboundMessage
from autolettura.readings.models import InboundMessage, Reading, ReceiptCounter
from autolettura.rules.retention import (
    RetentionPolicy,
    gaps_text,
    horizons,
    number_gaps,
    receipt_number,
)
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
    counters = dict(ReceiptCounter.objects.values_list("year", "last_number"))
    for year in sorted(set(numbers) | set(counters)):
        last = counters.get(year, 0)
        given = numbers.get(year, [])
        report.counts.append((f"receipts of {year}", len(given)))
        highest = max(given, default=0)
        if highest > last:
            report.errors.append(
                f"receipts of {year}: the counter is at {last} but receipt number {highest} "
                "exists, so the next receipts would repeat given ones: set the counter "
                f"(readings_receiptcounter, year {year}) to {highest}"
            )
        gaps = number_gaps(given, last=last)
        if gaps:
            missing = sum(b - a + 1 for a, b in gaps)
            report.notes.append(
                f"receipts of {year}: {missing} numbers up to {last} have no reading "
                f"({gaps_text(gaps)}); readings removed at the end of their retention, or "
                "lost since the backup"
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
