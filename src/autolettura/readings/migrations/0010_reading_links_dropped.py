"""See 0009: the message's constraints, and the reading's three columns dropped."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("readings", "0009_inbound_made_reading"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="inboundmessage",
            constraint=models.UniqueConstraint(
                condition=models.Q(("made_reading", True)),
                fields=("reading",),
                name="inbound_made_reading",
            ),
        ),
        migrations.AddConstraint(
            model_name="inboundmessage",
            constraint=models.CheckConstraint(
                condition=models.Q(("made_reading", False), ("reading__isnull", False), _connector="OR"),
                name="inbound_made_names_reading",
            ),
        ),
        migrations.RemoveField(model_name="reading", name="inbound_message"),
        migrations.RemoveField(model_name="reading", name="reviewed_by"),
        migrations.RemoveField(model_name="reading", name="voided_by"),
    ]
