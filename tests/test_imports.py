"""Bulk imports: customers with their supplies and meters, and readings.

Time is an input: the services take `now`, and the commands read it from the clock, which
the command tests pin. The June 2024 window runs from the 15th to the 30th.
"""

from __future__ import annotations

import gc
import io
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from autolettura import clock
from autolettura.bulk import ImportFileError
from autolettura.customers.imports import (
    CUSTOMER_COLUMNS,
    CustomersImportResult,
    customers_import,
)
from autolettura.customers.models import Customer, Meter, Supply, Usage
from autolettura.readings import imports
from autolettura.readings.imports import ReadingsImportResult, readings_import
from autolettura.readings.models import Reading
from tests.conftest import make_supply, rome

NOW = rome(2024, 9, 1, 10, 0)
CUSTOMERS_HEADER = ",".join(CUSTOMER_COLUMNS)
READINGS_HEADER = "supply_code,read_on,value,source"


def csv_file(header: str, *rows: str) -> io.BytesIO:
    return io.BytesIO("\n".join([header, *rows, ""]).encode())


def load_customers(*rows: str, **kw: Any) -> CustomersImportResult:
    return customers_import(file=csv_file(CUSTOMERS_HEADER, *rows), now=NOW, **kw)


def load_readings(*rows: str, **kw: Any) -> ReadingsImportResult:
    return readings_import(file=csv_file(READINGS_HEADER, *rows), now=NOW, **kw)


def refused(result: CustomersImportResult | ReadingsImportResult) -> list[tuple[int, str, str]]:
    return [(r.line, r.field, r.code) for r in result.refusals]


def stored(supply: Supply) -> list[tuple[Any, ...]]:
    return list(
        Reading.objects.filter(supply=supply)
        .order_by("read_on", "id")
        .values_list("read_on", "value", "status", "reason", "consumption_m3")
    )


def make_reading(supply: Supply, read_on: date, value: int, **fields: Any) -> Reading:
    fields.setdefault("source", "OPERATOR")
    fields.setdefault("status", "ACCEPTED")
    return Reading.objects.create(
        supply=supply,
        meter=supply.meters.get(),
        read_on=read_on,
        value=value,
        channel="COUNTER",
        submitted_at=NOW,
        **fields,
    )


GOOD_CUSTOMERS = (
    "U001,S001,Mario Rossi,mario@example.com,0131 111,Via Roma 1,domestic_resident,4,M001,5,"
    "2024-01-10,120",
    "U001,S002,Mario Rossi,mario@example.com,0131 111,Via Roma 2,domestic_other,,M002,,10/01/2024,",
    "U002,S003,Bar Sport,,,Piazza Garibaldi 3,business,1,M003,6,01/02/2024,005000",
)


