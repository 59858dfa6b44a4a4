"""Bulk import of readings (DESIGN.md section 7): `supply_code,read_on,value,source`.

Every row goes through the same rules as a reading sent by any channel (R2, R3 and R6,
and R5 for self-readings), as the plain functions of `autolettura.rules`, but set-based:

1. The file is streamed and each row parsed on its own (value, date, code, source); the
   good rows go into a temporary staging table as they are parsed (on PostgreSQL one COPY,
   which PostgreSQL stores while the next rows are parsed).
2. One query finds every row's supply and hands the rows back in supply and date order,
   a batch at a time; the rows naming no supply come first and are refused. The rows are
   cut into chunks of supplies as they come, so that applying starts with the first batch.
3. Each chunk of supplies is applied in its own transaction, so that several readings of
   one supply in one file are assessed in date order, each against the previous valid
   one, wherever they are in the file. The transaction locks the chunk's supplies (as
   `reading_submit` does, so that a reading sent through a channel meanwhile cannot
   interleave), loads their meters and readings, applies the rules, and writes the
   readings in one COPY. On PostgreSQL, outside a caller's transaction, two threads apply
   the chunks, each on its own connection: one chunk's rules run in Python while the
   other's reads, COPY and COMMIT run in PostgreSQL, and the importing thread reads the
   next chunk meanwhile. The chunks hold disjoint supplies, so their order does not change
   any outcome.

Imported readings come from the utility's own systems: they get no receipt. Memory depends
on the chunk size, not on the file.
"""

from __future__ import annotations

import contextlib
import operator
import queue
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any, NamedTuple

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
    execute,
    fetch,
    fetch_batches,
    gc_paused,
    is_postgresql,
    temp_table_create,
    temp_table_drop,
)
from autolettura.customers.models import Meter, Supply
from autolettura.db import copy_text_stream, copy_value
from autolettura.readings import policy
from autolettura.readings.models import Channel, Reading, Source, Status
from autolettura.rules import parsing, profile
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.outcomes import Reason
from autolettura.rules.outcomes import Status as RuleStatus
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
# The rules' outcomes, told apart by identity (an enum's hash is a Python-level call, and a
# member read through its class a slower look-up than a module name).
_RULE_ACCEPTED, _RULE_UNDER_REVIEW = RuleStatus.ACCEPTED, RuleStatus.UNDER_REVIEW

_STAGE = "autolettura_import_reading"
# The work tables that imports of an earlier version shared between their connections,
# named after the importing connection's backend process (see _leftover_work_tables_drop).
_LEFTOVER_WORK = "autolettura_import_work_p"
_APPLIERS = 2  # threads applying chunks at once on PostgreSQL
_STAGE_COLUMNS = ("line", "supply_code", "read_on", "value", "source")
# What the rules give for each reading, then what every reading of an import shares.
_READING_COLUMNS = (
    "supply_id",
    "meter_id",
    "read_on",
    "value",
    "source",
    "status",
    "reason",
    "consumption_m3",
    "rollover",
)
_IMPORT_COLUMNS = ("channel", "submitted_at", "void_reason")
# The text of each status and reason, as stored: looked up faster than an enum's value.
_STATUS_TEXT = {member: member.value for member in RuleStatus}
_REASON_TEXT: dict[Reason | None, str | None] = {None: None, **{r: r.value for r in Reason}}
# R8: on one day an operator reading (or a smart meter's, as actual) beats a self-reading.
_RANK = {Source.OPERATOR.value: 0, Source.REMOTE.value: 0, Source.SELF.value: 1}
# The parsers are pure, and a file repeats few dates and values: remembering their answers
# saves most of the parsing. Bounded so that memory stays flat.
_MEMO_LIMIT = 100_000
_SUPPLY_OF = operator.itemgetter(4)  # of a row of _SortedChunks


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
    temp_table_create(
        _STAGE, "line integer, supply_code text, read_on date, value bigint, source text"
    )
    try:
        source = CsvFile(file, READING_COLUMNS, log)
        staged = _stage(source, _RowParser(today), log, chunk_size, progress)
        result.rows_read = source.rows_read
        if is_postgresql():
            _leftover_work_tables_drop()
        rules = _Rules(today=today, now=now, channel=channel)
        # Other connections see committed data only: inside a caller's transaction the
        # chunks are applied on this one.
        parallel = is_postgresql() and not connection.in_atomic_block and _APPLIERS > 1
        chunks = _SortedChunks(staged, log, chunk_size)
        try:
            if parallel:
                _apply_in_parallel(chunks, rules, log, result, progress)
            else:
                for rows in chunks:
                    done = _apply_chunk(rows, rules, log, result)
                    if progress and done:
                        progress(_("applying"), done, chunks.to_apply)
        finally:
            chunks.close()
    except BaseException:
        log.discard()
        raise
    finally:
        temp_table_drop(_STAGE)
    result.refused = log.rows
    result.refused_by_code = dict(log.by_code)
    result.refusals = log.finish()
    return result


