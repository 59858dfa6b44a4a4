"""Bulk import of customers, their supplies and meters (DESIGN.md section 7).

The file is streamed: each row is checked on its own (codes, dates, numbers) and the good
ones go, a chunk at a time, into a temporary staging table (COPY on PostgreSQL, executemany
elsewhere). What needs the whole file (a supply or a meter named twice) is then found in
SQL, and the rows are applied chunk by chunk with a few set-based statements each, never
an ORM save per row. Memory depends on the chunk size, not on the file.

The staging machinery, shared with the readings import, is in `autolettura.bulk`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from autolettura.bulk import (
    DEFAULT_CHUNK_SIZE,
    CsvFile,
    CsvRow,
    Progress,
    Refusal,
    RefusalLog,
    bulk_write,
    chunked,
    execute,
    fetch,
    fetch_stream,
    temp_table_analyze,
    temp_table_create,
    temp_table_drop,
)
from autolettura.customers.models import Customer, Meter, Supply, Usage
from autolettura.customers.services import supply_user_codes_assign
from autolettura.db import storable
from autolettura.rules import parsing
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.fiscal_code import normalize_fiscal_code
from autolettura.rules.window import rome_today

CUSTOMER_COLUMNS = (
    "customer_code",
    "supply_code",
    "name",
    "email",
    "phone",
    "address",
    "usage",
    "household_members",
    "meter_serial",
    "meter_digits",
    "meter_installed_on",
    "initial_reading",
)
# Columns a file may leave out: the holder's codice fiscale (SPID and CIE sign-ins find the
# customer by it), a remotely read meter's radio id (wM-Bus id or LoRaWAN DevEUI), and the
# condominium the supply belongs to (its supplies are visited together, as one user).
CUSTOMER_OPTIONAL_COLUMNS = ("fiscal_code", "meter_radio_id", "condominium")
USAGES = {
    "domestic_resident": Usage.DOMESTIC_RESIDENT,
    "domestic_other": Usage.DOMESTIC_OTHER,
    "business": Usage.BUSINESS,
}
# --- Customers --------------------------------------------------------------------------------

_STAGE = "autolettura_import_customer"
_STAGE_COLUMNS = (
    "line",
    "customer_code",
    "supply_code",
    "name",
    "email",
    "phone",
    "address",
    "usage",
    "household_members",
    "meter_serial",
    "meter_digits",
    "installed_on",
    "initial_reading",
    "fiscal_code",
    "radio_id",
    "condominium",
)
_CUSTOMER_UPDATE = "autolettura_import_customer_update"


@dataclass
class CustomersImportResult:
    """What an import of customers did. `refusals` lists each refused row by line."""

    rows_read: int = 0
    supplies_created: int = 0
    supplies_present: int = 0  # already there, same holder and meter: left as they are
    customers_created: int = 0
    customers_updated: int = 0
    refused: int = 0
    refused_by_code: dict[str, int] = dataclasses.field(default_factory=dict)
    refusals: Iterable[Refusal] = ()

    @property
    def taken(self) -> int:
        return self.supplies_created + self.supplies_present


def customers_import(
    *,
    file: IO[bytes],
    now: datetime,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
    billing_starts_on: date | None = None,
) -> CustomersImportResult:
    """Load customers, supplies and meters from a CSV file in the format of DESIGN.md
    section 7.

    A row creates or updates the customer (name, e-mail, phone) and creates the supply,
    active from the meter's installation, with its meter. A supply already there with the
    same holder and meter is left as it is, so importing a file again changes nothing. Bad
    rows are refused and reported by line; the others are taken all the same. Each chunk
    is applied in its own transaction.

    `billing_starts_on`: the supplies created are billed from that day (the day after the
    last period the utility's previous system billed), not from their activation.

    Raises ImportFileError when the file cannot be read or its header lacks columns.
    """
    today = rome_today(now)
    result = CustomersImportResult()
    log = RefusalLog()
    temp_table_create(
        _STAGE,
        "line integer PRIMARY KEY, customer_code text, supply_code text, name text, "
        "email text, phone text, address text, usage text, household_members integer, "
        "meter_serial text, meter_digits integer, installed_on date, initial_reading bigint, "
        "fiscal_code text, radio_id text, condominium text",
    )
    try:
        source = CsvFile(file, CUSTOMER_COLUMNS, log, optional=CUSTOMER_OPTIONAL_COLUMNS)
        default_digits = settings.AUTOLETTURA_METER_DIGITS
        staged = 0
        for chunk in chunked(source, chunk_size):
            good = []
            for row in chunk:
                parsed = _customer_row(row, today, default_digits, log)
                if parsed is not None:
                    good.append(parsed)
            staged += bulk_write(_STAGE, _STAGE_COLUMNS, good)
            log.flush()
            if progress:
                progress(_("reading"), len(chunk), None)
        result.rows_read = source.rows_read
        execute(f"CREATE INDEX {_STAGE}_supply ON {_STAGE} (supply_code, line)")
        execute(f"CREATE INDEX {_STAGE}_serial ON {_STAGE} (meter_serial, line)")
        temp_table_analyze(_STAGE)
        _refuse_duplicates_in_file(log)
        temp_table_create(
            _CUSTOMER_UPDATE,
            "customer_code text PRIMARY KEY, name text, email text, phone text, fiscal_code text",
        )
        last = 0
        while True:
            bounds = fetch(
                f"SELECT line FROM {_STAGE} WHERE line > %s ORDER BY line LIMIT 1 OFFSET %s",
                [last, chunk_size - 1],
            )
            upper = bounds[0][0] if bounds else None
            done = _customers_apply_chunk(last, upper, now, log, result, billing_starts_on)
            if progress and done:
                progress(_("applying"), done, staged)
            if upper is None:
                break
            last = upper
    except BaseException:
        log.discard()
        raise
    finally:
        temp_table_drop(_STAGE, _CUSTOMER_UPDATE)
    result.refused = log.rows
    result.refused_by_code = dict(log.by_code)
    result.refusals = log.finish()
    return result


def _check(
    errors: list[FieldError], parse: Callable[..., Any], *args: Any, rename: str = "", **kw: Any
) -> Any:
    """Run one parser of `autolettura.rules`, adding its errors (under the file's column
    name when `rename` is given) instead of stopping at the first."""
    try:
        return parse(*args, **kw)
    except FormatError as exc:
        errors.extend(FieldError(rename or e.field, e.code, e.params) for e in exc.errors)
        return None


def _customer_row(
    row: CsvRow, today: date, default_digits: int, log: RefusalLog
) -> tuple[Any, ...] | None:
    """One row checked on its own: the staging tuple, or None when refused into `log`."""
    (
        customer_code,
        supply_code,
        name,
        email,
        phone,
        address,
        usage,
        members,
        serial,
        digits_text,
        installed_text,
        initial_text,
        fiscal_text,
        radio_text,
        condominium_text,
    ) = row.fields
    errors: list[FieldError] = []
    customer = _check(errors, parsing.normalize_code, customer_code, field="customer_code")
    supply = _check(errors, parsing.normalize_code, supply_code, field="supply_code")
    name = _text(name, "name", 200, errors, required=True)
    email = _text(email, "email", 254, errors)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.append(FieldError("email", "email_invalid"))
    phone = _text(phone, "phone", 32, errors)
    address = _text(address, "address", 300, errors, required=True)
    usage_value = USAGES.get(usage.strip().lower())
    if not usage.strip():
        errors.append(FieldError("usage", "required"))
    elif usage_value is None:
        errors.append(FieldError("usage", "usage_invalid"))
    household = _small_int(members, "household_members", 1, 99, 3, errors)
    serial = _text(serial, "meter_serial", 40, errors, required=True)
    digits = _small_int(digits_text, "meter_digits", 1, 9, default_digits, errors)
    installed_on = _check(
        errors, parsing.parse_read_on, installed_text, rename="meter_installed_on"
    )
    if installed_on is not None:
        _check(
            errors,
            parsing.check_read_on,
            installed_on,
            today=today,
            meter_installed_on=None,
            rename="meter_installed_on",
        )
    initial = 0
    if initial_text.strip():
        initial = _check(
            errors,
            parsing.parse_reading_value,
            initial_text,
            digits=digits or default_digits,
            rename="initial_reading",
        )
    fiscal_code = ""
    if fiscal_text.strip():
        fiscal_code = _check(errors, normalize_fiscal_code, storable(fiscal_text))
    radio_id = radio_text.strip().lower() or None
    if radio_id is not None and not (
        len(radio_id) <= 32 and radio_id.isascii() and radio_id.isalnum()
    ):
        errors.append(FieldError("meter_radio_id", "meter_radio_id_invalid"))
    condominium = _text(condominium_text, "condominium", 40, errors)
    if errors:
        log.add(row.line, errors)
        return None
    return (
        row.line,
        customer,
        supply,
        name,
        email,
        phone,
        address,
        usage_value,
        household,
        serial,
        digits,
        installed_on,
        initial,
        fiscal_code,
        radio_id,
        condominium,
    )


def _text(
    value: str, name: str, limit: int, errors: list[FieldError], *, required: bool = False
) -> str:
    # A NUL would stop the whole import at the COPY.
    text = storable(value).strip()
    if required and not text:
        errors.append(FieldError(name, "required"))
    elif len(text) > limit:
        errors.append(FieldError(name, "too_long", {"max": limit}))
    return text


def _small_int(
    value: str, name: str, low: int, high: int, default: int, errors: list[FieldError]
) -> int | None:
    text = value.strip()
    if not text:
        return default
    if text.isascii() and text.isdigit() and low <= int(text) <= high:
        return int(text)
    errors.append(FieldError(name, f"{name}_invalid"))
    return None


def _refuse_duplicates_in_file(log: RefusalLog) -> None:
    """A supply or a meter named on two lines: the first is taken, the later refused.

    Found in SQL over the whole staged file, so that the file's size does not matter.
    """
    duplicates = fetch_stream(
        f"SELECT s.line, s.supply_code, MIN(e.line) FROM {_STAGE} s "
        f"JOIN {_STAGE} e ON e.supply_code = s.supply_code AND e.line < s.line "
        "GROUP BY s.line, s.supply_code"
    )
    for line, supply_code, first_line in duplicates:
        log.add(
            line,
            [
                FieldError(
                    "supply_code",
                    "duplicate_in_file",
                    {"supply_code": supply_code, "first_line": first_line},
                )
            ],
        )
        log.flush_if_large()
    log.flush()
    # A meter serial on two different supplies; the later lines are refused. Lines already
    # refused as a repeated supply are not counted twice.
    duplicates = fetch_stream(
        f"SELECT s.line, s.meter_serial, MIN(e.line) FROM {_STAGE} s "
        f"JOIN {_STAGE} e ON e.meter_serial = s.meter_serial AND e.line < s.line "
        f"WHERE {log.not_refused('s')} AND {log.not_refused('e')} "
        "GROUP BY s.line, s.meter_serial"
    )
    for line, serial, first_line in duplicates:
        log.add(
            line,
            [
                FieldError(
                    "meter_serial",
                    "meter_duplicate_in_file",
                    {"serial": serial, "first_line": first_line},
                )
            ],
        )
        log.flush_if_large()
    log.flush()


def _customers_apply_chunk(
    last: int,
    upper: int | None,
    now: datetime,
    log: RefusalLog,
    result: CustomersImportResult,
    billing_starts_on: date | None = None,
) -> int:
    """Apply the staged lines in (last, upper]: one transaction, a few statements."""
    where = "s.line > %s" + (" AND s.line <= %s" if upper is not None else "")
    params: list[Any] = [last] if upper is None else [last, upper]
    where += f" AND {log.not_refused('s')}"
    with transaction.atomic():
        rows = fetch(
            f"SELECT {', '.join('s.' + c for c in _STAGE_COLUMNS)} FROM {_STAGE} s "
            f"WHERE {where} ORDER BY s.line",
            params,
        )
        if not rows:
            return 0
        existing_customers = {
            code: (pk, name, email, phone, fiscal_code)
            for code, pk, name, email, phone, fiscal_code in fetch(
                "SELECT c.customer_code, c.id, c.name, c.email, c.phone, c.fiscal_code "
                f"FROM {Customer._meta.db_table} c WHERE c.customer_code IN "
                f"(SELECT s.customer_code FROM {_STAGE} s WHERE {where})",
                params,
            )
        }
        existing_supplies = {
            code: (holder, serial)
            for code, holder, serial in fetch(
                "SELECT p.supply_code, h.customer_code, m.serial "
                f"FROM {Supply._meta.db_table} p "
                f"JOIN {Customer._meta.db_table} h ON h.id = p.holder_id "
                f"LEFT JOIN {Meter._meta.db_table} m "
                "ON m.supply_id = p.id AND m.removed_on IS NULL "
                f"WHERE p.supply_code IN (SELECT s.supply_code FROM {_STAGE} s WHERE {where})",
                params,
            )
        }
        serials_in_use = dict(
            fetch(
                f"SELECT m.serial, p.supply_code FROM {Meter._meta.db_table} m "
                f"JOIN {Supply._meta.db_table} p ON p.id = m.supply_id "
                "WHERE m.removed_on IS NULL AND m.serial IN "
                f"(SELECT s.meter_serial FROM {_STAGE} s WHERE {where})",
                params,
            )
        )
        # Radio ids on meters in service: one meter answers to each.
        radio_in_use = dict(
            fetch(
                f"SELECT m.radio_id, m.serial FROM {Meter._meta.db_table} m "
                "WHERE m.removed_on IS NULL AND m.radio_id IN "
                f"(SELECT s.radio_id FROM {_STAGE} s WHERE {where} AND s.radio_id IS NOT NULL)",
                params,
            )
        )
        customers: dict[str, tuple[str, str, str, str]] = {}  # the last row's values win
        new_supplies = []
        radio_updates: list[tuple[str, str]] = []  # (radio id, serial) of meters present
        condominium_updates: list[tuple[str, str]] = []  # (condominium, supply code) present
        for row in rows:
            line, customer_code, supply_code, name, email, phone = row[:6]
            serial, fiscal_code, radio_id = row[9], row[13], row[14]
            present = existing_supplies.get(supply_code)
            error: FieldError | None = None
            if radio_id is not None and radio_in_use.get(radio_id, serial) != serial:
                error = FieldError(
                    "meter_radio_id",
                    "meter_radio_id_in_use",
                    {"radio_id": radio_id, "serial": radio_in_use[radio_id]},
                )
            elif present is not None and present[0] != customer_code:
                error = FieldError(
                    "supply_code",
                    "supply_other_holder",
                    {"supply_code": supply_code, "holder": present[0]},
                )
            elif present is not None and present[1] != serial:
                error = FieldError(
                    "meter_serial",
                    "meter_differs",
                    {"supply_code": supply_code, "serial": present[1] or "-"},
                )
            elif present is None and serial in serials_in_use:
                error = FieldError(
                    "meter_serial",
                    "meter_in_use",
                    {"serial": serial, "supply_code": serials_in_use[serial]},
                )
            if error is not None:
                log.add(line, [error])
                continue
            if not fiscal_code and customer_code in existing_customers:
                # No fiscal code in the file keeps the one stored (by a SPID or CIE sign-in).
                fiscal_code = existing_customers[customer_code][4]
            customers[customer_code] = (name, email, phone, fiscal_code)
            if radio_id is not None:
                radio_in_use[radio_id] = serial
            if present is None:
                new_supplies.append(row)
            else:
                result.supplies_present += 1
                if radio_id is not None:
                    radio_updates.append((radio_id, serial))
                if row[15]:
                    condominium_updates.append((row[15], supply_code))

        created = [
            (code, name, email, phone, fiscal_code, _default_language(), now)
            for code, (name, email, phone, fiscal_code) in customers.items()
            if code not in existing_customers
        ]
        changed = [
            (code, *values)
            for code, values in customers.items()
            if code in existing_customers and tuple(existing_customers[code][1:]) != values
        ]
        bulk_write(
            Customer._meta.db_table,
            ("customer_code", "name", "email", "phone", "fiscal_code", "language", "created_at"),
            created,
        )
        if changed:
            execute(f"DELETE FROM {_CUSTOMER_UPDATE}")
            bulk_write(
                _CUSTOMER_UPDATE,
                ("customer_code", "name", "email", "phone", "fiscal_code"),
                changed,
            )
            table = Customer._meta.db_table
            # An address confirmed in the customer area (the account's, own or added)
            # wins over the one on file: a new import must not send outcomes back to it.
            links = apps.get_model("portal", "LinkedCustomer")._meta.db_table
            execute(
                f"UPDATE {table} SET name = u.name, email = CASE WHEN {table}.user_id IS NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {links} l WHERE l.customer_id = {table}.id) "
                f"THEN u.email ELSE {table}.email END, "
                f"phone = u.phone, fiscal_code = u.fiscal_code FROM {_CUSTOMER_UPDATE} u "
                f"WHERE {table}.customer_code = u.customer_code"
            )
        result.customers_created += len(created)
        result.customers_updated += len(changed)

        if new_supplies:
            customer_ids = dict(
                fetch(
                    f"SELECT c.customer_code, c.id FROM {Customer._meta.db_table} c "
                    "WHERE c.customer_code IN "
                    f"(SELECT s.customer_code FROM {_STAGE} s WHERE {where})",
                    params,
                )
            )
            bulk_write(
                Supply._meta.db_table,
                (
                    "supply_code",
                    "holder_id",
                    "address",
                    "usage",
                    "household_members",
                    "activated_on",
                    "billing_starts_on",
                    "condominium",
                    "created_at",
                ),
                (
                    (
                        row[2],
                        customer_ids[row[1]],
                        row[6],
                        row[7],
                        row[8],
                        row[11],
                        billing_starts_on,
                        row[15],
                        now,
                    )
                    for row in new_supplies
                ),
            )
            supply_ids = dict(
                fetch(
                    f"SELECT p.supply_code, p.id FROM {Supply._meta.db_table} p "
                    f"WHERE p.supply_code IN (SELECT s.supply_code FROM {_STAGE} s WHERE {where})",
                    params,
                )
            )
            q4 = Decimal(settings.AUTOLETTURA_METER_Q4_M3H)
            bulk_write(
                Meter._meta.db_table,
                (
                    "supply_id",
                    "serial",
                    "digits",
                    "q4_m3h",
                    "installed_on",
                    "initial_reading",
                    "radio_id",
                ),
                (
                    (supply_ids[row[2]], row[9], row[10], q4, row[11], row[12], row[14])
                    for row in new_supplies
                ),
            )
            # The regulator's user code for each new supply, in the same transaction.
            supply_user_codes_assign()
            result.supplies_created += len(new_supplies)
        # A meter already there that has been given its radio module since.
        for radio_id, serial in radio_updates:
            Meter.objects.filter(serial=serial, removed_on__isnull=True).update(radio_id=radio_id)
        # A supply already there that the file now places in a condominium (a file without
        # the column, or with it empty, leaves the one stored).
        for condominium, supply_code in condominium_updates:
            Supply.objects.filter(supply_code=supply_code).exclude(condominium=condominium).update(
                condominium=condominium
            )
        log.flush()
    return len(rows)


def _default_language() -> str:
    return str(Customer._meta.get_field("language").default)