@pytest.mark.django_db
class TestCustomersImport:
    def test_loads_customers_supplies_and_meters(self) -> None:
        result = load_customers(*GOOD_CUSTOMERS)

        assert (result.rows_read, result.supplies_created, result.refused) == (3, 3, 0)
        assert (result.customers_created, result.customers_updated) == (2, 0)
        assert list(Customer.objects.order_by("customer_code").values_list("customer_code")) == [
            ("U001",),
            ("U002",),
        ]
        first, second, third = Supply.objects.order_by("supply_code")
        assert (first.holder.customer_code, first.usage, first.household_members) == (
            "U001",
            Usage.DOMESTIC_RESIDENT,
            4,
        )
        assert (first.address, first.activated_on) == ("Via Roma 1", date(2024, 1, 10))
        assert (second.usage, second.household_members) == (Usage.DOMESTIC_OTHER, 3)
        assert third.usage == Usage.BUSINESS
        meter = first.meters.get()
        assert (meter.serial, meter.digits, meter.installed_on, meter.initial_reading) == (
            "M001",
            5,
            date(2024, 1, 10),
            120,
        )
        assert meter.q4_m3h == Decimal(settings.AUTOLETTURA_METER_Q4_M3H)
        default = second.meters.get()
        assert (default.digits, default.initial_reading) == (settings.AUTOLETTURA_METER_DIGITS, 0)
        assert (third.meters.get().digits, third.meters.get().initial_reading) == (6, 5000)

    def test_bills_the_supplies_it_creates_from_the_migration_date(self, tmp_path: Path) -> None:
        # A utility moving onto the platform: its previous system billed through 31 August.
        path = write(tmp_path, "customers.csv", CUSTOMERS_HEADER, *GOOD_CUSTOMERS[:2])
        out = io.StringIO()

        call_command(
            "import_customers", path, "--no-progress", "--billing-starts-on", "2024-09-01",
            stdout=out,
        )  # fmt: skip
        load_customers(*GOOD_CUSTOMERS[2:])

        starts = dict(Supply.objects.values_list("supply_code", "billing_starts_on"))
        assert starts == {"S001": date(2024, 9, 1), "S002": date(2024, 9, 1), "S003": None}

    def test_takes_the_good_rows_and_reports_each_bad_one_with_its_line(self) -> None:
        result = load_customers(
            GOOD_CUSTOMERS[0],  # line 2
            "U003,S004,Luca Verdi,,,Via Po 4,industrial,3,M004,5,2024-01-01,0",
            "U004,S005,Sara Neri,,,Via Po 5,domestic_resident,3,M005,5,31/02/2024,0",
            ",S006,Nessuno,,,Via Po 6,domestic_resident,3,M006,5,2024-01-01,0",
            "U005,S001,Anna Bianchi,,,Via Po 7,domestic_resident,3,M007,5,2024-01-01,0",
            GOOD_CUSTOMERS[2],  # line 7
            "U006,S008,Ugo Blu,not-an-email,,Via Po 8,business,3,M008,5,2024-01-01,0",
            "U007,S009,Eva Gialli,,,Via Po 9,business,3,M001,5,2024-01-01,0",
        )

        assert refused(result) == [
            (3, "usage", "usage_invalid"),
            (4, "meter_installed_on", "date_invalid"),
            (5, "customer_code", "required"),
            (6, "supply_code", "duplicate_in_file"),
            (8, "email", "email_invalid"),
            (9, "meter_serial", "meter_duplicate_in_file"),
        ]
        assert (result.rows_read, result.taken, result.refused) == (8, 2, 6)
        assert set(Supply.objects.values_list("supply_code", flat=True)) == {"S001", "S003"}
        assert Supply.objects.get(supply_code="S001").holder.customer_code == "U001"
        assert Meter.objects.count() == 2

    def test_importing_the_same_file_again_changes_nothing(self) -> None:
        load_customers(*GOOD_CUSTOMERS)
        before = (Customer.objects.count(), Supply.objects.count(), Meter.objects.count())

        again = load_customers(*GOOD_CUSTOMERS)

        assert (Customer.objects.count(), Supply.objects.count(), Meter.objects.count()) == before
        assert (again.supplies_created, again.supplies_present, again.refused) == (0, 3, 0)
        assert (again.customers_created, again.customers_updated) == (0, 0)

    def test_updates_a_customers_details_and_adds_new_supplies(self) -> None:
        load_customers(*GOOD_CUSTOMERS)

        result = load_customers(
            "U002,S003,Bar Sport Srl,bar@example.com,0131 222,Piazza Garibaldi 3,business,1,"
            "M003,6,01/02/2024,005000",
            "U002,S010,Bar Sport Srl,bar@example.com,0131 222,Via Nuova 10,business,1,M010,5,"
            "2024-03-01,0",
        )

        assert (result.supplies_created, result.supplies_present) == (1, 1)
        assert (result.customers_created, result.customers_updated) == (0, 1)
        customer = Customer.objects.get(customer_code="U002")
        assert (customer.name, customer.email, customer.phone) == (
            "Bar Sport Srl",
            "bar@example.com",
            "0131 222",
        )
        assert customer.supplies.count() == 2

    def test_refuses_a_supply_held_by_another_customer_or_with_another_meter(self) -> None:
        load_customers(*GOOD_CUSTOMERS)

        result = load_customers(
            "U009,S001,Altro,,,Via Roma 1,domestic_resident,3,M001,5,2024-01-10,120",
            "U001,S002,Mario Rossi,,,Via Roma 2,domestic_other,3,M999,5,2024-01-10,0",
            "U009,S011,Altro,,,Via Roma 11,domestic_resident,3,M003,5,2024-01-10,0",
        )

        assert refused(result) == [
            (2, "supply_code", "supply_other_holder"),
            (3, "meter_serial", "meter_differs"),
            (4, "meter_serial", "meter_in_use"),
        ]
        assert not Customer.objects.filter(customer_code="U009").exists()
        assert Supply.objects.get(supply_code="S001").holder.customer_code == "U001"

    def test_gives_the_same_answer_whatever_the_chunk_size(self) -> None:
        rows = (*GOOD_CUSTOMERS, GOOD_CUSTOMERS[1], "bad,row")

        result = load_customers(*rows, chunk_size=2)

        assert refused(result) == [
            (5, "supply_code", "duplicate_in_file"),
            (6, "row", "columns_count"),
        ]
        assert (result.supplies_created, result.customers_created) == (3, 2)


