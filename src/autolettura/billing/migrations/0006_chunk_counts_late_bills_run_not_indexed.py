"""Each chunk of a run counts its bills issued later than the regulator's limit, as it
counts the others, and the bills' run is no longer indexed: the run's summary was the one
query that looked bills up by their run, and every bill a run writes added an entry.

The chunks of earlier runs get their count from their bills first, while the index is
still there; back, the count goes and the index is built again.
"""

from datetime import timedelta

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def chunks_count_late_bills(apps, schema_editor):
    Bill = apps.get_model("billing", "Bill")
    BillRunChunk = apps.get_model("billing", "BillRunChunk")
    for chunk in BillRunChunk.objects.select_related("run").iterator():
        limit = chunk.run.issued_on - timedelta(days=settings.AUTOLETTURA_BILL_MAX_DELAY_DAYS)
        late = Bill.objects.filter(
            run_id=chunk.run_id,
            supply_id__gte=chunk.first_supply_id,
            supply_id__lte=chunk.last_supply_id,
            period_end__lt=limit,
        ).count()
        if late:
            BillRunChunk.objects.filter(pk=chunk.pk).update(bills_late=late)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_bill_lines_in_the_bill"),
    ]

    operations = [
        migrations.AddField(
            model_name="billrunchunk",
            name="bills_late",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(chunks_count_late_bills, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="bill",
            name="run",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="bills",
                to="billing.billrun",
            ),
        ),
    ]
