# Two migrations made side by side: the fiscal code for SPID, the user code for ARERA.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0005_customer_fiscal_code"),
        ("customers", "0006_supply_user_codes_for_existing"),
    ]

    operations = []
