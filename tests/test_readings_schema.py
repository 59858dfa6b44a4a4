"""The readings table's keys and indexes: each one the queries or rules listed in
benchmarks/RESULTS.md need, and the rules the foreign keys keep."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from autolettura.backoffice.models import AuditEntry
from autolettura.customers.models import Meter, Supply
from autolettura.readings.models import (
    Channel,
    InboundMessage,
    Reading,
    ReadingSubmitter,
    Source,
    Status,
)
from tests.conftest import make_supply

# benchmarks/RESULTS.md, "The readings table's indexes", names the queries behind each.
INDEXES = {
    "reading_receipt_once",
    "reading_taken_once",
    "reading_submitted",
    "reading_under_review",
}


def _reading(supply: Supply, meter: Meter, **values: object) -> Reading:
    fields: dict[str, object] = {
        "supply": supply,
        "meter": meter,
        "read_on": date(2026, 12, 1),
        "value": 5,
        "source": Source.OPERATOR,
        "channel": Channel.IMPORT,
        "status": Status.ACCEPTED,
        "submitted_at": timezone.now(),
    }
    fields.update(values)
    return Reading.objects.create(**fields)


def _constraints() -> dict[str, dict[str, object]]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, Reading._meta.db_table)


@pytest.mark.django_db
def test_the_table_has_the_listed_indexes_and_no_other() -> None:
    indexes = {
        name
        for name, info in _constraints().items()
        if info["index"] and not info["primary_key"] and not info["foreign_key"]
    }
    # SQLite lists the indexes of its foreign keys too (Django makes none here).
    assert indexes - {name for name in indexes if name.startswith("sqlite_")} == INDEXES
    if connection.vendor == "postgresql":
        assert _constraints()["reading_submitted"]["type"] == "brin"


@pytest.mark.django_db
def test_the_same_reading_is_taken_once_unless_voided() -> None:
    """R4 in the database: a second reading of the same supply, date, value and source is
    refused while the first stands; once it is voided the same reading may come again, and
    voided ones stay side by side, however many."""
    supply = make_supply()
    meter = supply.meters.get()
    first = _reading(supply, meter)
    with pytest.raises(IntegrityError), transaction.atomic():
        _reading(supply, meter)
    # Another source, date or value is another reading.
    _reading(supply, meter, source=Source.SELF, channel=Channel.WEB)
    _reading(supply, meter, value=6)
    _reading(supply, meter, read_on=date(2026, 12, 2))
    voided_at = timezone.now()
    Reading.objects.filter(pk=first.pk).update(voided_at=voided_at, void_reason="wrong meter")
    second = _reading(supply, meter)
    # Voided at the same moment as the first: both are kept.
    Reading.objects.filter(pk=second.pk).update(voided_at=voided_at, void_reason="wrong meter")
    third = _reading(supply, meter)
    with pytest.raises(IntegrityError), transaction.atomic():
        _reading(supply, meter)
    # A voided reading brought back while its repeat stands is refused too.
    with pytest.raises(IntegrityError), transaction.atomic():
        Reading.objects.filter(pk=first.pk).update(voided_at=None)
    same = Reading.objects.filter(supply=supply, value=5, read_on=date(2026, 12, 1))
    assert same.filter(source=Source.OPERATOR).count() == 3
    assert Reading.objects.get(pk=third.pk).voided_at is None


@pytest.mark.django_db
def test_a_reading_of_a_meter_of_another_supply_is_refused() -> None:
    """On PostgreSQL one foreign key on (meter, supply): the pair must be a meter and its
    supply. SQLite checks each key on its own, and the code never pairs them otherwise."""
    if connection.vendor != "postgresql":
        pytest.skip("the foreign key on the pair is PostgreSQL's")
    first, second = make_supply(), make_supply()
    with pytest.raises(IntegrityError), transaction.atomic():
        _reading(first, second.meters.get())
        connection.check_constraints(table_names=[Reading._meta.db_table])


@pytest.mark.django_db
def test_a_reading_naming_no_meter_or_no_supply_is_refused() -> None:
    supply = make_supply()
    meter = supply.meters.get()
    for values in ({"meter_id": meter.pk + 1000}, {"supply_id": supply.pk + 1000}):
        with pytest.raises(IntegrityError), transaction.atomic():
            _reading(supply, meter, **values)
            connection.check_constraints(table_names=[Reading._meta.db_table])


@pytest.mark.django_db
def test_a_meter_with_readings_keeps_its_supply_and_the_supply_stays() -> None:
    supply, other = make_supply(), make_supply()
    meter = supply.meters.get()
    _reading(supply, meter)
    if connection.vendor == "postgresql":
        # The meter cannot move to another supply under its readings.
        with pytest.raises(IntegrityError), transaction.atomic():
            Meter.objects.filter(pk=meter.pk).update(supply=other, removed_on=date(2026, 12, 2))
            connection.check_constraints(table_names=[Meter._meta.db_table])
    # Nor can the supply go, in SQL, under Django's PROTECT.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Supply._meta.db_table} WHERE id = %s", [supply.pk])
        connection.check_constraints()


@pytest.mark.django_db
def test_the_only_foreign_keys_are_the_supply_and_its_meter() -> None:
    """Who entered a reading is in ReadingSubmitter, who reviewed or voided it in its audit
    trail, and the message it came in names it: a key for each on the reading would cost
    every reading stored a trigger."""
    keys = {
        tuple(info["columns"])
        for info in _constraints().values()
        if info["foreign_key"] is not None
    }
    if connection.vendor == "postgresql":
        assert keys == {("meter_id", "supply_id")}
    else:
        assert keys == {("meter_id",), ("supply_id",)}


@pytest.mark.django_db
def test_a_message_makes_one_reading_and_making_one_names_it() -> None:
    supply = make_supply()
    reading = _reading(supply, supply.meters.get())
    numbers = iter(range(100))

    def message(**values: object) -> InboundMessage:
        return InboundMessage.objects.create(
            channel=Channel.SMS,
            provider_message_id=f"SM{next(numbers)}",
            payload={},
            received_at=timezone.now(),
            **values,
        )

    message(reading=reading, made_reading=True)
    message(reading=reading)  # a repeat of it: as many as came
    message(reading=reading)
    with pytest.raises(IntegrityError), transaction.atomic():
        message(reading=reading, made_reading=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        message(made_reading=True)


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_the_links_where_they_are_kept() -> None:
    """readings 0009 and 0010: the message a reading named now names it as made; a review
    or void with nobody in the audit trail gets an entry naming who; and back."""
    before = [("readings", "0008_merge_lean_indexes_and_round_channel")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("auth", "User").objects.create(username="sportello")
    customer = old.get_model("customers", "Customer").objects.create(
        customer_code="U1", name="Giulia"
    )
    supply = old.get_model("customers", "Supply").objects.create(
        supply_code="S1", holder=customer, activated_on=date(2024, 1, 1)
    )
    meter = old.get_model("customers", "Meter").objects.create(
        supply=supply, serial="M1", installed_on=date(2024, 1, 1)
    )
    messages = old.get_model("readings", "InboundMessage").objects
    made = messages.create(
        channel="SMS", provider_message_id="SM1", payload={}, received_at=timezone.now()
    )
    repeat = messages.create(
        channel="SMS", provider_message_id="SM2", payload={}, received_at=timezone.now()
    )
    readings = old.get_model("readings", "Reading").objects
    now = timezone.now()
    common = {"supply": supply, "meter": meter, "source": "SELF", "submitted_at": now}
    sent = readings.create(
        **common,
        read_on=date(2026, 12, 1),
        value=5,
        channel="SMS",
        status="ACCEPTED",
        inbound_message=made,
    )
    messages.filter(pk__in=[made.pk, repeat.pk]).update(reading=sent)
    reviewed = readings.create(
        **common,
        read_on=date(2026, 12, 2),
        value=6,
        channel="WEB",
        status="DISCARDED",
        reason="operator_discarded",
        reviewed_at=now,
        reviewed_by=user,
    )
    voided = readings.create(
        **common,
        read_on=date(2026, 12, 3),
        value=7,
        channel="WEB",
        status="ACCEPTED",
        voided_at=now,
        voided_by=user,
        void_reason="wrong supply",
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    made_now = InboundMessage.objects.get(pk=made.pk)
    assert (made_now.reading_id, made_now.made_reading) == (sent.pk, True)
    repeat_now = InboundMessage.objects.get(pk=repeat.pk)
    assert (repeat_now.reading_id, repeat_now.made_reading) == (sent.pk, False)
    entries = {
        (e.reading_id, e.action, e.by.get_username(), e.at, e.status_after)
        for e in AuditEntry.objects.select_related("by")
    }
    assert entries == {
        (reviewed.pk, "DISCARDED", "sportello", now, "DISCARDED"),
        (voided.pk, "VOIDED", "sportello", now, "ACCEPTED"),
    }

    # And back: the reading names its message and its people again.
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    readings = executor.loader.project_state(before).apps.get_model("readings", "Reading")
    back = {r.pk: r for r in readings.objects.all()}
    assert back[sent.pk].inbound_message_id == made.pk
    assert back[reviewed.pk].reviewed_by_id == user.pk
    assert back[voided.pk].voided_by_id == user.pk
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_r4_over_the_readings_already_stored() -> None:
    """readings 0011: R4's index rebuilt over readings already stored, voided repeats
    included, keeps refusing a repeat of a reading not voided; and back."""
    before = [("readings", "0010_reading_links_dropped")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    customer = old.get_model("customers", "Customer").objects.create(
        customer_code="U1", name="Giulia"
    )
    supply = old.get_model("customers", "Supply").objects.create(
        supply_code="S1", holder=customer, activated_on=date(2024, 1, 1)
    )
    meter = old.get_model("customers", "Meter").objects.create(
        supply=supply, serial="M1", installed_on=date(2024, 1, 1)
    )
    readings = old.get_model("readings", "Reading").objects
    now = timezone.now()
    common = {
        "supply": supply,
        "meter": meter,
        "read_on": date(2026, 12, 1),
        "value": 5,
        "source": "SELF",
        "channel": "WEB",
        "status": "ACCEPTED",
        "submitted_at": now,
    }
    voided = [readings.create(**common, voided_at=now, void_reason="wrong meter") for _ in range(2)]
    standing = readings.create(**common)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert "reading_supply_meter_day" not in _constraints()
    assert set(Reading.objects.values_list("pk", flat=True)) == {
        *(r.pk for r in voided),
        standing.pk,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        fields = {k: v for k, v in common.items() if k not in ("supply", "meter")}
        Reading.objects.create(**fields, supply_id=supply.pk, meter_id=meter.pk)

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    assert "reading_supply_meter_day" in _constraints()
    with pytest.raises(IntegrityError), transaction.atomic():
        readings.create(**common)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_who_entered_a_reading_is_kept_and_cannot_go() -> None:
    """ReadingSubmitter: the person who entered a reading stays while it names them, and
    the row goes with the reading when retention removes it."""
    from django.contrib.auth import get_user_model

    supply = make_supply()
    who = get_user_model().objects.create(username="sportello")
    reading = _reading(supply, supply.meters.get())
    ReadingSubmitter.objects.create(reading=reading, submitted_by=who)
    assert Reading.objects.get(pk=reading.pk).submitted_by == who
    assert _reading(supply, supply.meters.get(), value=6).submitted_by is None
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {who._meta.db_table} WHERE id = %s", [who.pk])
        connection.check_constraints()
    with pytest.raises(IntegrityError), transaction.atomic():
        ReadingSubmitter.objects.create(reading=reading, submitted_by=who)
    Reading.objects.filter(pk=reading.pk).delete()
    assert not ReadingSubmitter.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_who_entered_a_reading_beside_it() -> None:
    """readings 0012: who entered a reading moves to ReadingSubmitter; and back."""
    before = [("readings", "0011_taken_once_finds_all")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("auth", "User").objects.create(username="sportello")
    customer = old.get_model("customers", "Customer").objects.create(
        customer_code="U1", name="Giulia"
    )
    supply = old.get_model("customers", "Supply").objects.create(
        supply_code="S1", holder=customer, activated_on=date(2024, 1, 1)
    )
    meter = old.get_model("customers", "Meter").objects.create(
        supply=supply, serial="M1", installed_on=date(2024, 1, 1)
    )
    readings = old.get_model("readings", "Reading").objects
    common = {
        "supply": supply,
        "meter": meter,
        "read_on": date(2026, 12, 1),
        "source": "OPERATOR",
        "channel": "COUNTER",
        "status": "ACCEPTED",
        "submitted_at": timezone.now(),
    }
    entered = readings.create(**common, value=5, submitted_by=user)
    imported = readings.create(**{**common, "channel": "IMPORT"}, value=6)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert set(ReadingSubmitter.objects.values_list("reading_id", "submitted_by_id")) == {
        (entered.pk, user.pk)
    }
    assert Reading.objects.get(pk=entered.pk).submitted_by.pk == user.pk
    assert Reading.objects.get(pk=imported.pk).submitted_by is None

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    readings = executor.loader.project_state(before).apps.get_model("readings", "Reading").objects
    back = dict(readings.values_list("pk", "submitted_by_id"))
    assert back == {entered.pk: user.pk, imported.pk: None}
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
