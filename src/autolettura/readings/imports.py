"""Bulk import of readings (DESIGN.md section 7): `supply_code,read_on,value,source`.

Every row goes through the same rules as a reading sent by any channel (R2, R3 and R6,
and R5 for self-readings), as the plain functions of `autolettura.rules`, but set-based:

1. The file is streamed and each row parsed on its own (value, date, code, source); the
   good rows go into a temporary staging table a chunk at a time (COPY on PostgreSQL).
2. One join finds every row's supply and stores the rows in a work table in supply and
   date order; the rows naming no supply are refused.
3. The work table is applied a chunk of supplies at a time, so that several readings of
   one supply in one file are assessed in date order, each against the previous valid
   one, wherever they are in the file. Each chunk is one transaction that locks its
   supplies (as `reading_submit` does, so that a reading sent through a channel meanwhile
   cannot interleave), loads their meters and readings in two queries, applies the rules,
   and writes the readings in one COPY. On PostgreSQL, outside a caller's transaction,
   two threads apply the chunks, each on its own connection: one chunk's rules run in
   Python while the other's reads, COPY and COMMIT run in PostgreSQL. The chunks hold
   disjoint supplies, so their order does not change any outcome.

Imported readings come from the utility's own systems: they get no receipt. Memory depends
on the chunk size, not on the file.
"""

from __future__ import annotations

import queue
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext as _

from autolettura.bulk import (
    DEFAULT_CHUNK_SIZE,
    CsvFile,
    CsvRow,
    Progress,
    Refusal,
    RefusalLog,
    as_date,
    bulk_write,
    chunked,
    execute,
    fetch,
    fetch_stream,
    gc_paused,
    is_postgresql,
    temp_table_analyze,
    temp_table_create,
    temp_table_drop,
)
from autolettura.customers.models import Meter, Supply
from autolettura.db import copy_text, copy_text_stream, copy_value
from autolettura.readings import policy
from autolettura.readings.models import Channel, Reading, Source, Status
from autolettura.rules import parsing, profile
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.outcomes import Reason
from autolettura.rules.plausibility import LastReading, Limits, assess_reading
from autolettura.rules.window import WindowPolicy, check_window, rome_today

READING_COLUMNS = ("supply_code", "read_on", "value", "source")
# Plain strings, not the enums: COPY would write an enum's name, not its value.
SOURCES = {
    "operator": Source.OPERATOR.value,
    "self": Source.SELF.value,
    "remote": Source.REMOTE.value,
}
_ACCEPTED, _UNDER_REVIEW = Status.ACCEPTED.value, Status.UNDER_REVIEW.value
_DISCARDED, _IMPORT = Status.DISCARDED.value, Channel.IMPORT.value
_SELF, _OUTSIDE_WINDOW = Source.SELF.value, Reason.OUTSIDE_WINDOW.value

_STAGE = "autolettura_import_reading"
_WORK = "autolettura_import_reading_work"
# The work table the appliers share on PostgreSQL: a real (unlogged) table, since a temporary
# one is seen by its own connection only. Named after the importing connection's backend
# process, so that one left behind by a crash is known by its name and dropped by the next
# import once that process is gone.
_SHARED_WORK = "autolettura_import_work_p"
_APPLIERS = 2  # threads applying chunks at once on PostgreSQL
_STAGE_COLUMNS = ("line", "supply_code", "read_on", "value", "source")
_READING_COLUMNS = (
    "supply_id",
    "meter_id",
    "read_on",
    "value",
    "source",
    "channel",
    "status",
    "reason",
    "consumption_m3",
    "rollover",
    "submitted_at",
    "void_reason",
)
# R8: on one day an operator reading (or a smart meter's, as actual) beats a self-reading.
_RANK = {Source.OPERATOR.value: 0, Source.REMOTE.value: 0, Source.SELF.value: 1}
# The parsers are pure, and a file repeats few dates and values: remembering their answers
# saves most of the parsing. Bounded so that memory stays flat.
_MEMO_LIMIT = 100_000


@dataclass
class ReadingsImportResult:
    """What an import of readings did. `refusals` lists each refused row by line."""

    rows_read: int = 0
    accepted: int = 0
    under_review: int = 0
    discarded: dict[str, int] = field(default_factory=dict)  # by reason
    refused: int = 0
    refused_by_code: dict[str, int] = field(default_factory=dict)
    refusals: Iterable[Refusal] = ()

    @property
    def taken(self) -> int:
        return self.accepted + self.under_review + sum(self.discarded.values())