def _stage(
    source: CsvFile,
    parser: _RowParser,
    log: RefusalLog,
    chunk_size: int,
    progress: Progress | None,
) -> int:
    """Step 1: every row of the file parsed, the good ones into the staging table, the
    others into `log`. Returns how many rows were staged."""
    batches = source.batches(chunk_size)
    staged = 0
    if not is_postgresql():
        for batch in batches:
            good = []
            for line, fields in batch:
                parsed = parser.parse_fields(line, fields)
                if isinstance(parsed, list):
                    log.add(line, parsed)
                else:
                    good.append(parsed)
            bulk_write(_STAGE, _STAGE_COLUMNS, good)
            staged += len(good)
            log.flush()
            if progress:
                progress(_("reading"), len(batch), None)
        return staged

    more = True
    canonical = parsing.canonical_code_match
    dates, values, sources = parser.good_dates, parser.good_values, parser.good_sources

    def pieces() -> Iterator[str]:
        # COPY's text format made here, in one join, costs a fraction of psycopg's row by
        # row adaptation. The codes are letters, digits and / _ - (parsing.normalize_code):
        # no character COPY escapes.
        nonlocal staged, more
        for batch in batches:
            lines = []
            for line, fields in batch:
                code_text, day_text, value_text, source_text = fields
                # Nearly every row: a date, value and source already parsed good, and a code
                # already canonical, written as the parser gave them the first time. Any other
                # row goes through the parser.
                day = dates.get(day_text)
                value = values.get(value_text)
                kind = sources.get(source_text)
                if (
                    day is not None
                    and value is not None
                    and kind is not None
                    and canonical(code_text)
                ):
                    lines.append(f"{line}\t{code_text}\t{day}\t{value}\t{kind}\n")
                    continue
                parsed = parser.parse_fields(line, fields)
                if isinstance(parsed, list):
                    log.add(line, parsed)
                else:
                    _line, code, read_on, number, kind = parsed
                    lines.append(f"{line}\t{code}\t{read_on.isoformat()}\t{number}\t{kind}\n")
            staged += len(lines)
            yield "".join(lines)
            if progress:
                progress(_("reading"), len(batch), None)
            if log.many_pending():
                return  # the COPY ends so that they are written, and another goes on
        more = False

    # One COPY for the whole file: PostgreSQL stores each piece while the next is parsed.
    # Refused rows wait in memory meanwhile, up to a bound.
    while more:
        copy_text_stream(_STAGE, _STAGE_COLUMNS, pieces())
        log.flush()
    return staged


