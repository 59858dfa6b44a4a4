"""The regulator's yearly report against a hand-counted year (2026), in both file formats,
every figure traced to its rows, in Italian (it goes to ARERA) whatever language is active.

Hand count for 2026:
- readings taken by the utility: supply A (CMA 150) twice, supply B (business, CMA 3,500)
  once; A's reading of 2025 is another year's;
- visits of the rounds: A's of 10 March (read) and 10 September (failed: absent), B's of
  10 November (still planned); B's of February 2027 is next year's;
- self-readings: A by app (accepted), A by SMS (discarded on arrival: told at once), B on
  the web (under review since 22 December, not told by 8 January: late); one of 2027 left
  out. So 1 validated, 2 not, 50.0% told in time;
- bills issued in 2026: A's December 2025 bill on 20 February (51 days: late) and its
  February 2026 bill on 5 March (in time): 2, 50.0% in time;
- compensations of 2026: 30 euro for the late bill (the ones the clock makes in 2027 are
  2027's);
- emergencies: 1 May (on site after 4 hours) and 31 December 23:00 (on site at 01:30 the
  next year, in time); the one of 2027 left out: 2, 50.0% in time.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import translation
from openpyxl import load_workbook

from autolettura.customers.models import Usage
from autolettura.readings.models import Channel, Reading, Source, Status
from autolettura.regulation.reports import arera_report, report_write
from autolettura.regulation.services import obligations_tick
from autolettura.rounds.models import AttemptState, ReadingAttempt, Slot
from autolettura.service.models import Category, FaultChannel, FaultReport, FaultStatus, Urgency
from tests.billing.support import add_reading, bill_run, load_tariffs
from tests.conftest import make_supply, rome

pytestmark = pytest.mark.django_db

EXPECTED = {
    "attempts_made_low": 2,
    "attempts_made_high": 1,
    "attempts_planned_low": 2,
    "visits_made_low": 1,
    "attempts_failed_low": 1,
    "attempts_planned_high": 1,
    "visits_made_high": 0,
    "attempts_failed_high": 0,
    "self_by_app": 1,
    "self_by_sms": 1,
    "self_by_web": 1,
    "self_validated": 1,
    "self_not_validated": 2,
    "self_told_in_time": Decimal("50.0"),
    "bills_issued": 2,
    "bills_in_time": Decimal("50.0"),
    "compensations_bill_issued": 1,
    "compensations_bill_issued_eur": Decimal("30.00"),
    "emergencies": 2,
    "emergencies_in_time": Decimal("50.0"),
    # The three visits of 2026; only the one of 10 November was told, on the 4th working
    # day before it (4 November): one in three in time.
    "visit_notices": 3,
    "visit_notices_in_time": Decimal("33.3"),
}


def self_reading(supply, channel: str, status: str, at, value: int) -> Reading:  # type: ignore[no-untyped-def]
    return Reading.objects.create(
        supply=supply,
        meter=supply.meters.get(),
        read_on=at.date(),
        value=value,
        source=Source.SELF,
        channel=channel,
        status=status,
        reason={"DISCARDED": "outside_window", "UNDER_REVIEW": "high_consumption"}.get(status),
        submitted_at=at,
        receipt=f"AL-{at:%Y}-{value:06d}",
    )


def emergency(received_at, on_site_at) -> None:  # type: ignore[no-untyped-def]
    FaultReport.objects.create(
        ticket=f"GU-{received_at:%Y%m%d%H}",
        category=Category.LEAK,
        urgency=Urgency.EMERGENCY,
        channel=FaultChannel.PHONE,
        address="Via Roma 1",
        contact_phone="+393331234567",
        received_at=received_at,
        status=FaultStatus.ON_SITE if on_site_at else FaultStatus.RECEIVED,
        dispatched_at=received_at if on_site_at else None,
        on_site_at=on_site_at,
    )


@pytest.fixture
def year_2026() -> None:
    with override_settings(AUTOLETTURA_CMA_DEFAULT_BUSINESS=Decimal(3500)):
        load_tariffs(2025, 2026)
        a = make_supply(installed_on=date(2025, 11, 1))
        b = make_supply(installed_on=date(2026, 6, 1), usage=Usage.BUSINESS)
        add_reading(a, date(2025, 12, 20), 30)
        bill_run(through=date(2025, 12, 31), issued_on=date(2026, 2, 20))
        obligations_tick(now=rome(2026, 2, 21, 5, 15))
        bill_run(through=date(2026, 2, 28), issued_on=date(2026, 3, 5))
        add_reading(a, date(2026, 6, 20), 80)
        add_reading(a, date(2026, 10, 20), 120)
        add_reading(b, date(2026, 9, 10), 400)
        self_reading(a, Channel.APP, Status.ACCEPTED, rome(2026, 8, 20, 9), 101)
        self_reading(a, Channel.SMS, Status.DISCARDED, rome(2026, 11, 3, 9), 102)
        self_reading(b, Channel.WEB, Status.UNDER_REVIEW, rome(2026, 12, 22, 18, 30), 103)
        self_reading(b, Channel.WEB, Status.ACCEPTED, rome(2027, 1, 2, 10), 104)
        emergency(rome(2026, 5, 1, 10), rome(2026, 5, 1, 14))
        emergency(rome(2026, 12, 31, 23), rome(2027, 1, 1, 1, 30))
        emergency(rome(2027, 1, 1, 8), None)
        for supply, day, state, cause, noticed_at in (
            (a, date(2026, 3, 10), AttemptState.MADE, "", None),
            (a, date(2026, 9, 10), AttemptState.FAILED, "assente", None),
            (b, date(2026, 11, 10), AttemptState.PLANNED, "", rome(2026, 11, 4, 8, 20)),
            (b, date(2027, 2, 10), AttemptState.PLANNED, "", None),
        ):
            ReadingAttempt.objects.create(
                supply=supply,
                planned_on=day,
                slot=Slot.MORNING,
                state=state,
                cause=cause,
                noticed_at=noticed_at,
                created_at=rome(2025, 12, 15),
            )
        obligations_tick(now=rome(2027, 1, 15, 5, 15))


class TestFigures:
    def test_every_figure_matches_the_hand_count(self, year_2026: None) -> None:
        with override_settings(AUTOLETTURA_CMA_DEFAULT_BUSINESS=Decimal(3500)):
            report = arera_report(year=2026)
        assert {f.key: f.value for f in report.figures} == EXPECTED

    def test_each_count_is_as_many_rows_as_it_says_and_each_share_shows_its_cases(
        self, year_2026: None
    ) -> None:
        figures = {f.key: f for f in arera_report(year=2026).figures}
        for figure in figures.values():
            if figure.unit == "":
                assert figure.value == len(figure.rows), figure.key
        assert [t.note for t in figures["bills_in_time"].rows] == [
            "periodo chiuso il 31/12/2025, emessa dopo 51 giorni, in ritardo",
            "periodo chiuso il 28/02/2026, emessa dopo 5 giorni, nei tempi",
        ]
        assert [t.ref for t in figures["emergencies"].rows] == ["GU-2026050110", "GU-2026123123"]
        (late,) = [t for t in figures["self_told_in_time"].rows if "in ritardo" in t.note]
        assert late.on == date(2026, 12, 22)


class TestFiles:
    def test_the_workbook_has_the_summary_and_the_detail(
        self, year_2026: None, tmp_path: Path
    ) -> None:
        path = tmp_path / "arera-2026.xlsx"
        out = StringIO()
        with override_settings(AUTOLETTURA_CMA_DEFAULT_BUSINESS=Decimal(3500)):
            call_command("arera_report", "--year", "2026", str(path), stdout=out)
        book = load_workbook(path)
        assert book.sheetnames == ["Riepilogo", "Dettaglio"]
        summary = list(book["Riepilogo"].iter_rows(values_only=True))
        assert summary[0][0] == "Rapporto ARERA 2026"
        assert summary[1] == ("indicatore", "sezione", "descrizione", "valore", "unità", "righe")
        values = {row[0]: row[3] for row in summary[2:]}
        assert values == {k: float(v) if isinstance(v, Decimal) else v for k, v in EXPECTED.items()}
        detail = list(book["Dettaglio"].iter_rows(values_only=True))
        assert detail[0] == (
            "indicatore",
            "tabella",
            "riferimento",
            "codice utenza",
            "data",
            "nota",
        )
        counted = sum(row[5] for row in summary[2:])
        assert len(detail) - 1 == counted
        assert "written:" in out.getvalue()

    def test_the_csv_comes_with_its_detail_file(self, year_2026: None, tmp_path: Path) -> None:
        path = tmp_path / "arera-2026.csv"
        call_command("arera_report", "--year", "2026", str(path), stdout=StringIO())
        with path.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert {r["indicatore"]: r["valore"] for r in rows}["bills_in_time"] == "50.0"
        with (tmp_path / "arera-2026-detail.csv").open(encoding="utf-8") as handle:
            detail = list(csv.DictReader(handle))
        assert sum(1 for r in detail if r["indicatore"] == "bills_issued") == 2
        assert {r["tabella"] for r in detail if r["indicatore"] == "bills_issued"} == {"bolletta"}

    def test_is_written_in_italian_whatever_language_is_active(
        self, year_2026: None, tmp_path: Path
    ) -> None:
        path = tmp_path / "arera-2026.csv"
        with translation.override("en"):
            report = arera_report(year=2026)
            report_write(report, path)
        labels = {f.key: (f.section, f.label) for f in report.figures}

        assert labels["attempts_made_low"] == (
            "Tentativi di lettura",
            "letture rilevate dal gestore, CMA fino a 3000 m³",
        )
        assert labels["visits_made_high"] == (
            "Tentativi di lettura",
            "visite effettuate, CMA oltre 3000 m³",
        )
        assert labels["self_validated"] == ("Autoletture", "validate")
        assert labels["self_told_in_time"] == (
            "Autoletture",
            "non validate: quota con esito comunicato entro 9 giorni lavorativi",
        )
        assert labels["bills_in_time"] == (
            "Bollette",
            "quota emessa entro 45 giorni dalla fine del periodo",
        )
        assert labels["emergencies"] == ("Pronto intervento", "segnalate")
        assert labels["compensations_bill_issued_eur"][0] == "Indennizzi automatici"
        assert labels["compensations_bill_issued_eur"][1].endswith(": importo")
        with path.open(encoding="utf-8") as handle:
            assert handle.readline().strip() == "indicatore,sezione,descrizione,valore,unità,righe"

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--year", "2026", "report.pdf"], "as .xlsx or .csv"),
            (["--year", "26", "report.csv"], "as YYYY"),
            (["--year", "2026", "/no/such/folder/report.csv"], "is not a folder"),
        ],
    )
    def test_a_bad_argument_says_what_to_fix(
        self, args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        with pytest.raises(CommandError, match=message):
            call_command("arera_report", *args, stdout=StringIO())