@gc_paused()
def readings_import(
    *,
    file: IO[bytes],
    now: datetime,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
    channel: str = _IMPORT,
) -> ReadingsImportResult:
    """Take in charge the readings of a CSV file in the format of DESIGN.md section 7.

    Each well-formed row becomes a reading (channel IMPORT, no receipt) with the status and
    reason the rules give. A row that is not well formed (R2, R3), names an unknown supply,
    or repeats a reading already taken (same supply, date, value and source) is refused and
    reported by line; the others are taken all the same. Each chunk of supplies is applied
    in its own transaction.

    Raises ImportFileError when the file cannot be read or its header lacks columns.
    """
    today = rome_today(now)
    result = ReadingsImportResult()
    log = RefusalLog()
    work, shared = _WORK, False
    temp_table_create(
        _STAGE, "line integer, supply_code text, read_on date, value bigint, source text"
    )
    try:
        source = CsvFile(file, READING_COLUMNS, log)
        parser = _RowParser(today)
        for chunk in chunked(source, chunk_size):
            good = []
            for row in chunk:
                parsed = parser.parse(row)
                if isinstance(parsed, list):
                    log.add(row.line, parsed)
                else:
                    good.append(parsed)
            _stage_write(good)
            log.flush()
            if progress:
                progress(_("reading"), len(chunk), None)
        result.rows_read = source.rows_read
        # Other connections see committed data only: inside a caller's transaction the
        # chunks are applied on this one.
        if is_postgresql() and not connection.in_atomic_block and _APPLIERS > 1:
            work = _shared_work_table_name()
            shared = True
        staged, boundaries = _work_table_create(work, log, chunk_size, shared=shared)
        rules = _Rules(today=today, now=now, channel=channel)
        # Supply ids in (lower, upper]; 0 is below every supply id.
        chunks = list(zip([0, *boundaries], [*boundaries, None], strict=True))
        if shared:
            _apply_in_parallel(work, chunks, rules, log, result, progress, staged)
        else:
            for lower, upper in chunks:
                done = _apply_chunk(work, lower, upper, rules, log, result)
                if progress and done:
                    progress(_("applying"), done, staged)
    except BaseException:
        log.discard()
        raise
    finally:
        temp_table_drop(_STAGE, work)
    result.refused = log.rows
    result.refused_by_code = dict(log.by_code)
    result.refusals = log.finish()
    return result


def _stage_write(rows: list[tuple[Any, ...]]) -> None:
    if not is_postgresql():
        bulk_write(_STAGE, _STAGE_COLUMNS, rows)
        return
    # COPY's text format made here, in one join, costs a fraction of psycopg's row by row
    # adaptation. The codes are letters, digits and / _ - (parsing.normalize_code): no
    # character COPY escapes.
    copy_text(
        _STAGE,
        _STAGE_COLUMNS,
        "".join(
            f"{line}\t{code}\t{day}\t{value}\t{source}\n" for line, code, day, value, source in rows
        ),
    )


def _readings_write(table: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """The chunk's readings, `_READING_COLUMNS` tuples, into `table`: streamed in COPY's text
    format on PostgreSQL, a piece at a time, so that PostgreSQL stores them as the rules
    give them."""
    if not is_postgresql():
        bulk_write(table, _READING_COLUMNS, rows)
        return

    def pieces() -> Iterable[str]:
        lines: list[str] = []
        ends: dict[tuple[Any, Any], str] = {}  # one or two: the same instant for every row
        for row in rows:
            supply_id, meter_id, day, value, source, channel, status, reason = row[:8]
            consumption, rollover, submitted_at, void_reason = row[8:]
            end = ends.get((submitted_at, void_reason))
            if end is None:
                end = ends[submitted_at, void_reason] = (
                    f"\t{copy_value(submitted_at)}\t{copy_value(void_reason)}\n"
                )
            lines.append(
                f"{supply_id}\t{meter_id}\t{day}\t{value}\t{source}\t{channel}\t{status}\t"
                f"{_NULL if reason is None else reason}\t"
                f"{_NULL if consumption is None else consumption}\t{'t' if rollover else 'f'}" + end
            )
            if len(lines) >= 1000:
                yield "".join(lines)
                lines = []
        if lines:
            yield "".join(lines)

    copy_text_stream(table, _READING_COLUMNS, pieces())


_NULL = "\\N"  # COPY's text format for NULL


def _shared_work_table_name() -> str:
    """A name for this import's shared work table, after dropping those that imports whose
    connection is gone left behind (a crash, a killed process)."""
    live = {pid for (pid,) in fetch("SELECT pid FROM pg_stat_activity")}
    for (name,) in fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE %s",
        [_SHARED_WORK.replace("_", "\\_") + "%"],
    ):
        pid = name[len(_SHARED_WORK) :].split("_", 1)[0]
        if pid.isdigit() and int(pid) not in live:
            execute(f"DROP TABLE IF EXISTS {name}")
    ((backend,),) = fetch("SELECT pg_backend_pid()")
    return f"{_SHARED_WORK}{backend}_{secrets.token_hex(4)}"


