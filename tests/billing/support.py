"""Helpers for the bill run tests: tariffs, readings, meter swaps and a run in process."""

from __future__ import annotations

from datetime import date, datetime

from autolettura.billing.services import (
    RunSummary,
    bill_run_in_process,
    bill_run_start,
)
from autolettura.billing.tariffs import tariffs_load
from autolettura.customers.models import Meter, Supply
from autolettura.readings.models import Channel, Reading, Source, Status
from tests.conftest import rome


def load_tariffs(*years: int) -> None:
    for year in years:
        tariffs_load(year=year)


def add_reading(
    supply: Supply,
    read_on: date,
    value: int,
    *,
    source: Source = Source.OPERATOR,
    status: Status = Status.ACCEPTED,
    meter: Meter | None = None,
) -> Reading:
    """A reading taken in charge as it stands (the checks of R6 are not billing's)."""
    meter = meter or supply.meters.get(removed_on__isnull=True)
    return Reading.objects.create(
        supply=supply,
        meter=meter,
        read_on=read_on,
        value=value,
        source=source,
        channel=Channel.IMPORT if source == Source.OPERATOR else Channel.APP,
        status=status,
        reason="outside_window" if status == Status.DISCARDED else None,
        submitted_at=rome(read_on.year, read_on.month, read_on.day, 12, 0),
    )


def swap_meter(
    supply: Supply, *, on: date, final_reading: int, initial_reading: int, serial: str
) -> Meter:
    """Remove the supply's meter with its final reading and fit a new one the same day."""
    supply.meters.filter(removed_on__isnull=True).update(removed_on=on, final_reading=final_reading)
    return Meter.objects.create(
        supply=supply, serial=serial, installed_on=on, initial_reading=initial_reading
    )


def issue_time(issued_on: date) -> datetime:
    return rome(issued_on.year, issued_on.month, issued_on.day, 9, 0)


def bill_run(*, through: date, issued_on: date) -> RunSummary:
    """Start (or resume) a run and bill every chunk in this process, as the command does
    without a broker."""
    now = issue_time(issued_on)
    run = bill_run_start(through=through, issued_on=issued_on, now=now)
    return bill_run_in_process(run=run, now=now)
