# Two migrations made side by side: what a photo showed, and the remote source.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('readings', '0005_reading_photo_read'),
        ('readings', '0005_remote_source_and_telemetry_channel'),
    ]

    operations = [
    ]