def _work_table_create(
    work: str, log: RefusalLog, chunk_size: int, *, shared: bool = False
) -> tuple[int, list[int]]:
    """Step 2: the staged rows with their supply, found for the whole file in one join, and
    stored in supply order so that a chunk's rows lie together; the rows naming no supply
    are refused. Returns the number of rows to apply, and the supply ids that end the
    chunks (each chunk ends with all the rows of its last supply). `shared`: an unlogged
    table other connections see, rather than a temporary one."""
    supply_table = Supply._meta.db_table
    temp_table_analyze(_STAGE)
    execute(f"DROP TABLE IF EXISTS {work}")
    kind = "UNLOGGED" if shared else "TEMPORARY"
    with transaction.atomic():
        if is_postgresql():
            # Sorting the whole file in memory rather than in files on disk; for this
            # statement only.
            execute("SET LOCAL work_mem = '64MB'")
        execute(
            f"CREATE {kind} TABLE {work} AS SELECT st.line, st.supply_code, st.read_on, "
            "st.value, st.source, p.id AS supply_id, p.usage "
            f"FROM {_STAGE} st LEFT JOIN {supply_table} p ON p.supply_code = st.supply_code "
            "ORDER BY p.id, st.read_on, st.line"
        )
    temp_table_drop(_STAGE)  # every row is in the work table now
    for line, supply_code in fetch_stream(
        f"SELECT line, supply_code FROM {work} WHERE supply_id IS NULL"
    ):
        log.add(line, [FieldError("supply_code", "supply_unknown", {"supply_code": supply_code})])
        log.flush_if_large()
    log.flush()
    execute(f"CREATE INDEX {work}_order ON {work} (supply_id, read_on, line)")
    temp_table_analyze(work)
    (count,) = fetch(f"SELECT COUNT(*) FROM {work} WHERE supply_id IS NOT NULL")[0]
    boundaries = [
        supply_id
        for (supply_id,) in fetch(
            "SELECT DISTINCT supply_id FROM (SELECT supply_id, ROW_NUMBER() OVER "
            f"(ORDER BY supply_id) AS n FROM {work} WHERE supply_id IS NOT NULL) numbered "
            "WHERE n %% %s = 0 ORDER BY supply_id",
            [chunk_size],
        )
    ]
    return int(count), boundaries


class _RowParser:
    """Step 1: one row on its own (R2 and R3 without the meter), as a staging tuple."""

    def __init__(self, today: date) -> None:
        self._today = today
        self._values: dict[str, int | FieldError] = {}
        self._dates: dict[str, date | FieldError] = {}

    def parse(self, row: CsvRow) -> tuple[Any, ...] | list[FieldError]:
        code_text, day_text, value_text, source_text = row.fields
        errors: list[FieldError] = []
        try:
            code = parsing.normalize_code(code_text, field="supply_code")
        except FormatError as exc:
            errors.extend(exc.errors)
        day = self._dates.get(day_text)
        if day is None:
            day = self._remember(self._dates, day_text, self._parse_day)
        if isinstance(day, FieldError):
            errors.append(day)
        value = self._values.get(value_text)
        if value is None:
            value = self._remember(self._values, value_text, parsing.parse_reading_value)
        if isinstance(value, FieldError):
            errors.append(value)
        source = SOURCES.get(source_text.strip().lower())
        if source is None:
            errors.append(
                FieldError("source", "source_invalid" if source_text.strip() else "required")
            )
        if errors:
            return errors
        return (row.line, code, day, value, source)

    def _parse_day(self, text: str) -> date:
        day = parsing.parse_read_on(text)
        # The meter's installation is checked later, once the meter is known.
        parsing.check_read_on(day, today=self._today, meter_installed_on=None)
        return day

    @staticmethod
    def _remember(memo: dict[str, Any], text: str, parse: Any) -> Any:
        try:
            answer = parse(text)
        except FormatError as exc:
            answer = exc.errors[0]
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[text] = answer
        return answer


