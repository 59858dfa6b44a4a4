"""The bulk paths' shared machinery: streaming a CSV file, staging it in a temporary table,
set-based writes, and the log of refused rows with their line numbers.

Used by the imports of customers and of readings. Memory depends on the chunk size, never on
the size of the file.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gc
import io
import json
import operator
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import IO, Any, BinaryIO, NamedTuple, cast

from django.db import connection, transaction
from django.utils.translation import gettext as _

from autolettura.db import insert_rows, is_postgresql
from autolettura.readings.messages import error_message
from autolettura.rules.errors import FieldError

DEFAULT_CHUNK_SIZE = 20_000

# (stage, rows done since the last call, total rows of the stage or None when unknown)
Progress = Callable[[str, int, int | None], None]


class ImportFileError(Exception):
    """The file cannot be imported at all: unreadable, or its header lacks columns."""


# --- Refused rows -------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why one row of the file was not taken: the field, a stable code, message values."""

    line: int
    field: str
    code: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


# Import-specific codes; R1 to R3 codes are worded by `readings.messages.error_message`.
def _import_messages() -> dict[str, str]:
    return {
        "row_invalid": _("The row cannot be read as CSV: %(detail)s."),
        "columns_count": _("The row has %(found)s columns instead of %(expected)s."),
        "encoding_invalid": _("The row is not valid UTF-8 text: save the file as UTF-8."),
        "too_long": _("The %(field)s is longer than %(max)s characters."),
        "email_invalid": _("The e-mail address is not valid."),
        "usage_invalid": _(
            "The usage must be one of domestic_resident, domestic_other or business."
        ),
        "household_members_invalid": _(
            "The household members must be a whole number from 1 to 99."
        ),
        "meter_digits_invalid": _("The meter digits must be a whole number from 1 to 9."),
        "fiscal_code_invalid": _(
            "The fiscal code is not a person's codice fiscale (16 characters): check it, or "
            "leave it empty."
        ),
        "fiscal_code_check": _(
            "The fiscal code's last letter does not match the others: it was mistyped."
        ),
        "meter_radio_id_in_use": _(
            "The radio id %(radio_id)s is already on meter %(serial)s: each meter in service "
            "has its own."
        ),
        "meter_radio_id_invalid": _(
            "The meter's radio id must be letters and digits only, at most 32 (the wM-Bus id "
            "or the LoRaWAN DevEUI, e.g. 70b3d5e75e000001)."
        ),
        "duplicate_in_file": _(
            "The supply %(supply_code)s is already on line %(first_line)s of this file."
        ),
        "meter_duplicate_in_file": _(
            "The meter %(serial)s is already on line %(first_line)s of this file."
        ),
        "supply_other_holder": _(
            "The supply %(supply_code)s already exists and is held by customer "
            "%(holder)s: a change of holder is made in the back office, not by import."
        ),
        "meter_differs": _(
            "The supply %(supply_code)s already exists with meter %(serial)s in service: a "
            "meter replacement is made in the back office, not by import."
        ),
        "meter_in_use": _("The meter %(serial)s is in service on supply %(supply_code)s."),
        "supply_unknown": _("No supply has the code %(supply_code)s."),
        "source_invalid": _("The source must be operator or self."),
        "no_meter_on_date": _("No meter was in service on this supply on the reading date."),
        "duplicate": _("The same reading (supply, date, value and source) has already been taken."),
    }


def _field_messages() -> dict[tuple[str, str], str]:
    # The R3 wording speaks of the reading date; these fields are other dates.
    return {
        ("meter_installed_on", "date_invalid"): _(
            "Write the meter's installation date as yyyy-mm-dd or dd/mm/yyyy, with a "
            "four-digit year."
        ),
        ("meter_installed_on", "date_in_future"): _(
            "The meter's installation date cannot be after today."
        ),
    }


def _variant(refusal: Refusal) -> str | None:
    if refusal.code == "duplicate" and "first_line" in refusal.params:
        return _("The same reading is already on line %(first_line)s of this file.")
    return None


def refusal_message(refusal: Refusal) -> str:
    """What was wrong with a refused row, in plain words, in the active language."""
    text = _variant(refusal) or _field_messages().get((refusal.field, refusal.code))
    text = text or _import_messages().get(refusal.code)
    if text is None:
        return error_message(FieldError(refusal.field, refusal.code, refusal.params))
    return text % {"field": refusal.field, **refusal.params}


class Refusals:
    """The refused rows in line order, read back from a temporary file.

    A file full of bad rows must not fill memory, so they are kept on disk.
    """

    def __init__(self, store: IO[str]) -> None:
        self._store = store

    def __iter__(self) -> Iterator[Refusal]:
        self._store.seek(0)
        for text in self._store:
            line, field_name, code, params = json.loads(text)
            yield Refusal(line, field_name, code, _params_load(params))


