"""Every existing supply gets the regulator's unique user code (region and municipality
from the settings, its id as the progressive), in one UPDATE."""

from django.conf import settings
from django.db import migrations
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat, LPad


def assign(apps, schema_editor):  # type: ignore[no-untyped-def]
    supply = apps.get_model("customers", "Supply")
    prefix = settings.AUTOLETTURA_ISTAT_REGION + settings.AUTOLETTURA_ISTAT_MUNICIPALITY
    supply.objects.filter(user_code__isnull=True).update(
        user_code=Concat(
            Value(prefix), LPad(Cast("id", CharField()), 8, Value("0")), output_field=CharField()
        )
    )


class Migration(migrations.Migration):
    dependencies = [("customers", "0005_supply_user_code")]

    operations = [migrations.RunPython(assign, migrations.RunPython.noop)]
