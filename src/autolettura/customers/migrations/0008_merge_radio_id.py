# Two migrations made side by side: the meter radio id, and the fiscal and user codes.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0005_meter_radio_id'),
        ('customers', '0007_merge_fiscal_code_and_user_code'),
    ]

    operations = [
    ]
