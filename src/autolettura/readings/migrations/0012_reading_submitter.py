"""Who entered a reading moves from a column of the reading to ReadingSubmitter, a row only
for the readings a person entered: every reading stored, imported ones included, then fires
no foreign-key trigger for a column nearly always NULL (see benchmarks/RESULTS.md, the
readings table's floor). The rule is the same: the person exists and cannot be deleted while
a reading names them. The rows move in one statement each way."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def _submitters_moved(apps, schema_editor):
    Reading = apps.get_model("readings", "Reading")
    ReadingSubmitter = apps.get_model("readings", "ReadingSubmitter")
    quote = schema_editor.quote_name
    schema_editor.execute(
        f"INSERT INTO {quote(ReadingSubmitter._meta.db_table)} (reading_id, submitted_by_id) "
        f"SELECT id, submitted_by_id FROM {quote(Reading._meta.db_table)} "
        "WHERE submitted_by_id IS NOT NULL"
    )


def _submitters_back(apps, schema_editor):
    Reading = apps.get_model("readings", "Reading")
    ReadingSubmitter = apps.get_model("readings", "ReadingSubmitter")
    submitter = ReadingSubmitter.objects.filter(reading=OuterRef("pk"))
    Reading.objects.filter(pk__in=ReadingSubmitter.objects.values("reading")).update(
        submitted_by_id=Subquery(submitter.values("submitted_by")[:1])
    )


class Migration(migrations.Migration):

    dependencies = [
        ('readings', '0011_taken_once_finds_all'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ReadingSubmitter',
            fields=[
                ('reading', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='submitter', serialize=False, to='readings.reading')),
                ('submitted_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.RunPython(_submitters_moved, _submitters_back),
        migrations.RemoveField(
            model_name='reading',
            name='submitted_by',
        ),
    ]
