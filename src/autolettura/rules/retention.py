"""How long each kind of data is kept, and what a restored database must look like.

Plain functions over plain values (no Django): the retention task, `check-restore` and their
tests share them.

- Readings and their evidence (photos): five years from the reading's date (the regulator,
  ARERA, wants measurement data kept and available for five years).
- Bills: ten years from the end of the year they were issued in (Italian fiscal law: art.
  2220 of the Civil Code, art. 22 of DPR 600/1973), whole years at a time, so a year's
  numbering is never cut in the middle.
- Inbound messages' raw bodies and senders (phone numbers, e-mail addresses), calls' numbers
  and keys, outbound messages' recipients and texts: a shorter time, after which the reading
  and its receipt keep everything that counts.
- Photos of discarded or voided readings: a shorter time too; no bill rests on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class RetentionPolicy:
    readings_years: int = 5
    bills_years: int = 10
    messages_days: int = 180
    discarded_photos_days: int = 180


@dataclass(frozen=True)
class Horizons:
    """What is past its time: strictly before each of these."""

    readings_before: date  # a reading's date (read_on)
    bills_year_before: int  # a bill's issue year
    messages_before: datetime  # when a message was received or sent, a call started
    discarded_photos_before: datetime  # when the discarded or voided reading was submitted


def years_before(day: date, years: int) -> date:
    """The same day `years` earlier; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def horizons(policy: RetentionPolicy, *, today: date, now: datetime) -> Horizons:
    """The horizons of `policy` on `today` (Rome's calendar) and at `now`.

    A bill of year Y is kept through 31 December of Y + bills_years, so in year T the years
    before T - bills_years are past.
    """
    return Horizons(
        readings_before=years_before(today, policy.readings_years),
        bills_year_before=today.year - policy.bills_years,
        messages_before=now - timedelta(days=policy.messages_days),
        discarded_photos_before=now - timedelta(days=policy.discarded_photos_days),
    )


@dataclass(frozen=True)
class ValidReading:
    id: int
    meter_id: int
    read_on: date


def readings_the_profile_needs(readings: Iterable[ValidReading], *, cma_min_days: int) -> set[int]:
    """The valid readings of one supply that its consumption profile and its next bill
    rest on, whatever their age: the last of each meter (where the register carries on from)
    and the two the CMA is computed from (R9: the last one, and the last at least
    `cma_min_days` before it)."""
    ordered = sorted(readings, key=lambda r: (r.read_on, r.id))
    if not ordered:
        return set()
    needed: set[int] = set()
    last_of_meter: dict[int, ValidReading] = {}
    for reading in ordered:
        last_of_meter[reading.meter_id] = reading
    needed.update(r.id for r in last_of_meter.values())
    latest = ordered[-1]
    needed.add(latest.id)
    earlier = [r for r in ordered if (latest.read_on - r.read_on).days >= cma_min_days]
    if earlier:
        needed.add(earlier[-1].id)
    return needed


# --- After a restore -------------------------------------------------------------------------


def number_gaps(numbers: Iterable[int], *, last: int) -> list[tuple[int, int]]:
    """The runs of numbers from 1 to `last` that are missing from `numbers`, as (first, last)
    pairs: [(4, 4), (9, 12)] means 4 and 9 to 12 are missing."""
    present = sorted({n for n in numbers if 1 <= n <= last})
    gaps: list[tuple[int, int]] = []
    expected = 1
    for n in present:
        if n > expected:
            gaps.append((expected, n - 1))
        expected = n + 1
    if expected <= last:
        gaps.append((expected, last))
    return gaps


def gaps_text(gaps: Sequence[tuple[int, int]], *, limit: int = 10) -> str:
    """`4, 9-12` (the first `limit` runs, then how many more)."""
    shown = [str(a) if a == b else f"{a}-{b}" for a, b in gaps[:limit]]
    if len(gaps) > limit:
        shown.append(f"and {len(gaps) - limit} more")
    return ", ".join(shown)


def receipt_number(receipt: str) -> tuple[int, int] | None:
    """(year, number) of a receipt such as AL-2026-000123, whatever its prefix; None for
    anything else."""
    parts = receipt.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return int(parts[1]), int(parts[2])