def _params_dump(params: Mapping[str, Any]) -> str:
    return json.dumps({k: v.isoformat() if isinstance(v, date) else v for k, v in params.items()})


def _params_load(text: str) -> dict[str, Any]:
    # Dates travel as ISO text; the keys that hold one are named like the date fields.
    params: dict[str, Any] = json.loads(text)
    for key, value in params.items():
        if key.endswith("_on") and isinstance(value, str):
            params[key] = date.fromisoformat(value)
    return params


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a bulk path, back as it was after.

    A bulk path makes millions of short-lived tuples and no reference cycles; the collector,
    set off by the allocations alone, walked every live object again and again: a quarter of
    an import's CPU. What is freed by reference counting is freed all the same."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- The database side: temporary tables and bulk writes -----------------------------------


def bulk_write(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write rows into `table` in one round: COPY on PostgreSQL, executemany elsewhere."""
    return insert_rows(table, columns, rows)


def execute(sql: str, params: Sequence[Any] = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def fetch_stream(
    sql: str, params: Sequence[Any] = (), batch: int = 5000
) -> Iterator[tuple[Any, ...]]:
    """The rows of a query that may be large, a batch at a time: a server-side cursor on
    PostgreSQL (hence the transaction), SQLite's own stepping elsewhere."""
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(batch):
            yield from rows


def fetch_batches(
    sql: str, params: Sequence[Any] = (), batch: int = 5000
) -> Iterator[list[tuple[Any, ...]]]:
    """As fetch_stream, the rows a batch (a list) at a time."""
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(batch):
            yield rows


def temp_table_create(name: str, columns: str, *indexes: str) -> None:
    """A temporary table private to this connection, empty, with its indexes."""
    execute(f"DROP TABLE IF EXISTS {name}")
    execute(f"CREATE TEMPORARY TABLE {name} ({columns})")
    for number, index in enumerate(indexes):
        execute(f"CREATE INDEX {name}_{number} ON {name} ({index})")


def temp_table_drop(*names: str) -> None:
    # Connections are reused (CONN_MAX_AGE): leave nothing behind for the next import.
    for name in names:
        execute(f"DROP TABLE IF EXISTS {name}")


def temp_table_analyze(name: str) -> None:
    # Temporary tables are never analysed automatically; without statistics PostgreSQL
    # plans the chunk joins as if the staging table were empty.
    if is_postgresql():
        execute(f"ANALYZE {name}")


class RefusalLog:
    """Collects refused rows in a temporary table; `finish` hands them back by line."""

    TABLE = "autolettura_import_refusal"

    def __init__(self) -> None:
        temp_table_create(self.TABLE, "line integer, field text, code text, params text", "line")
        self._pending: list[tuple[int, str, str, str]] = []
        self.rows = 0
        self.by_code: dict[str, int] = {}

    def add(self, line: int, errors: Iterable[FieldError]) -> None:
        """One refused row; a row may have several errors, each is reported."""
        self.rows += 1
        for error in errors:
            self._pending.append((line, error.field, error.code, _params_dump(error.params)))
            self.by_code[error.code] = self.by_code.get(error.code, 0) + 1

    def flush_if_large(self) -> None:
        """Flush when many wait; not while a COPY is open on the connection."""
        if self.many_pending():
            self.flush()

    def many_pending(self) -> bool:
        """Enough refused rows wait in memory that they should be written now."""
        return len(self._pending) >= 5000

    def flush(self) -> None:
        if self._pending:
            bulk_write(self.TABLE, ("line", "field", "code", "params"), self._pending)
            self._pending = []

    def not_refused(self, alias: str) -> str:
        """SQL that holds for a line of table `alias` not refused so far."""
        self.flush()
        return f"NOT EXISTS (SELECT 1 FROM {self.TABLE} r WHERE r.line = {alias}.line)"

    def discard(self) -> None:
        """Drop what was collected: the import stopped."""
        self._pending = []
        temp_table_drop(self.TABLE)

    def finish(self) -> Refusals:
        self.flush()
        # Kept open by the Refusals that read it back, and deleted with them.
        store = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        store.writelines(
            json.dumps(list(row)) + "\n"
            for row in fetch_stream(
                f"SELECT line, field, code, params FROM {self.TABLE} ORDER BY line"
            )
        )
        temp_table_drop(self.TABLE)
        return Refusals(store)


# --- Reading the CSV file -------------------------------------------------------------------


class CsvRow(NamedTuple):
    line: int
    fields: tuple[str, ...]  # in the order of the expected columns


class CsvFile:
    """The data rows of a CSV file whose header names `columns` (in any order; extra
    columns are ignored), and the `optional` ones it may leave out (empty then). Rows that
    cannot be read are refused into `log`; blank lines are skipped and not counted.

    Raises ImportFileError when the header cannot be read or lacks columns.
    """

    def __init__(
        self,
        binary: IO[bytes],
        columns: Sequence[str],
        log: RefusalLog,
        optional: Sequence[str] = (),
    ) -> None:
        # Bytes that are not UTF-8 become lone surrogates instead of stopping the reading
        # halfway: the row that holds them is refused (see _is_utf8), the others are taken.
        text = io.TextIOWrapper(
            cast(BinaryIO, binary), encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        self._reader = csv.reader(text)
        self._log = log
        self.rows_read = 0
        try:
            header = next(self._reader)
        except StopIteration:
            raise ImportFileError(_("The file is empty: it has no header row.")) from None
        except (csv.Error, OSError) as exc:
            raise ImportFileError(_("The header row cannot be read: %s") % exc) from None
        if not _is_utf8(header):
            raise ImportFileError(_("The file is not UTF-8 text."))
        names = [name.strip().lower() for name in header]
        missing = [column for column in columns if column not in names]
        if missing:
            message = _("The header lacks the columns: %(missing)s. Expected: %(expected)s.") % {
                "missing": ", ".join(missing),
                "expected": ",".join(columns),
            }
            if len(names) == 1 and ";" in names[0]:
                # What a spreadsheet saves as "CSV" in an Italian locale.
                message += " " + _("The columns seem separated by semicolons: use commas.")
            raise ImportFileError(message)
        # Two columns at least, so the getter always gives a tuple. An optional column the
        # header lacks reads as empty: its index is one past the row, where "" is appended.
        assert len(columns) >= 2
        self._width = len(names)
        self._pad = any(column not in names for column in optional)
        indexes = [
            *(names.index(column) for column in columns),
            *(names.index(column) if column in names else self._width for column in optional),
        ]
        self._pick = operator.itemgetter(*indexes)
        # A header of the expected columns, in their order, and nothing more: the fields are
        # taken as read.
        self._as_read = indexes == list(range(self._width))

    def __iter__(self) -> Iterator[CsvRow]:
        for batch in self.batches(1000):
            for line, fields in batch:
                yield CsvRow(line, tuple(fields))

    def batches(self, size: int) -> Iterator[list[tuple[int, Sequence[str]]]]:
        """The data rows a list of up to `size` at a time, each as (line, fields in the
        order of the expected columns): as iterating the file, at less cost a row. The rows
        that cannot be read are refused into the log as the batch they are in is read."""
        reader, log = self._reader, self._log
        pick, width, pad, as_read = self._pick, self._width, self._pad, self._as_read
        previous = reader.line_num
        more = True
        while more:
            lines: list[int] = []
            rows: list[list[str]] = []
            more = False
            try:
                for fields in reader:
                    # A quoted field may span lines: the row starts right after the previous.
                    line = previous + 1
                    previous = reader.line_num
                    if any(fields):  # a blank line is skipped, not counted
                        lines.append(line)
                        rows.append(fields)
                        if len(rows) >= size:
                            more = True
                            break
            except csv.Error as exc:
                self.rows_read += 1
                log.add(reader.line_num, [FieldError("row", "row_invalid", {"detail": str(exc)})])
                previous = reader.line_num
                more = True
            if not rows:
                continue
            self.rows_read += len(rows)
            # Nearly every batch is ASCII: one C call for all its rows.
            ascii = "".join(map("".join, rows)).isascii()
            batch: list[tuple[int, Sequence[str]]] = []
            for line, fields in zip(lines, rows, strict=True):
                if not (ascii or _is_utf8(fields)):
                    log.add(line, [FieldError("row", "encoding_invalid")])
                elif len(fields) != width:
                    found = {"found": len(fields), "expected": width}
                    log.add(line, [FieldError("row", "columns_count", found)])
                elif as_read:
                    batch.append((line, fields))
                else:
                    batch.append((line, pick([*fields, ""] if pad else fields)))
            if batch:
                yield batch


def _is_utf8(fields: Sequence[str]) -> bool:
    """False when the fields hold bytes that were not UTF-8 (as lone surrogates)."""
    text = "".join(fields)
    if text.isascii():  # nearly every row, at the cost of one C call
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def chunked(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def as_date(value: Any) -> date:
    """A date from the database: SQLite hands back text where an expression hides the type."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
