"""The links a reading held to its inbound message and to who reviewed or voided it move
to where they were already kept: the message names the reading it made (`made_reading`),
and the audit trail names who reviewed or voided it. Every reading stored then fires three
foreign-key triggers fewer (see benchmarks/RESULTS.md, the readings table's floor).

This migration moves the data; 0010 adds the message's constraints and drops the columns.
A reading reviewed or voided with no audit entry saying by whom (none is made so by the
services, which write both in one transaction) gets one, so that nobody is lost."""

from django.db import migrations, models
from django.db.models import Exists, OuterRef, Subquery

_FROM_READING = "recorded from the reading when its column was removed"


def _links_moved(apps, schema_editor):
    Reading = apps.get_model("readings", "Reading")
    InboundMessage = apps.get_model("readings", "InboundMessage")
    AuditEntry = apps.get_model("backoffice", "AuditEntry")
    # One statement, not one a reading: an installation has many readings sent by channels.
    naming = Reading.objects.filter(inbound_message=OuterRef("pk")).order_by("pk")
    InboundMessage.objects.filter(Exists(naming)).update(
        reading_id=Subquery(naming.values("pk")[:1]), made_reading=True
    )
    for column, actions in (
        ("reviewed", ["ACCEPTED", "DISCARDED"]),
        ("voided", ["VOIDED"]),
    ):
        recorded = AuditEntry.objects.filter(reading=OuterRef("pk"), action__in=actions)
        missing = (
            Reading.objects.filter(**{f"{column}_by__isnull": False})
            .exclude(Exists(recorded))
            .order_by("pk")
        )
        for reading in missing.iterator():
            if column == "voided":
                action = "VOIDED"
            else:
                action = "ACCEPTED" if reading.status == "ACCEPTED" else "DISCARDED"
            AuditEntry.objects.create(
                reading=reading,
                action=action,
                by_id=getattr(reading, f"{column}_by_id"),
                at=getattr(reading, f"{column}_at") or reading.submitted_at,
                note=_FROM_READING,
                status_before="",
                status_after=reading.status,
            )


def _links_back(apps, schema_editor):
    Reading = apps.get_model("readings", "Reading")
    InboundMessage = apps.get_model("readings", "InboundMessage")
    AuditEntry = apps.get_model("backoffice", "AuditEntry")
    maker = InboundMessage.objects.filter(reading=OuterRef("pk"), made_reading=True)
    Reading.objects.filter(Exists(maker)).update(
        inbound_message_id=Subquery(maker.values("pk")[:1])
    )
    for column, actions in (("reviewed", ["ACCEPTED", "DISCARDED"]), ("voided", ["VOIDED"])):
        # The latest such entry of each reading names who.
        entries = AuditEntry.objects.filter(reading=OuterRef("pk"), action__in=actions)
        Reading.objects.filter(Exists(entries)).update(
            **{f"{column}_by_id": Subquery(entries.order_by("-at", "-pk").values("by_id")[:1])}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("readings", "0008_merge_lean_indexes_and_round_channel"),
        ("backoffice", "0005_reader_and_leak_alert_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboundmessage",
            name="made_reading",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.RunPython(_links_moved, _links_back),
    ]
