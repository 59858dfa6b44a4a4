"""Set-based writes shared by the bulk paths (imports, bill runs), and the columns of the
queries the submission path writes once instead of having the ORM build them each time.

On PostgreSQL rows go in with COPY; elsewhere (SQLite) with one executemany per batch.
Either way there is no ORM object per row.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def storable(value: Any) -> Any:
    """Text, or decoded JSON, with every NUL character dropped from its strings and keys.

    PostgreSQL stores no NUL, in text or in JSON: what a channel or a file brings is kept
    (in the inbound log, in a row) without it, rather than failing the whole write.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    return value


def insert_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert `rows` (tuples in `columns` order) into `table`; returns how many."""
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    count = 0
    with connection.cursor() as cursor:
        if is_postgresql():
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        batch: list[Sequence[Any]] = []
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {connection.ops.quote_name(table)} ({quoted}) VALUES ({placeholders})"
        for row in rows:
            batch.append(row)
            if len(batch) >= 5000:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


# What COPY's text format escapes: its delimiter, line ends and the escape itself.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_value(value: Any) -> str:
    """`value` in COPY's text format, as psycopg would send it: None as \\N, text escaped,
    numbers, dates and datetimes (with their offset) as str() writes them."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        # Most text has nothing to escape: four scans cost a tenth of a translation.
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_COPY_ESCAPES)
        return value
    return str(value)


def copy_text(table: str, columns: Sequence[str], text: str) -> None:
    """PostgreSQL only: COPY `text`, rows already in COPY's text format (values made with
    copy_value, tab-separated, each row ending in a newline), into `table`. For the bulk
    paths that format many similar rows at once, far cheaper than insert_rows."""
    if not is_postgresql():
        raise NotImplementedError("copy_text needs PostgreSQL; use insert_rows")
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
            copy.write(text)


def copy_text_stream(table: str, columns: Sequence[str], pieces: Iterable[str]) -> None:
    """PostgreSQL only: as copy_text, the rows given in pieces (each of whole rows), sent as
    they are made, so that PostgreSQL stores the first ones while the next are worked out."""
    if not is_postgresql():
        raise NotImplementedError("copy_text_stream needs PostgreSQL; use insert_rows")
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
            for piece in pieces:
                copy.write(piece)


def allocate_ids(model: type[Model], count: int) -> list[int]:
    """`count` new primary keys for `model`, so rows that refer to each other can be
    written with COPY in one pass."""
    if count == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if is_postgresql():
            # The sequence's name first: looked up in the same query, it is looked up again
            # for every id.
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            (sequence,) = cursor.fetchone()
            cursor.execute(
                "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count]
            )
            return [row[0] for row in cursor.fetchall()]
        # SQLite: ids above the current maximum; the caller's transaction holds the write
        # lock (IMMEDIATE), so no other writer can take them meanwhile.
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}")
        (top,) = cursor.fetchone()
        return list(range(top + 1, top + 1 + count))


def counter_advance(
    model: type[Model], key: int, *, by: int = 1, field: str = "last_number"
) -> int:
    """Move a per-year counter row (`model`, primary key `key`) on by `by`; returns its new
    value. Inside the caller's transaction: a rollback gives the numbers back, so numbers
    are never given twice, and the row's lock is held only until that commit."""
    # One upsert: the year's first number creates the row, every later one moves it on.
    first = model(pk=key)
    setattr(first, field, getattr(first, field) + by)
    fields = model._meta.concrete_fields
    table = connection.ops.quote_name(model._meta.db_table)
    (target,) = [f for f in fields if f.name == field]
    column = connection.ops.quote_name(target.column)
    pk = connection.ops.quote_name(model._meta.pk.column)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
            f"ON CONFLICT ({pk}) DO UPDATE SET {column} = {table}.{column} + %s "
            f"RETURNING {column}",
            [*(f.get_db_prep_save(getattr(first, f.attname), connection) for f in fields), by],
        )
        (value,) = cursor.fetchone()
    return int(value)