@dataclass(frozen=True)
class _Meter:
    id: int
    digits: int
    installed_on: date
    initial_reading: int
    removed_on: date | None
    final_reading: int | None
    limits: Limits

    def in_service_on(self, day: date) -> bool:
        return self.installed_on <= day and (self.removed_on is None or self.removed_on > day)


class _Rules:
    """The settings the rules take, read once per import."""

    def __init__(self, *, today: date, now: datetime, channel: str = _IMPORT) -> None:
        self.today = today
        self.now = now
        self.channel = channel
        self.window: WindowPolicy = policy.window_policy()
        self.trend: Decimal = settings.AUTOLETTURA_CMA_TREND
        self.min_days: int = settings.AUTOLETTURA_CMA_MIN_DAYS
        self._limits: dict[Any, Limits] = {}
        self._cma_defaults: dict[str, Decimal] = {}

    def limits(self, q4_m3h: Any) -> Limits:
        # Keyed by the value as the database gives it (SQLite: a float), read once.
        limits = self._limits.get(q4_m3h)
        if limits is None:
            limits = self._limits[q4_m3h] = policy.limits(Decimal(str(q4_m3h)))
        return limits

    def default_cma(self, usage: str) -> Decimal:
        if usage not in self._cma_defaults:
            self._cma_defaults[usage] = policy.default_cma_m3(usage)
        return self._cma_defaults[usage]

    def inside_window(self, read_on: date) -> bool:
        # R5 for an imported self-reading: the day it was read stands for the day it was
        # sent, since the file does not say when the customer sent it.
        return check_window(today=read_on, read_on=read_on, policy=self.window).inside


class _SupplyState:
    """A supply's meters and valid readings while its rows are assessed in date order."""

    def __init__(
        self,
        meters: list[_Meter],
        readings: dict[int, list[tuple[date, int, int]]],
        default_cma: Decimal,
        rules: _Rules,
    ) -> None:
        self.meters = meters
        # Per meter, one valid reading a day (the R8 winner): (read_on, value, rank).
        self.readings = readings
        self._default_cma = default_cma
        self._rules = rules
        self._cma: Decimal | None = None

    def meter_on(self, day: date) -> _Meter | None:
        """The meter in service on `day`: installed by then and not yet removed."""
        fitted = [m for m in self.meters if m.in_service_on(day)]
        return max(fitted, key=lambda m: m.installed_on) if fitted else None

    def last(self, meter: _Meter) -> LastReading:
        """The meter's last valid reading, or its installation reading if none came since."""
        days = self.readings.get(meter.id)
        if days:
            return LastReading(days[-1][0], days[-1][1])
        return LastReading(meter.installed_on, meter.initial_reading)

    def cma(self) -> Decimal:
        """R9, from the valid readings known so far, including those of this file."""
        if self._cma is None:
            if not self.readings and len(self.meters) == 1 and self.meters[0].removed_on is None:
                # No history at all: what R9 gives is the usage's default.
                self._cma = self._default_cma
            else:
                histories = [
                    profile.MeterHistory(
                        digits=m.digits,
                        installed_on=m.installed_on,
                        initial_reading=m.initial_reading,
                        readings=[(on, value) for on, value, _rank in self.readings.get(m.id, [])],
                        removed_on=m.removed_on,
                        final_reading=m.final_reading,
                    )
                    for m in self.meters
                ]
                self._cma = profile.cma(
                    profile.consumption_points(histories),
                    default_m3=self._default_cma,
                    trend=self._rules.trend,
                    min_days=self._rules.min_days,
                ).m3
        return self._cma

    def accept(self, meter: _Meter, day: date, value: int, rank: int) -> None:
        """A reading just accepted becomes the meter's last valid one (R8 on a tie)."""
        days = self.readings.setdefault(meter.id, [])
        if days and days[-1][0] == day:
            if rank <= days[-1][2]:
                days[-1] = (day, value, rank)
        else:
            days.append((day, value, rank))
        self._cma = None


