"""A bill's lines are kept in the bill's own row (`Bill.lines`, a JSON list in position
order), no longer one row each in billing_billline: a bill is written, read and deleted
with its lines in one row, and a bill run no longer inserts some six rows a bill, each
checked against its bill at commit.

The lines move across in one statement each way on PostgreSQL, bill by bill in Python on
SQLite; a line's position is its place in the list, from 1.
"""

from decimal import ROUND_HALF_UP, Decimal

import django.db.models.deletion
from django.db import migrations, models

BILLS, LINES = "billing_bill", "billing_billline"
BATCH = 2000


def _text(value, places):
    return str(Decimal(value).quantize(Decimal(places), ROUND_HALF_UP))


def lines_into_bills(apps, schema_editor):
    quote = schema_editor.quote_name
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"UPDATE {quote(BILLS)} b SET lines = l.lines FROM ("
            "  SELECT bill_id, jsonb_agg(jsonb_build_object("
            "    'kind', kind, 'description', description, 'quantity', quantity::text,"
            "    'unit_price', unit_price::text, 'amount', amount::text"
            f"  ) ORDER BY position) AS lines FROM {quote(LINES)} GROUP BY bill_id"
            ") l WHERE b.id = l.bill_id"
        )
        return
    Bill = apps.get_model("billing", "Bill")
    BillLine = apps.get_model("billing", "BillLine")
    rows = (
        BillLine.objects.order_by("bill_id", "position")
        .values_list("bill_id", "kind", "description", "quantity", "unit_price", "amount")
        .iterator()
    )
    pending: dict[int, list[dict[str, str]]] = {}
    for bill_id, kind, description, quantity, unit_price, amount in rows:
        if bill_id not in pending and len(pending) >= BATCH:
            _bills_update(Bill, pending)
            pending = {}
        pending.setdefault(bill_id, []).append(
            {
                "kind": kind,
                "description": description,
                "quantity": _text(quantity, "0.01"),
                "unit_price": _text(unit_price, "0.000001"),
                "amount": _text(amount, "0.01"),
            }
        )
    _bills_update(Bill, pending)


def _bills_update(Bill, lines_of):
    bills = list(Bill.objects.filter(id__in=list(lines_of)).only("id"))
    for bill in bills:
        bill.lines = lines_of[bill.id]
    Bill.objects.bulk_update(bills, ["lines"], batch_size=500)


def lines_out_of_bills(apps, schema_editor):
    quote = schema_editor.quote_name
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"INSERT INTO {quote(LINES)} "
            "(bill_id, position, kind, description, quantity, unit_price, amount) "
            "SELECT b.id, e.n, e.line->>'kind', e.line->>'description', "
            "(e.line->>'quantity')::numeric, (e.line->>'unit_price')::numeric, "
            "(e.line->>'amount')::numeric "
            f"FROM {quote(BILLS)} b CROSS JOIN LATERAL jsonb_array_elements(b.lines) "
            "WITH ORDINALITY AS e(line, n)"
        )
        return
    Bill = apps.get_model("billing", "Bill")
    BillLine = apps.get_model("billing", "BillLine")
    batch = []
    for bill_id, lines in Bill.objects.order_by("id").values_list("id", "lines").iterator():
        for position, line in enumerate(lines or [], start=1):
            batch.append(
                BillLine(
                    bill_id=bill_id,
                    position=position,
                    kind=line["kind"],
                    description=line["description"],
                    quantity=Decimal(line["quantity"]),
                    unit_price=Decimal(line["unit_price"]),
                    amount=Decimal(line["amount"]),
                )
            )
        if len(batch) >= BATCH:
            BillLine.objects.bulk_create(batch)
            batch = []
    BillLine.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_bill_line_keyed_by_bill_and_position"),
    ]

    operations = [
        # The old lines' way back to their bill renamed first (in the state only): the
        # bill's new field takes its name.
        migrations.AlterField(
            model_name="billline",
            name="bill",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="billing.bill",
            ),
        ),
        migrations.AddField(
            model_name="bill",
            name="lines",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(lines_into_bills, lines_out_of_bills, elidable=False),
        migrations.DeleteModel(name="BillLine"),
    ]