def _readings_write(table: str, rows: Iterable[tuple[Any, ...]], rules: _Rules) -> None:
    """The chunk's readings, `_READING_COLUMNS` tuples, into `table` with the channel and
    instant of the import: streamed in COPY's text format on PostgreSQL, a piece at a time,
    so that PostgreSQL stores them as the rules give them."""
    shared = (rules.channel, rules.now, "")  # _IMPORT_COLUMNS
    columns = _READING_COLUMNS + _IMPORT_COLUMNS
    if not is_postgresql():
        bulk_write(table, columns, (row + shared for row in rows))
        return

    def pieces() -> Iterable[str]:
        end = "".join(f"\t{copy_value(value)}" for value in shared) + "\n"
        days: dict[date, str] = {}  # a file holds few dates: each written once
        lines: list[str] = []
        for supply_id, meter_id, day, value, source, status, reason, consumption, rollover in rows:
            day_text = days.get(day)
            if day_text is None:
                day_text = days[day] = day.isoformat()
            lines.append(
                f"{supply_id}\t{meter_id}\t{day_text}\t{value}\t{source}\t{status}\t"
                f"{_NULL if reason is None else reason}\t"
                f"{_NULL if consumption is None else consumption}\t{'t' if rollover else 'f'}{end}"
            )
            if len(lines) >= 1000:
                yield "".join(lines)
                lines = []
        if lines:
            yield "".join(lines)

    copy_text_stream(table, columns, pieces())


_NULL = "\\N"  # COPY's text format for NULL


def _leftover_work_tables_drop() -> None:
    """Drop the shared work tables that imports of an earlier version left behind when
    their connection was lost (a crash, a killed process): named after the backend process
    that made them, they are dropped once it is gone."""
    live = {pid for (pid,) in fetch("SELECT pid FROM pg_stat_activity")}
    for (name,) in fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE %s",
        [_LEFTOVER_WORK.replace("_", "\\_") + "%"],
    ):
        pid = name[len(_LEFTOVER_WORK) :].split("_", 1)[0]
        if pid.isdigit() and int(pid) not in live:
            execute(f"DROP TABLE IF EXISTS {name}")


class _SortedChunks:
    """Step 2: the staged rows with their supply, found for the whole file in one join and
    read back in supply and date order, cut into chunks of at least `chunk_size` rows that
    each end with all the rows of their last supply. The rows naming no supply come first
    and are refused into `log`; `to_apply` is then the number of rows the chunks hold.

    Each row: (line, read_on, value, source, supply id, usage, and the supply code for a
    row that names no supply)."""

    def __init__(self, staged: int, log: RefusalLog, chunk_size: int) -> None:
        self._log = log
        self._chunk_size = chunk_size
        self.to_apply = staged
        self._rows = self._read()

    def __iter__(self) -> Iterator[list[tuple[Any, ...]]]:
        return self._rows

    def close(self) -> None:
        """Ends the reading (and its transaction) where it is: before the staging table
        goes, even when an error stopped the import halfway."""
        self._rows.close()

    def _read(self) -> Generator[list[tuple[Any, ...]], None, None]:
        supply_table = Supply._meta.db_table
        chunk_size, log = self._chunk_size, self._log
        chunk: list[tuple[Any, ...]] = []
        unknown = True  # still reading the rows that name no supply
        with contextlib.ExitStack() as stack:
            if is_postgresql():
                # The sort in memory up to about half a million rows (Debian's default of 4 MB
                # spills from some 30,000); beyond, PostgreSQL merges runs sorted on disk, which
                # at a million rows measured no slower than sorting them in 256 MB of memory.
                stack.enter_context(transaction.atomic())
                execute("SET LOCAL work_mem = '64MB'")
            batches = fetch_batches(
                "SELECT st.line, st.read_on, st.value, st.source, p.id, p.usage, "
                "CASE WHEN p.id IS NULL THEN st.supply_code END "
                f"FROM {_STAGE} st LEFT JOIN {supply_table} p ON p.supply_code = st.supply_code "
                "ORDER BY p.id NULLS FIRST, st.read_on, st.line",
                batch=max(1000, min(chunk_size, 10_000)),
            )
            for batch in batches:
                start = 0
                if unknown:
                    while start < len(batch) and batch[start][4] is None:
                        line, code = batch[start][0], batch[start][6]
                        log.add(
                            line,
                            [FieldError("supply_code", "supply_unknown", {"supply_code": code})],
                        )
                        log.flush_if_large()
                        self.to_apply -= 1
                        start += 1
                    if start == len(batch):
                        continue
                    unknown = False
                chunk.extend(batch[start:] if start else batch)
                while len(chunk) >= chunk_size:
                    last = chunk[chunk_size - 1][4]
                    end = chunk_size
                    while end < len(chunk) and chunk[end][4] == last:
                        end += 1
                    if end == len(chunk):
                        break  # the last supply's rows may go on in the next batch
                    yield chunk[:end]
                    chunk = chunk[end:]
            if chunk:
                yield chunk


