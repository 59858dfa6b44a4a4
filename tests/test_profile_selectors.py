"""The consumption profile read from the database (R8, R9)."""

from __future__ import annotations

from datetime import date

from autolettura.readings.models import Reading, Source, Status
from autolettura.readings.selectors import meter_histories
from tests.conftest import make_supply, rome


def test_on_one_day_the_operator_reading_counts_over_the_self_reading(db: None) -> None:
    supply = make_supply(installed_on=date(2025, 1, 1), initial_reading=0)
    meter = supply.meters.get()
    for source, value in [(Source.SELF, 130), (Source.OPERATOR, 120)]:
        Reading.objects.create(
            supply=supply,
            meter=meter,
            read_on=date(2025, 6, 20),
            value=value,
            source=source,
            channel="IMPORT",
            status=Status.ACCEPTED,
            submitted_at=rome(2025, 6, 20, 12, 0),
        )

    [history] = meter_histories(supply)

    assert history.readings == [(date(2025, 6, 20), 120)]
