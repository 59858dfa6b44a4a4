"""The restore drill's work, done by the product's own services in a process of its own.

`python -m tests.ops.drill_steps STEP...` with the production settings and the drill's
DATABASE_URL and AUTOLETTURA_HOME: `seed` (customers, supplies, meters, the tariffs),
`readings-a` and `bills-a` (the work before the point in time), `phase-b` (the work after).
The customers' clock is fixed (a December window, then a February one); the server's clock is
the real one, and that is the one a point-in-time restore goes by.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from datetime import date, datetime

SUPPLIES = 12
ROME_OFFSET = "+01:00"


def _png(seed: int) -> bytes:
    """A small, valid PNG, different for each seed: a photo of a meter for the drill."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    pixel = bytes([seed % 256, (seed * 7) % 256, (seed * 13) % 256])
    rows = b"".join(b"\x00" + pixel * 4 for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text + ROME_OFFSET)


def seed() -> None:
    from autolettura.billing.tariffs import tariffs_load
    from autolettura.customers.models import Customer, Meter, Supply

    for year in (2026, 2027):
        tariffs_load(year=year)
    for n in range(1, SUPPLIES + 1):
        customer = Customer.objects.create(customer_code=f"U{n:05d}", name=f"Cliente {n}")
        supply = Supply.objects.create(
            supply_code=f"S{n:05d}",
            holder=customer,
            address=f"Via Roma {n}, Valmora",
            activated_on=date(2026, 1, 1),
        )
        Meter.objects.create(
            supply=supply, serial=f"M{n:07d}", installed_on=date(2026, 1, 1), initial_reading=0
        )


def _readings(read_on: date, now: datetime, base: int) -> None:
    from autolettura.readings.models import Channel
    from autolettura.readings.services import reading_submit

    for n in range(1, SUPPLIES + 1):
        reading_submit(
            channel=Channel.WEB,
            supply_code=f"S{n:05d}",
            customer_code=f"U{n:05d}",
            reading=str(base + 10 * n),
            read_on=read_on,
            now=now,
            photo=io.BytesIO(_png(base + n)),
        )


def _bill_run(through: date, issued_on: date, now: datetime) -> None:
    from autolettura.billing.services import bill_run_in_process, bill_run_start

    run = bill_run_start(through=through, issued_on=issued_on, now=now)
    summary = bill_run_in_process(run=run, now=now)
    if summary.errors or not summary.bills_made:
        raise SystemExit(f"the drill's bill run billed nothing or failed: {summary}")


def readings_a() -> None:
    _readings(date(2026, 12, 20), _at("2026-12-20T10:00:00"), base=100)


def bills_a() -> None:
    _bill_run(date(2026, 12, 31), date(2027, 1, 10), _at("2027-01-10T09:00:00"))


def phase_b() -> None:
    _readings(date(2027, 2, 20), _at("2027-02-20T10:00:00"), base=150)
    _bill_run(date(2027, 2, 28), date(2027, 3, 10), _at("2027-03-10T09:00:00"))


STEPS = {"seed": seed, "readings-a": readings_a, "bills-a": bills_a, "phase-b": phase_b}


if __name__ == "__main__":
    import django

    django.setup()
    for step in sys.argv[1:]:
        STEPS[step]()