class _ChunkRefusals:
    """A chunk's refused rows, held for the importing thread: the refusal log is a temporary
    table of the importing connection, which an applier thread does not use."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, list[FieldError]]] = []

    def add(self, line: int, errors: Iterable[FieldError]) -> None:
        self.rows.append((line, list(errors)))

    def flush(self) -> None:
        pass


def _apply_in_parallel(
    work: str,
    chunks: list[tuple[int, int | None]],
    rules: _Rules,
    log: RefusalLog,
    result: ReadingsImportResult,
    progress: Progress | None,
    staged: int,
) -> None:
    """Step 3 on PostgreSQL: `_APPLIERS` threads take the chunks in turn, each applying its
    chunk on its own connection; this thread gathers their counts and refused rows into
    `result` and `log`, and reports progress. The first error stops the appliers (each
    finishes, or rolls back, the chunk it holds) and is raised here."""
    pending = iter(chunks)
    taking = threading.Lock()
    reports: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    over = object()  # an applier's last report

    def applier() -> None:
        try:
            while not stop.is_set():
                with taking:
                    chunk = next(pending, None)
                if chunk is None:
                    break
                part, refusals = ReadingsImportResult(), _ChunkRefusals()
                done = _apply_chunk(work, *chunk, rules, refusals, part)
                reports.put((done, part, refusals))
        except BaseException as exc:  # handed to the importing thread, which raises it
            stop.set()
            reports.put(exc)
        finally:
            connection.close()  # this thread's own connection
            reports.put(over)

    threads = [
        threading.Thread(target=applier, name=f"readings-import-{n}", daemon=True)
        for n in range(_APPLIERS)
    ]
    error: BaseException | None = None
    try:
        for thread in threads:
            thread.start()
        running = len(threads)
        while running:
            report = reports.get()
            if report is over:
                running -= 1
            elif isinstance(report, BaseException):
                error = error or report
            else:
                done, part, refusals = report
                result.accepted += part.accepted
                result.under_review += part.under_review
                for reason, count in part.discarded.items():
                    result.discarded[reason] = result.discarded.get(reason, 0) + count
                for line, errors in refusals.rows:
                    log.add(line, errors)
                log.flush()
                if progress and done:
                    progress(_("applying"), done, staged)
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join()
    if error is not None:
        raise error


def _apply_chunk(
    work: str,
    lower: int,
    upper: int | None,
    rules: _Rules,
    log: RefusalLog | _ChunkRefusals,
    result: ReadingsImportResult,
) -> int:
    """Step 3 for the rows of the supplies with ids in (lower, upper]: one transaction."""
    where = "w.supply_id > %s" + ("" if upper is None else " AND w.supply_id <= %s")
    params = [lower] if upper is None else [lower, upper]
    # The range is repeated on the other table's own column so that its index is used
    # for the range itself, not probed once per supply of the file.
    supplies = f"SELECT w.supply_id FROM {work} w WHERE {where}"

    def within(column: str) -> str:
        bounds = f"{column} > %s" + ("" if upper is None else f" AND {column} <= %s")
        return f"{bounds} AND {column} IN ({supplies})"

    supply_table, meter_table = Supply._meta.db_table, Meter._meta.db_table
    reading_table = Reading._meta.db_table
    with transaction.atomic():
        rows = fetch(
            "SELECT w.line, w.read_on, w.value, w.source, w.supply_id, w.usage "
            f"FROM {work} w WHERE {where} ORDER BY w.supply_id, w.read_on, w.line",
            params,
        )
        # The supplies' meters, and on PostgreSQL the lock `reading_submit` takes, taken in
        # supply order: the last valid readings cannot change under us.
        lock = " FOR UPDATE OF p" if is_postgresql() else ""
        meters: dict[int, list[_Meter]] = {}
        for supply_id, *fields in fetch(
            "SELECT m.supply_id, m.id, m.digits, m.installed_on, m.initial_reading, "
            f"m.removed_on, m.final_reading, m.q4_m3h FROM {supply_table} p "
            f"JOIN {meter_table} m ON m.supply_id = p.id WHERE {within('p.id')} "
            f"ORDER BY m.supply_id, m.installed_on{lock}",
            params * 2,
        ):
            meter_id, digits, installed_on, initial, removed_on, final, q4 = fields
            meters.setdefault(supply_id, []).append(
                _Meter(
                    meter_id,
                    digits,
                    as_date(installed_on),
                    initial,
                    None if removed_on is None else as_date(removed_on),
                    final,
                    rules.limits(q4),
                )
            )
        # Every reading not voided: the valid ones are the history R6 and R9 need, and any
        # of them makes a row that repeats it a duplicate (R4).
        history: dict[int, dict[int, list[tuple[date, int, int]]]] = {}
        taken: set[tuple[int, date, int, str]] = set()
        for supply_id, meter_id, read_on, value, source, status in fetch(
            "SELECT r.supply_id, r.meter_id, r.read_on, r.value, r.source, r.status "
            f"FROM {reading_table} r WHERE {within('r.supply_id')} AND r.voided_at IS NULL "
            "ORDER BY r.supply_id, r.meter_id, r.read_on, "
            "CASE WHEN r.source IN (%s, %s) THEN 0 ELSE 1 END, r.id DESC",
            [*params, *params, Source.OPERATOR.value, Source.REMOTE.value],
        ):
            on = as_date(read_on)
            taken.add((supply_id, on, value, source))
            if status != _ACCEPTED:
                continue
            days = history.setdefault(supply_id, {}).setdefault(meter_id, [])
            if not days or days[-1][0] != on:  # the first of a day is its R8 winner
                days.append((on, value, _RANK[source]))

        _readings_write(reading_table, _assess(rows, meters, history, taken, rules, log, result))
        log.flush()
    return len(rows)


def _assess(
    rows: list[tuple[Any, ...]],
    meters: dict[int, list[_Meter]],
    history: dict[int, dict[int, list[tuple[date, int, int]]]],
    already_taken: set[tuple[int, date, int, str]],
    rules: _Rules,
    log: RefusalLog | _ChunkRefusals,
    result: ReadingsImportResult,
) -> Iterable[tuple[Any, ...]]:
    """The readings to store for the chunk's rows, in supply and date order; the rows
    refused go into `log`. A generator, so the COPY streams while the rules run."""
    state: _SupplyState | None = None
    current: int | None = None
    taken: dict[tuple[date, int, str], int] = {}  # this supply's readings so far: line
    today, now = rules.today, rules.now
    for line, read_on, value, source, supply_id, usage in rows:
        if supply_id != current:
            current = supply_id
            state = _SupplyState(
                meters.get(supply_id, []),
                history.get(supply_id, {}),
                rules.default_cma(usage),
                rules,
            )
            taken = {}
        assert state is not None
        day = as_date(read_on)
        key = (day, value, source)
        if (supply_id, day, value, source) in already_taken:
            log.add(line, [FieldError("row", "duplicate")])
            continue
        if key in taken:
            log.add(line, [FieldError("row", "duplicate", {"first_line": taken[key]})])
            continue
        meter = state.meter_on(day)
        if meter is None:
            first = min((m.installed_on for m in state.meters), default=None)
            if first is None or day < first:
                error = FieldError(
                    "read_on", "date_before_meter", {"installed_on": first} if first else {}
                )
            else:
                error = FieldError("read_on", "no_meter_on_date")
            log.add(line, [error])
            continue
        try:
            parsing.check_reading_digits(value, meter.digits)
            parsing.check_read_on(day, today=today, meter_installed_on=meter.installed_on)
        except FormatError as exc:
            log.add(line, exc.errors)
            continue
        taken[key] = line
        rollover = False
        consumption: int | None = None
        reason: str | None
        if source == _SELF and not rules.inside_window(day):
            status, reason = _DISCARDED, _OUTSIDE_WINDOW
        else:
            assessment = assess_reading(
                value=value,
                read_on=day,
                last=state.last(meter),
                digits=meter.digits,
                cma_m3=state.cma(),
                limits=meter.limits,
            )
            status = assessment.status.value
            reason = None if assessment.reason is None else assessment.reason.value
            consumption, rollover = assessment.consumption_m3, assessment.rollover
        if status == _ACCEPTED:
            result.accepted += 1
            state.accept(meter, day, value, _RANK[source])
        elif status == _UNDER_REVIEW:
            result.under_review += 1
        else:
            assert reason is not None
            result.discarded[reason] = result.discarded.get(reason, 0) + 1
        yield (
            supply_id,
            meter.id,
            day,
            value,
            source,
            rules.channel,
            status,
            reason,
            consumption,
            rollover,
            now,
            "",
        )