class _RowParser:
    """Step 1: one row on its own (R2 and R3 without the meter), as a staging tuple."""

    def __init__(self, today: date) -> None:
        self._today = today
        self._values: dict[str, int | FieldError] = {}
        self._dates: dict[str, date | FieldError] = {}
        self._sources: dict[str, str | FieldError] = {}
        # The texts parsed good so far, each with what COPY's text format writes for it.
        self.good_values: dict[str, str] = {}
        self.good_dates: dict[str, str] = {}
        self.good_sources: dict[str, str] = {}

    def parse(self, row: CsvRow) -> tuple[Any, ...] | list[FieldError]:
        return self.parse_fields(row.line, row.fields)

    def parse_fields(self, line: int, fields: Sequence[str]) -> tuple[Any, ...] | list[FieldError]:
        code_text, day_text, value_text, source_text = fields
        try:
            code: str | None = parsing.normalize_code(code_text, field="supply_code")
        except FormatError as exc:
            code, code_errors = None, exc.errors
        day = self._dates.get(day_text)
        if day is None:
            day = self._remember(
                self._dates, self.good_dates, day_text, self._parse_day, date.isoformat
            )
        value = self._values.get(value_text)
        if value is None:
            value = self._remember(
                self._values, self.good_values, value_text, parsing.parse_reading_value, str
            )
        source = self._sources.get(source_text)
        if source is None:
            source = self._remember(
                self._sources, self.good_sources, source_text, self._parse_source, str
            )
        if not (
            code is None
            or isinstance(day, FieldError)
            or isinstance(value, FieldError)
            or isinstance(source, FieldError)
        ):
            return (line, code, day, value, source)
        errors = list(code_errors) if code is None else []
        errors.extend(e for e in (day, value, source) if isinstance(e, FieldError))
        return errors

    def _parse_day(self, text: str) -> date:
        day = parsing.parse_read_on(text)
        # The meter's installation is checked later, once the meter is known.
        parsing.check_read_on(day, today=self._today, meter_installed_on=None)
        return day

    @staticmethod
    def _parse_source(text: str) -> str:
        source = SOURCES.get(text.strip().lower())
        if source is None:
            code = "source_invalid" if text.strip() else "required"
            raise FormatError(FieldError("source", code))
        return source

    @staticmethod
    def _remember(
        memo: dict[str, Any], good: dict[str, str], text: str, parse: Any, copy_text: Any
    ) -> Any:
        try:
            answer = parse(text)
        except FormatError as exc:
            answer = exc.errors[0]
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
            good.clear()
        memo[text] = answer
        if not isinstance(answer, FieldError):
            good[text] = copy_text(answer)
        return answer


