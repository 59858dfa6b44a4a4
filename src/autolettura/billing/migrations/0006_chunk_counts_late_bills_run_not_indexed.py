"""Each chunk of a run counts its bills issued later than the regulator's limit, as it
counts the others, and the bills' run is no longer indexed: the run's summary was the one
query that looked bills up by their run, and every bill a run writes added an entry.

The chunks of earlier runs get their count from their bills first, while the index is
still there; back, the count goes and the index is built again.
"""

import bisect
from datetime import timedelta

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def chunks_count_late_bills(apps, schema_editor):
    Bill = apps.get_model("billing", "Bill")
    BillRun = apps.get_model("billing", "BillRun")
    BillRunChunk = apps.get_model("billing", "BillRunChunk")
    delay = timedelta(days=settings.AUTOLETTURA_BILL_MAX_DELAY_DAYS)
    # A run at a time: its late bills (few, if any) read once, each counted in the chunk
    # whose range holds its supply.
    for run in BillRun.objects.order_by("pk").iterator():
        chunks = list(
            BillRunChunk.objects.filter(run=run)
            .order_by("first_supply_id")
            .values_list("pk", "first_supply_id", "last_supply_id")
        )
        starts = [first for _pk, first, _last in chunks]
        late: dict[int, int] = {}
        for supply_id in Bill.objects.filter(
            run=run, period_end__lt=run.issued_on - delay
        ).values_list("supply_id", flat=True):
            index = bisect.bisect_right(starts, supply_id) - 1
            if index >= 0 and supply_id <= chunks[index][2]:
                late[chunks[index][0]] = late.get(chunks[index][0], 0) + 1
        for pk, count in late.items():
            BillRunChunk.objects.filter(pk=pk).update(bills_late=count)


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
