# The readers' permissions and the leak alerts' ones, made on two lines of work, together.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('backoffice', '0004_leak_alert_permissions'),
        ('backoffice', '0004_reader_permissions'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='auditentry',
            options={'default_permissions': ('view',), 'ordering': ['at', 'id'], 'permissions': [('search_customers', 'Can search customers and see a supply'), ('enter_reading', 'Can enter a reading at the counter or the call centre'), ('review_reading', 'Can accept or discard a reading under review'), ('void_reading', 'Can void a reading'), ('view_dashboard', 'Can see the dashboard and download its tables'), ('view_bills', 'Can see and download bills'), ('run_bills', 'Can start bill runs'), ('dispatch_fault', 'Can move fault reports along their lifecycle'), ('check_payments', 'Can see the pagoPA payments and the ones to check'), ('record_round', "Can record visits to meters in the reader's app"), ('view_rounds', 'Can see a day of the reading rounds'), ('view_leak_alerts', "Can see the smart meters' leak alerts"), ('close_leak_alerts', "Can close a smart meter's leak alert with a note")], 'verbose_name_plural': 'audit entries'},
        ),
    ]
