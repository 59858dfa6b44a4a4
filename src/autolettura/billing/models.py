"""Tariffs (R12), bills (R11) and the bill runs that make them."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from django.db import models
from django.db.models import F, Q
from psycopg.types.json import Json

from autolettura.customers.models import Customer, Supply, Usage


class TextJSONField(models.JSONField):
    """JSON kept as PostgreSQL's `json`, its text as written, rather than `jsonb`: for a
    value written and read whole and never queried inside. Its text is checked to be JSON
    but not parsed into jsonb's form, which cost PostgreSQL a tenth of each bill a run
    writes. Not for filtering: `json` has no equality and no index. On
    SQLite JSON is text either way."""

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if connection.vendor != "postgresql" or value is None:
            return super().get_db_prep_value(value, connection, prepared)
        if not prepared:
            value = self.get_prep_value(value)
        return Json(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # psycopg gives `json` already decoded (jsonb comes as text, which JSONField decodes).
        if value is None or not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)


class Tariff(models.Model):
    """The TICSI tariff of one year and usage category. Data, edited in the admin."""

    year = models.PositiveIntegerField()
    usage = models.CharField(max_length=32, choices=Usage.choices)
    fixed_quota_eur_year = models.DecimalField(max_digits=10, decimal_places=2)
    agevolata_m3_per_member = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("18.25")
    )
    sewerage_eur_m3 = models.DecimalField(max_digits=10, decimal_places=6)
    treatment_eur_m3 = models.DecimalField(max_digits=10, decimal_places=6)
    vat_rate = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.100"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["year", "usage"], name="tariff_one_per_year_usage"),
            models.CheckConstraint(
                condition=Q(vat_rate__gte=0) & Q(vat_rate__lt=1), name="tariff_vat_is_a_rate"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year} {self.usage}"


class TariffBand(models.Model):
    """A water supply band. The first is the agevolata band (sized by household members);
    the last has no upper bound."""

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="bands")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=60)
    upper_m3_year = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    price_eur_m3 = models.DecimalField(max_digits=10, decimal_places=6)

    class Meta:
        ordering = ["tariff", "position"]
        constraints = [
            models.UniqueConstraint(fields=["tariff", "position"], name="tariff_band_position"),
            models.CheckConstraint(condition=Q(price_eur_m3__gte=0), name="tariff_band_price"),
        ]

    def __str__(self) -> str:
        return f"{self.tariff} {self.position} {self.name}"


class RegisterSource(models.TextChoices):
    OPERATOR = "OPERATOR", "rilevata"
    SELF = "SELF", "autolettura"
    # Between two valid readings: their consumption spread over the days, not an estimate.
    INTERPOLATED = "INTERPOLATED", "tra due letture"
    ESTIMATE = "ESTIMATE", "stimata"


class Bill(models.Model):
    """One bill per supply and period. Numbers run without gaps within a year."""

    # Indexed by the constraints below, which start with the supply.
    supply = models.ForeignKey(
        Supply, on_delete=models.PROTECT, related_name="bills", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="bills")
    year = models.PositiveIntegerField()
    sequence = models.PositiveIntegerField()
    period_start = models.DateField()
    period_end = models.DateField()
    issued_on = models.DateField()
    due_on = models.DateField()

    previous_register = models.PositiveIntegerField()
    previous_register_on = models.DateField()
    previous_register_source = models.CharField(max_length=16, choices=RegisterSource.choices)
    previous_total_m3 = models.IntegerField()
    current_register = models.PositiveIntegerField()
    current_register_on = models.DateField()
    current_register_source = models.CharField(max_length=16, choices=RegisterSource.choices)
    # The actual reading the current register rests on, if any.
    current_reading_on = models.DateField(null=True, blank=True)
    # The supply's cumulative m³ at the period's end as billed: the next bill starts here.
    current_total_m3 = models.IntegerField()

    effective_m3 = models.IntegerField()
    estimated_m3 = models.IntegerField()
    adjustment_m3 = models.IntegerField()
    billed_m3 = models.IntegerField()
    cma_m3 = models.DecimalField(max_digits=12, decimal_places=2)
    next_window_start = models.DateField()
    next_window_end = models.DateField()
    # Every valid reading of the period as the bill lists it, in date order:
    # [{"on": "2026-10-20", "value": 1404, "digits": 5, "source": "SELF"}, ...]. Kept on the
    # bill, so what it says does not change when a reading is voided afterwards.
    readings = TextJSONField(default=list, blank=True)
    # The bill's lines in order, each as line_json() writes it, a list of its kind,
    # description, quantity, unit price and amount:
    # [["FIXED", "Quota fissa", "61.00", "0.123456", "7.53"], ...]; a line's position is
    # its place in the list, from 1. Kept in the bill's row: written and read with it,
    # never alone. A list rather than an object: the same values in half the text, which
    # PostgreSQL checks and stores for every bill a run writes.
    lines = TextJSONField(default=list, blank=True)

    net_eur = models.DecimalField(max_digits=12, decimal_places=2)
    vat_eur = models.DecimalField(max_digits=12, decimal_places=2)
    total_eur = models.DecimalField(max_digits=12, decimal_places=2)
    # Not indexed: nothing looks bills up by their run (each chunk counts its own late bills,
    # and runs are not deleted), and every bill a run writes would add an entry.
    run = models.ForeignKey(
        "BillRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bills",
        db_index=False,
    )
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["supply", "-period_end"], name="bill_supply_latest")]
        constraints = [
            models.UniqueConstraint(fields=["supply", "period_start"], name="bill_one_per_period"),
            models.UniqueConstraint(fields=["year", "sequence"], name="bill_number_unique"),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="bill_period_ordered"
            ),
            models.CheckConstraint(
                condition=Q(billed_m3=F("effective_m3") + F("estimated_m3") + F("adjustment_m3")),
                name="bill_m3_add_up",
            ),
            # No check that total = net + VAT: SQLite keeps decimals as floating point, where
            # equal sums of cents can compare unequal. The rules compute it in Decimal.
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        return f"{self.year}/{self.sequence:06d}"

    @property
    def line_items(self) -> list[BillLine]:
        """The bill's lines in order, their amounts as Decimals."""
        return [_line_item(n, line) for n, line in enumerate(self.lines, start=1)]