class _Meter(NamedTuple):
    # A named tuple rather than a frozen dataclass: one is made for every meter of every
    # chunk, and a frozen dataclass sets each field through a call of its own.
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
        self.cma_defaults: dict[str, Decimal] = {}
        self._inside: dict[date, bool] = {}

    def limits(self, q4_m3h: Any) -> Limits:
        # Keyed by the value as the database gives it (SQLite: a float), read once.
        limits = self._limits.get(q4_m3h)
        if limits is None:
            limits = self._limits[q4_m3h] = policy.limits(Decimal(str(q4_m3h)))
        return limits

    def default_cma(self, usage: str) -> Decimal:
        cma = self.cma_defaults.get(usage)
        if cma is None:
            cma = self.cma_defaults[usage] = policy.default_cma_m3(usage)
        return cma

    def inside_window(self, read_on: date) -> bool:
        # R5 for an imported self-reading: the day it was read stands for the day it was
        # sent, since the file does not say when the customer sent it. A file holds few
        # dates: each is checked once.
        inside = self._inside.get(read_on)
        if inside is None:
            inside = check_window(today=read_on, read_on=read_on, policy=self.window).inside
            if len(self._inside) >= _MEMO_LIMIT:
                self._inside.clear()
            self._inside[read_on] = inside
        return inside


class _SupplyState:
    """A supply's meters and valid readings while its rows are assessed in date order."""

    __slots__ = ("_default_cma", "_rules", "known_cma", "meters", "readings")

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
        # R9's answer as last computed; None once a reading accepted since changed it. With
        # no history at all (one meter in place, no valid reading) it is the usage's default.
        self.known_cma: Decimal | None = (
            default_cma
            if not readings and len(meters) == 1 and meters[0].removed_on is None
            else None
        )

    def meter_on(self, day: date) -> _Meter | None:
        """The meter in service on `day`: installed by then and not yet removed."""
        if len(self.meters) == 1:  # nearly every supply: its one meter or none
            meter = self.meters[0]
            return meter if meter.in_service_on(day) else None
        fitted = [m for m in self.meters if m.in_service_on(day)]
        return max(fitted, key=lambda m: m.installed_on) if fitted else None

    def cma(self) -> Decimal:
        """R9, from the valid readings known so far, including those of this file."""
        if self.known_cma is None:
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
            self.known_cma = profile.cma(
                profile.consumption_points(histories),
                default_m3=self._default_cma,
                trend=self._rules.trend,
                min_days=self._rules.min_days,
            ).m3
        return self.known_cma

    def accept(self, meter: _Meter, day: date, value: int, rank: int) -> None:
        """A reading just accepted becomes the meter's last valid one (R8 on a tie)."""
        days = self.readings.setdefault(meter.id, [])
        if days and days[-1][0] == day:
            if rank <= days[-1][2]:
                days[-1] = (day, value, rank)
        else:
            days.append((day, value, rank))
        self.known_cma = None


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
    chunks: _SortedChunks,
    rules: _Rules,
    log: RefusalLog,
    result: ReadingsImportResult,
    progress: Progress | None,
) -> None:
    """Step 3 on PostgreSQL: this thread reads the chunks and hands them to `_APPLIERS`
    threads, each applying a chunk at a time on its own connection; it gathers their counts
    and refused rows into `result` and `log`, and reports progress. The first error stops
    the appliers (each finishes, or rolls back, the chunk it holds) and is raised here."""
    # Bounded, so that memory holds a few chunks whatever the file's size.
    pending: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue(maxsize=_APPLIERS)
    reports: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    over = object()  # an applier's last report

    def applier() -> None:
        try:
            while not stop.is_set():
                rows = pending.get()
                if rows is None:
                    break
                part, refusals = ReadingsImportResult(), _ChunkRefusals()
                done = _apply_chunk(rows, rules, refusals, part)
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
    running = 0
    error: BaseException | None = None

    def gather(block: bool, record: bool = True) -> None:
        """The appliers' reports so far (with `block`, waiting a moment for one)."""
        nonlocal running, error
        while running:
            try:
                report = reports.get(block=block, timeout=0.1 if block else None)
            except queue.Empty:
                return
            block = False
            if report is over:
                running -= 1
            elif isinstance(report, BaseException):
                error = error or report
            elif record:
                done, part, refusals = report
                result.accepted += part.accepted
                result.under_review += part.under_review
                for reason, count in part.discarded.items():
                    result.discarded[reason] = result.discarded.get(reason, 0) + count
                for line, errors in refusals.rows:
                    log.add(line, errors)
                log.flush()
                if progress and done:
                    progress(_("applying"), done, chunks.to_apply)

    def hand(rows: list[tuple[Any, ...]]) -> bool:
        """Give a chunk to the appliers, gathering their reports while they are busy; False
        once they have stopped."""
        while not stop.is_set():
            try:
                pending.put(rows, timeout=0.1)
                return True
            except queue.Full:
                gather(block=False)
        return False

    try:
        for thread in threads:
            thread.start()
            running += 1
        for rows in chunks:
            gather(block=False)
            if not hand(rows):
                break
    except BaseException:
        stop.set()
        raise
    finally:
        # One None stops an applier once the chunks before it are applied; an applier that
        # stopped on an error leaves the others to stop after their chunk.
        while running:
            with contextlib.suppress(queue.Full):
                pending.put_nowait(None)
            gather(block=True, record=not stop.is_set())
        for thread in threads:
            thread.join()
    if error is not None:
        raise error


