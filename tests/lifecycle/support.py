"""Rows of every age for the lifecycle's tests: readings with photos, bills, messages."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from decimal import Decimal

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from autolettura.billing.models import Bill, BillNumberCounter, RegisterSource
from autolettura.customers.models import Supply
from autolettura.readings.models import (
    Channel,
    InboundMessage,
    Reading,
    ReceiptCounter,
    Source,
    Status,
)
from tests.conftest import rome

# The lifecycle's clock in these tests: Sunday 6 December 2026, noon in Rome.
NOW = rome(2026, 12, 6, 12, 0)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

_numbers = itertools.count(1)


def photo(name: str = "") -> str:
    """A file saved in the storage, as a reading's photo would be; its name."""
    return default_storage.save(
        name or f"readings/photos/2020/01/{next(_numbers)}.png", ContentFile(PNG)
    )


def reading(
    supply: Supply,
    read_on: date,
    value: int,
    *,
    status: Status = Status.ACCEPTED,
    submitted_at: datetime | None = None,
    with_photo: bool = False,
    receipt: str | None = None,
    voided: bool = False,
) -> Reading:
    submitted_at = submitted_at or rome(read_on.year, read_on.month, read_on.day, 12, 0)
    if receipt is None:
        year = submitted_at.year
        counter, _ = ReceiptCounter.objects.get_or_create(year=year)
        counter.last_number += 1
        counter.save()
        receipt = f"AL-{year}-{counter.last_number:06d}"
    return Reading.objects.create(
        supply=supply,
        meter=supply.meters.get(removed_on__isnull=True),
        read_on=read_on,
        value=value,
        source=Source.SELF,
        channel=Channel.WEB,
        status=status,
        reason={Status.DISCARDED: "outside_window", Status.UNDER_REVIEW: "high_consumption"}.get(
            status
        ),
        receipt=receipt,
        submitted_at=submitted_at,
        photo=photo() if with_photo else "",
        voided_at=submitted_at if voided else None,
        void_reason="typed twice" if voided else "",
    )


def bill(
    supply: Supply,
    *,
    year: int,
    period_start: date,
    period_end: date,
    sequence: int | None = None,
) -> Bill:
    """A bill as a run leaves it (the amounts are not what these tests are about); its
    number the next of `year` unless given."""
    counter, _ = BillNumberCounter.objects.get_or_create(year=year)
    if sequence is None:
        counter.last_sequence += 1
        sequence = counter.last_sequence
    else:
        counter.last_sequence = max(counter.last_sequence, sequence)
    counter.save()
    return Bill.objects.create(
        supply=supply,
        customer=supply.holder,
        year=year,
        sequence=sequence,
        period_start=period_start,
        period_end=period_end,
        issued_on=date(year, 1, 10) if period_end.year < year else period_end,
        due_on=date(year, 1, 30) if period_end.year < year else period_end,
        previous_register=0,
        previous_register_on=period_start,
        previous_register_source=RegisterSource.ESTIMATE,
        previous_total_m3=0,
        current_register=0,
        current_register_on=period_end,
        current_register_source=RegisterSource.ESTIMATE,
        current_total_m3=0,
        effective_m3=0,
        estimated_m3=0,
        adjustment_m3=0,
        billed_m3=0,
        cma_m3=Decimal("150"),
        next_window_start=period_end,
        next_window_end=period_end,
        net_eur=Decimal("0"),
        vat_eur=Decimal("0"),
        total_eur=Decimal("0"),
        created_at=rome(year, 1, 10, 9, 0),
    )


def inbound(*, received_at: datetime, sender: str = "+393471234567") -> InboundMessage:
    return InboundMessage.objects.create(
        channel=Channel.SMS,
        provider_message_id=f"SM{next(_numbers)}",
        payload={"Body": "S2001#U1001#01234", "From": sender},
        sender=sender,
        received_at=received_at,
    )