# The kind of the line that credits an automatic compensation (regulation.Compensation).
COMPENSATION_LINE = "COMPENSATION"


class BillLine(NamedTuple):
    """A line of a bill, as `Bill.line_items` gives it: its position (from 1), its kind
    (FIXED, WATER, SEWERAGE, TREATMENT, COMPENSATION) and its amounts."""

    position: int
    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


# A line as Bill.lines keeps it: the amounts as text, with the decimals the bill prints.
LINE_QUANTITY = Decimal("0.01")
LINE_UNIT_PRICE = Decimal("0.000001")
LINE_AMOUNT = Decimal("0.01")


def line_json(
    kind: str, description: str, quantity: Decimal, unit_price: Decimal, amount: Decimal
) -> list[str]:
    """One line as Bill.lines keeps it: kind, description, quantity, unit price, amount
    (rounded half away from zero, as a numeric column would keep them)."""
    return [
        kind,
        description,
        str(quantity.quantize(LINE_QUANTITY, ROUND_HALF_UP)),
        str(unit_price.quantize(LINE_UNIT_PRICE, ROUND_HALF_UP)),
        str(amount.quantize(LINE_AMOUNT, ROUND_HALF_UP)),
    ]


def _line_item(position: int, line: list[str]) -> BillLine:
    kind, description, quantity, unit_price, amount = line
    return BillLine(
        position, kind, description, Decimal(quantity), Decimal(unit_price), Decimal(amount)
    )


class BillNumberCounter(models.Model):
    """The last bill number of a year. Taken at the end of each chunk's transaction, so a
    chunk that fails gives its numbers back and the sequence keeps no gaps."""

    year = models.PositiveIntegerField(primary_key=True)
    last_sequence = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_sequence}"


class BillRun(models.Model):
    """A run of `bill-run --through`: split in chunks of supplies that workers claim."""

    class Status(models.TextChoices):
        RUNNING = "RUNNING"
        DONE = "DONE"

    through = models.DateField()
    issued_on = models.DateField()
    # A supply never billed on the platform starts with the first period ending on or after
    # this day (`bill-run --since`): what came before was billed by the previous system.
    since = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"run {self.pk} through {self.through}"


class BillRunChunk(models.Model):
    """Supplies with ids in [first_supply_id, last_supply_id], billed in one transaction."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        CLAIMED = "CLAIMED"
        DONE = "DONE"

    run = models.ForeignKey(BillRun, on_delete=models.CASCADE, related_name="chunks")
    first_supply_id = models.BigIntegerField()
    last_supply_id = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    bills_made = models.PositiveIntegerField(default=0)
    bills_estimated = models.PositiveIntegerField(default=0)
    bills_credit = models.PositiveIntegerField(default=0)
    # Issued later than the regulator's limit after their period ended (R11).
    bills_late = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "first_supply_id"], name="bill_run_chunk_once"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.first_supply_id}-{self.last_supply_id} {self.status}"


class BillRunError(models.Model):
    """A supply a run could not bill, and why. The run goes on with the others."""

    run = models.ForeignKey(BillRun, on_delete=models.CASCADE, related_name="errors")
    supply = models.ForeignKey(Supply, on_delete=models.CASCADE, related_name="+")
    period_end = models.DateField(null=True, blank=True)
    message = models.TextField()

    def __str__(self) -> str:
        return f"{self.supply_id}: {self.message}"