def insert_or_ignore(model: type[Model], values: dict[str, Any]) -> int | None:
    """Insert one row of `model` (`values` by field name, the rest left to the database)
    unless it would break a unique constraint: one statement, no savepoint. Returns the new
    row's primary key, or None when an equal row already exists (or is being committed)."""
    sql, fields = _insert_or_ignore_sql(connection.vendor, model, tuple(values))
    params = [f.get_db_prep_save(values[f.name], connection) for f in fields]
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


@functools.cache
def _insert_or_ignore_sql(
    vendor: str, model: type[Model], names: tuple[str, ...]
) -> tuple[str, list[Any]]:
    """insert_or_ignore's statement and fields, written once a process for each model and
    set of fields (every submission logs its inbound message with the same ones)."""
    by_name = {f.name: f for f in model._meta.concrete_fields}
    fields = [by_name[name] for name in names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT DO NOTHING RETURNING {quote(model._meta.pk.column)}"
    )
    return sql, fields


# --- Queries written once: the hot path's SQL without the ORM building it each time -------


def hot_cursor() -> Any:
    """The cursor for the statements written once a process that every submission runs.

    On PostgreSQL the server prepares each the first time a connection runs it, and its
    parameters travel apart from its text (`postgresql/base.py`): measured in process on a
    submission, about half of PostgreSQL's CPU and a fifth of the process's saved
    (benchmarks/RESULTS.md). Elsewhere, Django's cursor.
    """
    prepared = getattr(connection, "prepared_cursor", None)
    return connection.cursor() if prepared is None else prepared()


class ModelColumns:
    """A model's columns (all its concrete ones, or those of `names`) as the ORM selects
    them (`alias`.column, ...), and their values or the model's instance from such columns
    of a row, with the ORM's own conversions (the backend's and each field's from_db_value:
    aware datetimes, dates, decimals and JSON on SQLite alike), as a queryset gives them."""

    def __init__(self, model: type[Model], alias: str, names: Sequence[str] = ()) -> None:
        quote = connection.ops.quote_name
        concrete = {field.name: field for field in model._meta.concrete_fields}
        fields = [concrete[name] for name in names] if names else list(concrete.values())
        self.model = model
        self.width = len(fields)
        self.attnames = [field.attname for field in fields]
        self.sql = ", ".join(f"{quote(alias)}.{quote(field.column)}" for field in fields)
        self._converters = []
        for index, field in enumerate(fields):
            column = field.get_col(alias)
            # As the compiler's get_converters: the backend's, then the field's own.
            own = field.get_db_converters(connection)  # type: ignore[attr-defined]
            found = connection.ops.get_db_converters(column) + own
            if found:
                self._converters.append((index, column, found))

    def values(self, row: Sequence[Any], start: int = 0) -> list[Any]:
        """The converted values of row[start : start + width]."""
        values = list(row[start : start + self.width])
        for index, column, converters in self._converters:
            value = values[index]
            for converter in converters:
                value = converter(value, column, connection)
            values[index] = value
        return values

    def instance(self, row: Sequence[Any], start: int = 0) -> Any:
        """The model's instance from row[start : start + width]."""
        return self.model.from_db(connection.alias, self.attnames, self.values(row, start))


def column_names(model: type[Model]) -> dict[str, str]:
    """The model's fields by name, as quoted column names, to write its SQL with."""
    quote = connection.ops.quote_name
    return {field.name: quote(field.column) for field in model._meta.concrete_fields}


_COLUMNS: dict[tuple[str, type[Model], str, tuple[str, ...]], ModelColumns] = {}


def model_columns(model: type[Model], alias: str, names: Sequence[str] = ()) -> ModelColumns:
    """`ModelColumns` of `model` under `alias`, made once a process and database."""
    key = (connection.vendor, model, alias, tuple(names))
    found = _COLUMNS.get(key)
    if found is None:
        found = _COLUMNS[key] = ModelColumns(model, alias, names)
    return found