def _apply_chunk(
    rows: list[tuple[Any, ...]],
    rules: _Rules,
    log: RefusalLog | _ChunkRefusals,
    result: ReadingsImportResult,
) -> int:
    """Step 3 for the rows of one chunk of supplies: one transaction."""
    supply_ids = list(dict.fromkeys(map(_SUPPLY_OF, rows)))  # in order, once each
    lower, upper = supply_ids[0] - 1, supply_ids[-1]
    if not is_postgresql() or upper - lower <= len(supply_ids) + len(supply_ids) // 8:
        # The chunk's range of ids alone. Its supplies lie in it, among others that have no
        # row in the file: those are read (and locked) too and left as they were. No other
        # chunk can hold them (the rows come in supply order, so the chunks' ranges are
        # disjoint), and a submission for one waits for this commit as for the chunk's own.
        # Always on SQLite, where a list of ids could pass its limit of parameters. On
        # PostgreSQL when nearly every id of the range is the chunk's (a file covering its
        # supplies): a list would cost more than those few, since the planner estimates each
        # of its thousands of elements, in each of the chunk's three statements.
        params: list[Any] = [lower, upper]

        def within(column: str) -> str:
            return f"{column} > %s AND {column} <= %s"

    elif upper - lower <= 2 * len(supply_ids):
        # Most ids of the range are the chunk's: the range read through the index, each row
        # checked against the ids by hashing (`+ 0` keeps the list out of the index's
        # condition, where each id would be a descent of its own).
        ids = "{" + ",".join(map(str, supply_ids)) + "}"
        params = [lower, upper, ids]

        def within(column: str) -> str:
            return f"{column} > %s AND {column} <= %s AND {column} + 0 = ANY(%s::bigint[])"

    else:
        # Few supplies over a wide range: each looked up on its own.
        params = ["{" + ",".join(map(str, supply_ids)) + "}"]

        def within(column: str) -> str:
            return f"{column} IN (SELECT unnest(%s::bigint[]))"

    supply_table, meter_table = Supply._meta.db_table, Meter._meta.db_table
    reading_table = Reading._meta.db_table
    with transaction.atomic():
        if is_postgresql():
            # The lock `reading_submit` takes, taken in supply order: the supplies' meters
            # and last valid readings cannot change under us.
            execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {supply_table} p WHERE {within('p.id')} "
                "ORDER BY p.id FOR UPDATE) locked",
                params,
            )
        meters: dict[int, list[_Meter]] = {}
        meters_of = meters.setdefault
        q4_last, limits = None, None  # most meters of a chunk share a flow rate
        for supply_id, meter_id, digits, installed_on, initial, removed_on, final, q4 in fetch(
            "SELECT m.supply_id, m.id, m.digits, m.installed_on, m.initial_reading, "
            f"m.removed_on, m.final_reading, m.q4_m3h FROM {meter_table} m "
            f"WHERE {within('m.supply_id')} ORDER BY m.supply_id, m.installed_on",
            params,
        ):
            if limits is None or q4 != q4_last:
                q4_last, limits = q4, rules.limits(q4)
            if type(installed_on) is not date:
                installed_on = as_date(installed_on)
            if removed_on is not None and type(removed_on) is not date:
                removed_on = as_date(removed_on)
            meters_of(supply_id, []).append(
                _Meter(meter_id, digits, installed_on, initial, removed_on, final, limits)
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
            [*params, Source.OPERATOR.value, Source.REMOTE.value],
        ):
            on = as_date(read_on)
            taken.add((supply_id, on, value, source))
            if status != _ACCEPTED:
                continue
            days = history.setdefault(supply_id, {}).setdefault(meter_id, [])
            if not days or days[-1][0] != on:  # the first of a day is its R8 winner
                days.append((on, value, _RANK[source]))

        _readings_write(
            reading_table, _assess(rows, meters, history, taken, rules, log, result), rules
        )
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
    """The readings to store for the chunk's rows (`_READING_COLUMNS` tuples), in supply
    and date order; the rows refused go into `log`. A generator, so the COPY streams while
    the rules run."""
    state: _SupplyState | None = None
    current: int | None = None
    taken: dict[tuple[date, int, str], int] = {}  # this supply's readings so far: line
    check_digits = parsing.check_reading_digits
    meters_of, history_of = meters.get, history.get
    cma_defaults, default_cma = rules.cma_defaults, rules.default_cma
    no_meter: list[_Meter] = []
    accepted = under_review = 0
    discarded = result.discarded
    for line, read_on, value, source, supply_id, usage, _code in rows:
        if supply_id != current:
            current = supply_id
            readings = history_of(supply_id)
            state = _SupplyState(
                meters_of(supply_id, no_meter),
                {} if readings is None else readings,
                cma_defaults.get(usage) or default_cma(usage),
                rules,
            )
            taken = {}
        assert state is not None
        day = read_on if type(read_on) is date else as_date(read_on)
        key = (day, value, source)
        if already_taken and (supply_id, day, value, source) in already_taken:
            log.add(line, [FieldError("row", "duplicate")])
            continue
        if key in taken:
            log.add(line, [FieldError("row", "duplicate", {"first_line": taken[key]})])
            continue
        fitted = state.meters
        if len(fitted) == 1 and fitted[0].in_service_on(day):  # nearly every row
            meter: _Meter | None = fitted[0]
        else:
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
        # R3 is met already: the row's date is not after today (checked as it was parsed)
        # and the meter was installed by then (it is the meter in service on that day).
        try:
            check_digits(value, meter.digits)
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
            # The meter's last valid reading, or its installation reading if none came since.
            known = state.readings.get(meter.id)
            cma_m3 = state.known_cma
            assessment = assess_reading(
                value=value,
                read_on=day,
                last=LastReading(known[-1][0], known[-1][1])
                if known
                else LastReading(meter.installed_on, meter.initial_reading),
                digits=meter.digits,
                cma_m3=state.cma() if cma_m3 is None else cma_m3,
                limits=meter.limits,
            )
            outcome, why = assessment.status, assessment.reason
            status = (
                _ACCEPTED
                if outcome is _RULE_ACCEPTED
                else _UNDER_REVIEW
                if outcome is _RULE_UNDER_REVIEW
                else _STATUS_TEXT[outcome]
            )
            reason = None if why is None else _REASON_TEXT[why]
            consumption, rollover = assessment.consumption_m3, assessment.rollover
        if status == _ACCEPTED:
            accepted += 1
            state.accept(meter, day, value, _RANK[source])
        elif status == _UNDER_REVIEW:
            under_review += 1
        else:
            assert reason is not None
            discarded[reason] = discarded.get(reason, 0) + 1
        yield (supply_id, meter.id, day, value, source, status, reason, consumption, rollover)
    result.accepted += accepted
    result.under_review += under_review