@pytest.fixture
def supplies(db: None) -> dict[str, Supply]:
    """Four supplies whose meters were installed on 1 January 2024; S2 has a reading."""
    made = {
        "S1": make_supply(supply_code="S1", initial_reading=100),
        "S2": make_supply(supply_code="S2"),
        "S3": make_supply(supply_code="S3"),
        "S4": make_supply(supply_code="S4"),
    }
    make_reading(made["S2"], date(2024, 4, 20), 500)
    return made


BAD_READINGS = (
    "S1,15/06/2024,150,operator",  # line 2: accepted
    'S1,2024-06-16,"12,5",operator',
    "S1,2024-06-17,12a,operator",
    "S1,2024-09-10,160,operator",
    "S9,2024-06-15,150,operator",
    "S2,2024-06-15,400,operator",  # line 7: lower than 500 on 20/04
    "S3,2024-06-15,90000,operator",  # line 8: more than the meter can pass
    "S1,15/06/2024,150,operator",  # line 9: line 2 again
    "S2,2024-04-20,500,operator",  # line 10: already taken
    "S4,2024-06-15,1000,operator",  # line 11: far above the profile
    "S1,2024-07-15,123456,operator",
    "S1,2023-06-01,100,operator",
    "S1,2024-06-20,155,meter",
    "S1,15/06/24,155,operator",
)
# What the import says of them: (line, field, code).
BAD_READINGS_REFUSED = [
    (3, "reading", "decimals_not_allowed"),
    (4, "reading", "reading_invalid"),
    (5, "read_on", "date_in_future"),
    (6, "supply_code", "supply_unknown"),
    (9, "row", "duplicate"),
    (10, "row", "duplicate"),
    (12, "reading", "too_many_digits"),
    (13, "read_on", "date_before_meter"),
    (14, "source", "source_invalid"),
    (15, "read_on", "date_invalid"),
]


