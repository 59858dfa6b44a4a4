"""Tariffs (R12), bills (R11) and the bill runs that make them."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from autolettura.customers.models import Customer, Supply, Usage


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
    readings = models.JSONField(default=list, blank=True)

    net_eur = models.DecimalField(max_digits=12, decimal_places=2)
    vat_eur = models.DecimalField(max_digits=12, decimal_places=2)
    total_eur = models.DecimalField(max_digits=12, decimal_places=2)
    run = models.ForeignKey(
        "BillRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="bills"
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


# The kind of the line that credits an automatic compensation (regulation.Compensation).
COMPENSATION_LINE = "COMPENSATION"


class BillLine(models.Model):
    # A line is its bill's line at a position: that is its key, and its only index. A key of
    # its own (a sequence's number and an index on it) cost a bill run more than the line's
    # text to store, for every line of every bill.
    pk = models.CompositePrimaryKey("bill", "position")
    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines", db_index=False)
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=16)
    description = models.CharField(max_length=120)
    quantity = models.DecimalField(max_digits=14, decimal_places=2)
    unit_price = models.DecimalField(max_digits=14, decimal_places=6)
    amount = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["bill", "position"]

    def __str__(self) -> str:
        return f"{self.bill_id} {self.description} {self.amount}"


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
