"""Customers (utenti), their supplies (utenze) and the meters (misuratori) on them."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Usage(models.TextChoices):
    DOMESTIC_RESIDENT = "DOMESTIC_RESIDENT", _("domestic, resident")
    DOMESTIC_OTHER = "DOMESTIC_OTHER", _("domestic, not resident")
    BUSINESS = "BUSINESS", _("business")


class Customer(models.Model):
    """A utente: the holder of one or more supplies, identified by the code on the bill."""

    customer_code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    # The holder's codice fiscale (from the customers import, or stored at the first SPID or
    # CIE sign-in that proved the bill's codes): SPID and CIE sign-ins find the customer by it.
    fiscal_code = models.CharField(max_length=16, blank=True, default="", db_default="")
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="it")
    # The channels the customer wants reminders and outcomes on (the portal's preferences).
    # Database defaults, so that the bulk imports (COPY) may leave them out.
    notify_by_email = models.BooleanField(default=True, db_default=True)
    notify_by_sms = models.BooleanField(default=False, db_default=False)
    notify_by_whatsapp = models.BooleanField(default=False, db_default=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(customer_code=""), name="customer_code_not_empty"),
        ]
        indexes = [
            models.Index(
                fields=["fiscal_code"],
                condition=~Q(fiscal_code=""),
                name="customer_fiscal_code",
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_code} {self.name}"


class Supply(models.Model):
    """An utenza: a supply point, held by one customer at a time."""

    supply_code = models.CharField(max_length=40, unique=True)
    holder = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="supplies")
    address = models.CharField(max_length=300)
    usage = models.CharField(max_length=32, choices=Usage.choices, default=Usage.DOMESTIC_RESIDENT)
    household_members = models.PositiveSmallIntegerField(default=3)
    activated_on = models.DateField()
    # The first day the platform bills: for a supply migrated from an earlier system, the day
    # after the last period that system billed. Empty: from the activation date.
    billing_starts_on = models.DateField(null=True, blank=True)
    # The regulator's unique user code (16 digits: ISTAT region, municipality, progressive),
    # given by customers.services.supply_user_codes_assign; printed on bills and taken
    # wherever a supply code is.
    user_code = models.CharField(max_length=16, null=True, blank=True, unique=True)
    # The condominium the supply belongs to (the utility's code for the building), or empty.
    # TIMSII counts a condominium as one user for the minimum reading attempts: its supplies
    # are visited together, on the same day and in the same time slot (rounds).
    condominium = models.CharField(max_length=40, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "supplies"
        indexes = [
            models.Index(
                fields=["condominium"], name="supply_condominium", condition=~Q(condominium="")
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(user_code__isnull=True) | Q(user_code__regex=r"^[0-9]{16}$"),
                name="supply_user_code_16_digits",
            ),
            models.CheckConstraint(condition=~Q(supply_code=""), name="supply_code_not_empty"),
            models.CheckConstraint(
                condition=Q(household_members__gte=1), name="supply_household_members_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.supply_code


class Meter(models.Model):
    """A misuratore installed on a supply. A replaced meter keeps its history."""

    supply = models.ForeignKey(Supply, on_delete=models.PROTECT, related_name="meters")
    serial = models.CharField(max_length=40)
    digits = models.PositiveSmallIntegerField(default=5)
    q4_m3h = models.DecimalField(
        "maximum flow rate Q4 (m³/h)", max_digits=7, decimal_places=3, default=Decimal("3.125")
    )
    installed_on = models.DateField()
    initial_reading = models.PositiveIntegerField(default=0)
    removed_on = models.DateField(null=True, blank=True)
    final_reading = models.PositiveIntegerField(null=True, blank=True)
    # A remotely read meter's radio id (wM-Bus id or LoRaWAN DevEUI, lower case): how its
    # telegrams find it. Empty for a meter read by hand.
    radio_id = models.CharField(  # noqa: DJ001
        "radio id", max_length=32, null=True, blank=True, default=None, db_default=None
    )

    class Meta:
        indexes = [models.Index(fields=["serial"])]
        constraints = [
            models.UniqueConstraint(
                fields=["supply"],
                condition=Q(removed_on__isnull=True),
                name="meter_one_in_service_per_supply",
            ),
            # The target of the readings' foreign key on (meter, supply): a reading's meter
            # is a meter of the reading's supply (readings migration 0007).
            models.UniqueConstraint(fields=["id", "supply"], name="meter_of_supply"),
            models.UniqueConstraint(
                fields=["serial"],
                condition=Q(removed_on__isnull=True),
                name="meter_serial_in_service_once",
            ),
            # One meter in service answers to a radio id.
            models.UniqueConstraint(
                fields=["radio_id"],
                condition=Q(removed_on__isnull=True, radio_id__isnull=False),
                name="meter_radio_id_in_service_once",
            ),
            models.CheckConstraint(
                condition=Q(digits__gte=1) & Q(digits__lte=9), name="meter_digits_1_to_9"
            ),
            models.CheckConstraint(condition=Q(q4_m3h__gt=0), name="meter_q4_positive"),
            models.CheckConstraint(
                condition=Q(removed_on__isnull=True) | Q(removed_on__gte=F("installed_on")),
                name="meter_removed_after_installed",
            ),
            # A removed meter's last register closes its consumption: without it, the m³
            # between its last reading and the swap would vanish from the profile and bills.
            models.CheckConstraint(
                condition=Q(removed_on__isnull=True) | Q(final_reading__isnull=False),
                name="meter_removed_has_final_reading",
            ),
        ]

    def __str__(self) -> str:
        return self.serial


class HolderChange(models.Model):
    """A change of the supply's holder (voltura, subentro) from `changed_on`.

    `Supply.holder` is always the current holder; these rows keep who held it before, so a
    period that spans the change is billed to each holder for their own days.
    """

    supply = models.ForeignKey(Supply, on_delete=models.PROTECT, related_name="holder_changes")
    changed_on = models.DateField()
    previous_holder = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    new_holder = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["supply", "changed_on"], name="holder_change_once_a_day"
            ),
            models.CheckConstraint(
                condition=~Q(previous_holder=F("new_holder")), name="holder_change_changes"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supply_id} from {self.changed_on}: {self.new_holder_id}"