@pytest.mark.django_db
class TestReadingsImport:
    def test_applies_the_rules_and_reports_each_refused_row_with_its_line(
        self, supplies: dict[str, Supply]
    ) -> None:
        result = load_readings(*BAD_READINGS)

        assert refused(result) == BAD_READINGS_REFUSED
        assert (result.rows_read, result.taken, result.refused) == (14, 4, 10)
        assert (result.accepted, result.under_review) == (1, 1)
        assert result.discarded == {"lower_than_previous": 1, "implausible": 1}
        assert stored(supplies["S1"]) == [(date(2024, 6, 15), 150, "ACCEPTED", None, 50)]
        assert stored(supplies["S2"])[-1] == (
            date(2024, 6, 15),
            400,
            "DISCARDED",
            "lower_than_previous",
            None,
        )
        assert stored(supplies["S3"]) == [
            (date(2024, 6, 15), 90000, "DISCARDED", "implausible", 90000)
        ]
        assert stored(supplies["S4"]) == [
            (date(2024, 6, 15), 1000, "UNDER_REVIEW", "high_consumption", 1000)
        ]

    def test_stores_readings_from_the_import_channel_without_a_receipt(
        self, supplies: dict[str, Supply]
    ) -> None:
        load_readings("S1,2024-06-15,150,operator", "S1,2024-06-20,155,self")

        readings = Reading.objects.filter(supply=supplies["S1"]).order_by("read_on")
        assert [(r.source, r.channel, r.receipt, r.submitted_at) for r in readings] == [
            ("OPERATOR", "IMPORT", None, NOW),
            ("SELF", "IMPORT", None, NOW),
        ]
        assert readings[0].meter == supplies["S1"].meters.get()

    @pytest.mark.parametrize("chunk_size", [20_000, 1])
    def test_applies_several_readings_of_a_supply_in_date_order(
        self, supplies: dict[str, Supply], chunk_size: int
    ) -> None:
        result = load_readings(
            "S1,2024-08-20,300,operator",
            "S2,2024-08-20,600,operator",
            "S1,2024-04-20,200,operator",
            "S1,2024-06-20,250,operator",
            chunk_size=chunk_size,
        )

        assert (result.accepted, result.refused) == (4, 0)
        assert stored(supplies["S1"]) == [
            (date(2024, 4, 20), 200, "ACCEPTED", None, 100),
            (date(2024, 6, 20), 250, "ACCEPTED", None, 50),
            (date(2024, 8, 20), 300, "ACCEPTED", None, 50),
        ]

    @pytest.mark.parametrize("chunk_size", [20_000, 1])
    def test_applies_supplies_far_apart_in_one_file(
        self, supplies: dict[str, Supply], chunk_size: int
    ) -> None:
        """A chunk whose supplies are a few among many (their ids far apart) is looked up
        supply by supply rather than over its whole range of ids."""
        far = [make_supply(supply_code=f"F{n}") for n in range(8)][-1]

        result = load_readings(
            "F7,2024-06-15,40,operator",
            "S2,2024-06-15,510,operator",
            "S2,2024-04-20,500,operator",
            chunk_size=chunk_size,
        )

        assert (result.accepted, refused(result)) == (2, [(4, "row", "duplicate")])
        assert stored(far) == [(date(2024, 6, 15), 40, "ACCEPTED", None, 40)]
        assert stored(supplies["S2"])[-1] == (date(2024, 6, 15), 510, "ACCEPTED", None, 10)

    def test_leaves_as_it_was_a_supply_the_file_skips_among_those_of_a_chunk(
        self, db: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A chunk whose supplies fill nearly all of their range of ids is read over the
        range alone, without the list of its ids: the supply in between that the file does
        not name is read and locked with them, and left as it was."""
        made = [make_supply(supply_code=f"G{n}", initial_reading=100) for n in range(9)]
        make_reading(made[4], date(2024, 4, 20), 500)
        statements: list[str] = []
        fetch = imports.fetch

        def spy(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
            statements.append(sql)
            return fetch(sql, params)

        monkeypatch.setattr(imports, "fetch", spy)

        result = load_readings(*(f"G{n},2024-06-15,150,operator" for n in range(9) if n != 4))

        assert (result.accepted, result.refused) == (8, 0)
        for n in (0, 3, 5, 8):
            assert stored(made[n]) == [(date(2024, 6, 15), 150, "ACCEPTED", None, 50)]
        assert stored(made[4]) == [(date(2024, 4, 20), 500, "ACCEPTED", None, None)]
        chunk_reads = [sql for sql in statements if "supply_id" in sql]
        assert len(chunk_reads) == 2  # the meters, then the readings
        assert not any("ANY(" in sql or "unnest(" in sql for sql in chunk_reads)

    def test_assesses_each_reading_against_the_previous_valid_one(
        self, supplies: dict[str, Supply]
    ) -> None:
        load_readings(
            "S1,2024-04-20,200,operator",
            "S1,2024-06-20,150,operator",
            "S1,2024-08-20,260,operator",
        )

        assert stored(supplies["S1"]) == [
            (date(2024, 4, 20), 200, "ACCEPTED", None, 100),
            (date(2024, 6, 20), 150, "DISCARDED", "lower_than_previous", None),
            (date(2024, 8, 20), 260, "ACCEPTED", None, 60),
        ]

    def test_discards_a_self_reading_taken_outside_the_window(
        self, supplies: dict[str, Supply]
    ) -> None:
        result = load_readings("S1,2024-06-20,150,self", "S1,2024-07-20,160,self")

        assert (result.accepted, result.discarded) == (1, {"outside_window": 1})

    def test_gives_every_self_reading_of_one_date_the_same_window_verdict(
        self, supplies: dict[str, Supply]
    ) -> None:
        result = load_readings(
            "S1,2024-06-20,150,self",
            "S2,2024-06-20,510,self",
            "S1,2024-07-20,160,self",
            "S2,2024-07-20,520,self",
        )

        assert (result.accepted, result.discarded) == (2, {"outside_window": 2})
        assert [row[2:4] for row in stored(supplies["S2"])[-2:]] == [
            ("ACCEPTED", None),
            ("DISCARDED", "outside_window"),
        ]

    def test_uses_the_meter_in_service_on_the_reading_date(self, db: None) -> None:
        supply = make_supply(supply_code="S7", initial_reading=100)
        old = supply.meters.get()
        Meter.objects.filter(pk=old.pk).update(removed_on=date(2024, 5, 1), final_reading=180)
        new = Meter.objects.create(
            supply=supply, serial="NEW7", installed_on=date(2024, 5, 1), initial_reading=0
        )

        result = load_readings("S7,2024-04-20,170,operator", "S7,2024-06-20,30,operator")

        assert result.accepted == 2
        readings = Reading.objects.filter(supply=supply).order_by("read_on")
        assert [(r.meter_id, r.consumption_m3) for r in readings] == [(old.pk, 70), (new.pk, 30)]

    def test_importing_the_same_file_again_takes_nothing_twice(
        self, supplies: dict[str, Supply]
    ) -> None:
        load_readings(*BAD_READINGS)
        count = Reading.objects.count()

        again = load_readings(*BAD_READINGS)

        assert Reading.objects.count() == count
        assert again.taken == 0
        assert again.refused_by_code["duplicate"] == 6  # lines 2, 7, 8, 9, 10 and 11

    def test_refuses_a_row_that_is_not_utf8_and_takes_the_rest(
        self, supplies: dict[str, Supply]
    ) -> None:
        data = b"supply_code,read_on,value,source\nS1,2024-06-15,1\xe950,operator\n"
        data += b"S2,2024-06-15,510,operator\n"

        result = readings_import(file=io.BytesIO(data), now=NOW)

        assert refused(result) == [(2, "row", "encoding_invalid")]
        assert result.accepted == 1

    def test_refuses_a_file_whose_header_lacks_columns(self, db: None) -> None:
        with pytest.raises(ImportFileError, match="value, source"):
            readings_import(file=csv_file("supply_code,read_on,reading"), now=NOW)

    def test_leaves_the_garbage_collector_as_it_found_it(self, supplies: dict[str, Supply]) -> None:
        """The import pauses Python's cyclic collector while it runs (its CPU), and gives it
        back, whether it ends well or not."""
        seen: list[bool] = []
        data = csv_file("supply_code,read_on,value,source", "S1,2024-06-15,510,operator")
        readings_import(file=data, now=NOW, progress=lambda *args: seen.append(gc.isenabled()))
        assert seen and not any(seen)
        assert gc.isenabled()
        with pytest.raises(ImportFileError):
            readings_import(file=csv_file("supply_code,read_on,reading"), now=NOW)
        assert gc.isenabled()
        gc.disable()
        try:
            readings_import(file=csv_file("supply_code,read_on,value,source"), now=NOW)
            assert not gc.isenabled()
        finally:
            gc.enable()


def work_tables() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'autolettura\\_import\\_work%' "
            "ORDER BY tablename"
        )
        return [name for (name,) in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
class TestReadingsImportOnTwoConnections:
    """On PostgreSQL, outside a transaction, two threads apply the chunks, each on its own
    connection, while the importing thread reads the next ones."""

    @pytest.fixture(autouse=True)
    def _postgresql_only(self, db: None) -> None:
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip("SQLite applies the chunks on one connection")

    def test_gives_the_outcomes_of_one_connection(
        self, supplies: dict[str, Supply], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        appliers: set[str] = set()
        apply_chunk = imports._apply_chunk

        def spy(*args: Any) -> int:
            appliers.add(threading.current_thread().name)
            return apply_chunk(*args)

        monkeypatch.setattr(imports, "_apply_chunk", spy)
        seen: list[tuple[int, int | None]] = []

        result = load_readings(
            *BAD_READINGS, chunk_size=1, progress=lambda stage, n, total: seen.append((n, total))
        )

        assert appliers and all(name.startswith("readings-import-") for name in appliers)
        assert refused(result) == BAD_READINGS_REFUSED
        assert (result.rows_read, result.taken, result.refused) == (14, 4, 10)
        assert (result.accepted, result.under_review) == (1, 1)
        assert result.discarded == {"lower_than_previous": 1, "implausible": 1}
        assert stored(supplies["S1"]) == [(date(2024, 6, 15), 150, "ACCEPTED", None, 50)]
        assert stored(supplies["S3"]) == [
            (date(2024, 6, 15), 90000, "DISCARDED", "implausible", 90000)
        ]
        assert sum(n for n, total in seen if total is not None) == 8  # the rows applied
        assert work_tables() == []

    def test_drops_the_work_tables_earlier_imports_left_when_their_connection_went(
        self, supplies: dict[str, Supply]
    ) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (live,) = cursor.fetchone()
            cursor.execute(f"CREATE UNLOGGED TABLE autolettura_import_work_p{live}_0000 (n int)")
            cursor.execute("CREATE UNLOGGED TABLE autolettura_import_work_p4194305_0000 (n int)")
        try:
            load_readings("S1,2024-06-15,150,operator")

            assert work_tables() == [f"autolettura_import_work_p{live}_0000"]
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS autolettura_import_work_p{live}_0000")

    def test_an_error_in_an_applier_stops_the_import_and_leaves_nothing_behind(
        self, supplies: dict[str, Supply], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*args: Any) -> int:
            raise RuntimeError("no database")

        monkeypatch.setattr(imports, "_apply_chunk", broken)

        with pytest.raises(RuntimeError, match="no database"):
            load_readings("S1,2024-06-15,150,operator", "S2,2024-06-15,510,operator")

        assert work_tables() == []
        assert not any(t.name.startswith("readings-import-") for t in threading.enumerate())
        assert Reading.objects.filter(channel="IMPORT").count() == 0

    def test_inside_a_transaction_applies_the_chunks_on_its_own_connection(
        self, supplies: dict[str, Supply], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from django.db import transaction

        def unexpected(*args: Any) -> None:
            raise AssertionError("a second connection would not see this transaction's rows")

        monkeypatch.setattr(imports, "_apply_in_parallel", unexpected)

        with transaction.atomic():
            supply = make_supply(supply_code="S8")
            result = load_readings("S8,2024-06-15,150,operator", chunk_size=1)

        assert result.accepted == 1
        assert stored(supply) == [(date(2024, 6, 15), 150, "ACCEPTED", None, 150)]


@pytest.fixture
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: NOW)


def write(tmp_path: Path, name: str, header: str, *rows: str) -> str:
    path = tmp_path / name
    path.write_bytes(csv_file(header, *rows).getvalue())
    return str(path)


@pytest.mark.django_db
@pytest.mark.usefixtures("pinned_clock")
class TestImportCommands:
    def test_import_readings_prints_a_summary_and_each_refused_row(
        self, supplies: dict[str, Supply], tmp_path: Path
    ) -> None:
        path = write(tmp_path, "readings.csv", READINGS_HEADER, *BAD_READINGS)
        out = io.StringIO()

        call_command("import_readings", path, "--no-progress", stdout=out)

        text = out.getvalue()
        assert " ".join(text.split()).startswith(
            "rows read 14 taken 4 accepted 1 "
            "discarded 2 (implausible 1, lower_than_previous 1) under review 1 "
            "refused 10 (date_before_meter 1, date_in_future 1, date_invalid 1, "
            "decimals_not_allowed 1, duplicate 2, reading_invalid 1, source_invalid 1, "
            "supply_unknown 1, too_many_digits 1) Refused rows: line 3:"
        )
        assert "line 3: reading: decimals_not_allowed — Send the reading without decimals" in text
        assert "line 6: supply_code: supply_unknown — No supply has the code S9." in text
        assert (
            "line 9: row: duplicate — The same reading is already on line 2 of this file." in text
        )
        assert text.index("line 3:") < text.index("line 15:")

    def test_import_customers_prints_a_summary_and_each_refused_row(
        self, db: None, tmp_path: Path
    ) -> None:
        path = write(
            tmp_path,
            "customers.csv",
            CUSTOMERS_HEADER,
            *GOOD_CUSTOMERS,
            "U003,S004,Luca Verdi,,,Via Po 4,industrial,3,M004,5,2024-01-01,0",
        )
        out = io.StringIO()

        call_command("import_customers", path, "--no-progress", stdout=out)

        text = out.getvalue()
        assert " ".join(text.split()).startswith(
            "rows read 4 taken 3 supplies created 3 already present 0 customers created 2 "
            "customers updated 0 refused 1 (usage_invalid 1) Refused rows: line 5:"
        )
        assert "line 5: usage: usage_invalid — The usage must be one of" in text

    def test_a_wrong_header_fails_naming_the_missing_columns(
        self, db: None, tmp_path: Path
    ) -> None:
        path = write(tmp_path, "readings.csv", "supply,read_on,value")

        with pytest.raises(CommandError, match="lacks the columns: supply_code, source"):
            call_command("import_readings", path, "--no-progress")

    def test_a_missing_file_fails(self, db: None, tmp_path: Path) -> None:
        with pytest.raises(CommandError, match="cannot be read"):
            call_command("import_customers", str(tmp_path / "nowhere.csv"), "--no-progress")


@pytest.mark.django_db
class TestCustomersImportFiscalCode:
    """The optional `fiscal_code` column: SPID and CIE sign-ins find the customer by it."""

    HEADER = CUSTOMERS_HEADER + ",fiscal_code"

    def load(self, *rows: str) -> CustomersImportResult:
        return customers_import(file=csv_file(self.HEADER, *rows), now=NOW)

    def test_stores_the_fiscal_code_checked_and_in_canonical_form(self) -> None:
        result = self.load(
            GOOD_CUSTOMERS[0] + ", rssmra80a01h501u ",
            GOOD_CUSTOMERS[2] + ",",
        )
        assert (result.customers_created, result.refused) == (2, 0)
        assert Customer.objects.get(customer_code="U001").fiscal_code == "RSSMRA80A01H501U"
        assert Customer.objects.get(customer_code="U002").fiscal_code == ""

    def test_refuses_a_mistyped_fiscal_code_saying_so(self) -> None:
        result = self.load(
            GOOD_CUSTOMERS[0] + ",RSSMRA80A01H501A",
            GOOD_CUSTOMERS[2] + ",RSSMRA80A01",
        )
        assert refused(result) == [
            (2, "fiscal_code", "fiscal_code_check"),
            (3, "fiscal_code", "fiscal_code_invalid"),
        ]
        assert Customer.objects.count() == 0

    def test_a_file_without_the_column_keeps_the_stored_fiscal_code(self) -> None:
        self.load(GOOD_CUSTOMERS[0] + ",RSSMRA80A01H501U")
        again = load_customers(GOOD_CUSTOMERS[0].replace("Mario Rossi", "Mario Rossi Jr"))
        assert again.customers_updated == 1
        customer = Customer.objects.get(customer_code="U001")
        assert (customer.name, customer.fiscal_code) == ("Mario Rossi Jr", "RSSMRA80A01H501U")
        # Empty in a file that has the column: kept too, and nothing counts as changed.
        same = self.load(GOOD_CUSTOMERS[0].replace("Mario Rossi", "Mario Rossi Jr") + ",")
        assert same.customers_updated == 0
        assert Customer.objects.get(customer_code="U001").fiscal_code == "RSSMRA80A01H501U"

    def test_a_new_fiscal_code_in_the_file_replaces_the_stored_one(self) -> None:
        self.load(GOOD_CUSTOMERS[0] + ",RSSMRA80A01H501U")
        result = self.load(GOOD_CUSTOMERS[0] + ",MRTMTT25D09F205Z")
        assert result.customers_updated == 1
        assert Customer.objects.get(customer_code="U001").fiscal_code == "MRTMTT25D09F205Z"
