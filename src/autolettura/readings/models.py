"""Readings (letture) and the inbound log every submission passes through first."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils.translation import gettext_lazy as _

from autolettura.customers.models import Meter, Supply
from autolettura.readings.photos import photo_upload_to
from autolettura.rules.outcomes import Reason
from autolettura.rules.outcomes import Status as RuleStatus


class Source(models.TextChoices):
    SELF = "SELF", _("self-reading")
    OPERATOR = "OPERATOR", _("read by the utility")
    # A smart meter's own register at midnight: an actual reading, as the utility's (R8).
    REMOTE = "REMOTE", _("read remotely")


class Channel(models.TextChoices):
    WEB = "WEB", _("customer area")
    APP = "APP", _("app")
    PHONE = "PHONE", _("toll-free line")
    COUNTER = "COUNTER", _("counter")
    CALL_CENTRE = "CALL_CENTRE", _("call centre")
    EMAIL = "EMAIL", _("e-mail")
    WHATSAPP = "WHATSAPP", _("WhatsApp")
    SMS = "SMS", _("SMS")
    IMPORT = "IMPORT", _("import")
    TELEMETRY = "TELEMETRY", _("smart meter")
    # The utility's reader at the meter, with the reader's app (rounds).
    ROUND = "ROUND", _("reading round")


class Status(models.TextChoices):
    ACCEPTED = RuleStatus.ACCEPTED.value, _("accepted")
    DISCARDED = RuleStatus.DISCARDED.value, _("discarded")
    UNDER_REVIEW = RuleStatus.UNDER_REVIEW.value, _("under review")


REASONS = [r.value for r in Reason]


class Reading(models.Model):
    """A value of a meter's register on a date. Never deleted nor overwritten: a reading
    that should not count is voided, with who, when and why."""

    # Both indexed by R4's unique index below, which starts with the supply: a reading's
    # meter is always one of its supply's meters (on PostgreSQL one foreign key on the pair
    # says so, see migration 0007), so a meter's readings are found through its supply.
    supply = models.ForeignKey(
        Supply, on_delete=models.PROTECT, related_name="readings", db_index=False
    )
    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, related_name="readings", db_index=False
    )
    read_on = models.DateField()
    value = models.PositiveIntegerField()
    source = models.CharField(max_length=16, choices=Source.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    # NULL, not "", for "no reason": the API answers `"reason": null` and the checks read so.
    reason = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    # m³ since the last valid reading when it was assessed (across a rollover if any).
    consumption_m3 = models.IntegerField(null=True, blank=True)
    rollover = models.BooleanField(default=False)
    # Unique where present: imported readings have none, and a full index of NULLs would
    # only slow bulk imports down.
    receipt = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    submitted_at = models.DateTimeField()
    # Who entered a reading is in ReadingSubmitter, who reviewed or voided it in its audit
    # trail (backoffice.AuditEntry), each written in the same transaction: a column here
    # would cost every reading stored, imported ones included, a foreign-key trigger for a
    # value nearly always NULL.
    reviewed_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    # A photo of the meter sent with the reading, as evidence (JPEG, PNG or HEIC, checked
    # by reading_submit). Private: under MEDIA_ROOT, never served as a public URL. The
    # database default lets the bulk paths (COPY) leave the column out.
    photo = models.FileField(
        upload_to=photo_upload_to, blank=True, max_length=200, default="", db_default=""
    )
    # What the photo said when the reading was taken (issue 12), so that the operator sees
    # both values: the SHA-256 of the photo kept (the key of what the reader saw in it), the
    # whole m³ read and how sure (0 to 1), and the register's corners in the photo's pixels.
    # Value and confidence NULL with a photo: not read in time, to be read later; a
    # confidence with no value: read, and no register found.
    photo_sha256 = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    photo_value = models.PositiveIntegerField(null=True, blank=True)
    photo_confidence = models.FloatField(null=True, blank=True)
    photo_box = models.JSONField(null=True, blank=True)

    class Meta:
        # Each index is here for the queries named in benchmarks/RESULTS.md ("The readings
        # table's indexes"); every other one would slow down each reading stored.
        indexes = [
            # The statistics and the regulator's reports: the readings of a period. On
            # PostgreSQL migration 0007 makes it a BRIN index of the same name: readings
            # come in time order, so a few pages of it summarise the table, and storing a
            # reading costs next to nothing. A B-tree elsewhere.
            models.Index(fields=["submitted_at"], name="reading_submitted"),
            # The review queue, oldest first: a few rows, so imports and channels, whose
            # readings are nearly all accepted, rarely touch it.
            models.Index(
                fields=["submitted_at", "id"],
                condition=Q(status=Status.UNDER_REVIEW, voided_at__isnull=True),
                name="reading_under_review",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["receipt"], condition=Q(receipt__isnull=False), name="reading_receipt_once"
            ),
            # R4: the same supply, date, value and source again is the same reading, unless
            # the first was voided. Voided readings are in the index too, each under its own
            # id where the others share 0, so that this one index also finds all of a
            # supply's readings by date (pages, R6/R9 history, bills, imports, erasure), a
            # meter's through its supply, and serves the pair's foreign key when a meter is
            # changed or removed: one index where a partial one and another on (supply,
            # meter, read_on) cost every reading stored two.
            models.UniqueConstraint(
                F("supply"),
                F("read_on"),
                F("value"),
                F("source"),
                Case(
                    When(voided_at__isnull=True, then=Value(0)),
                    default=F("id"),
                    output_field=models.BigIntegerField(),
                ),
                name="reading_taken_once",
            ),
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="reading_status_known"
            ),
            models.CheckConstraint(
                condition=Q(reason__isnull=True) | Q(reason__in=REASONS),
                name="reading_reason_known",
            ),
            models.CheckConstraint(
                condition=~Q(status=Status.DISCARDED) | Q(reason__isnull=False),
                name="reading_discarded_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True) | ~Q(void_reason=""),
                name="reading_void_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(source__in=Source.values), name="reading_source_known"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="reading_channel_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.receipt or self.pk} {self.supply_id} {self.read_on} {self.value}"

    @property
    def is_valid(self) -> bool:
        return self.status == Status.ACCEPTED and self.voided_at is None

    @property
    def submitted_by(self) -> Any:
        """The person who entered the reading (a user), or None: see ReadingSubmitter."""
        try:
            return self.submitter.submitted_by
        except ReadingSubmitter.DoesNotExist:
            return None


class ReadingSubmitter(models.Model):
    """Who entered a reading, for the readings a person entered: an operator at the counter,
    a meter reader on a round, or the customer's own account on the portal. Written with the
    reading, in the same transaction, and never changed. Beside the reading rather than on
    it: imports, smart meters and the channels that name no account store none."""

    # Part of the reading: it goes with the reading when retention removes one.
    reading = models.OneToOneField(
        Reading, primary_key=True, on_delete=models.CASCADE, related_name="submitter"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.reading_id} {self.submitted_by_id}"


class ReceiptCounter(models.Model):
    """The last receipt number given in a year: receipts are AL-YYYY-NNNNNN. SQLite numbers
    with it; PostgreSQL with a sequence per year, which starts after this row's number (see
    readings.services.receipt_next)."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class InboundMessage(models.Model):
    """Everything a channel receives, stored before it is processed.

    The provider's message id is unique per channel, so a retried webhook or a mail fetched
    twice finds the first message and its outcome instead of making a second reading.
    """

    channel = models.CharField(max_length=16, choices=Channel.choices)
    provider_message_id = models.CharField(max_length=200)
    payload = models.JSONField()
    sender = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    # The answer given: the reading it made or repeated, or the format errors, as the
    # channel rendered it.
    reading = models.ForeignKey(
        Reading, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # This message made `reading` (it did not repeat one made before): the message the
    # reading came in, whose sender hears the reading's later outcome. The link is kept
    # here, on the message, and not on the reading too: every reading stored, imported
    # ones included, would pay a foreign-key trigger for a value nearly always NULL.
    made_reading = models.BooleanField(default=False, db_default=False)
    errors = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"], name="inbound_message_once"
            ),
            # One message makes a reading; it is found by this index.
            models.UniqueConstraint(
                fields=["reading"], condition=Q(made_reading=True), name="inbound_made_reading"
            ),
            models.CheckConstraint(
                condition=Q(made_reading=False) | Q(reading__isnull=False),
                name="inbound_made_names_reading",
            ),
        ]
        indexes = [models.Index(fields=["received_at"], name="inbound_received")]

    def __str__(self) -> str:
        return f"{self.channel} {self.provider_message_id}"
