"""`autolettura check-restore`: counts, gaps in receipt numbers (information) and in bill
numbers (errors while the year is kept), counters behind the numbers given, missing files."""

from __future__ import annotations

import os
from datetime import date, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura import clock
from autolettura.billing.models import BillNumberCounter
from autolettura.customers.models import Supply
from autolettura.env import installation_secret_key
from autolettura.lifecycle.selectors import restore_check
from autolettura.readings.models import ReceiptCounter
from autolettura.rules.retention import RetentionPolicy
from autolettura.service.models import FaultReport
from tests.conftest import make_supply, rome
from tests.lifecycle.support import NOW, bill, photo, reading

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(tmp_path: Path, settings: SettingsWrapper) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    # No key file of this test run's own: the key's tests below make theirs.
    settings.VAR_DIR = tmp_path / "var"


KEY = "k" * 67


def key_file(folder: Path, *, made: datetime, key: str = KEY) -> Path:
    path = folder / "secret-key"
    path.write_text(key + "\n")
    os.utime(path, (made.timestamp(), made.timestamp()))
    return path


@pytest.fixture
def whole() -> Supply:
    """A supply with readings (one with a photo) and bills, every number in place."""
    supply = make_supply(installed_on=date(2026, 1, 1))
    reading(supply, date(2026, 2, 20), 20, with_photo=True)
    reading(supply, date(2026, 4, 20), 40)
    bill(supply, year=2026, period_start=date(2026, 1, 1), period_end=date(2026, 2, 28))
    bill(supply, year=2026, period_start=date(2026, 3, 1), period_end=date(2026, 4, 30))
    return supply


def run(*, expect_exit: int = 0) -> str:
    out = StringIO()
    if expect_exit:
        with pytest.raises(SystemExit) as exited:
            call_command("check_restore", stdout=out)
        assert exited.value.code == expect_exit
    else:
        call_command("check_restore", stdout=out)
    return out.getvalue()


class TestAWholeRestore:
    def test_counts_what_is_there_and_says_it_is_whole(
        self, whole: Supply, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(clock, "now", lambda: NOW)

        out = run()

        assert "customers: 1\n" in out
        assert "supplies: 1\n" in out
        assert "readings: 2\n" in out
        assert "bills: 2\n" in out
        assert "receipts of 2026: 2\n" in out
        assert "files referenced: 1\n" in out
        assert "the restore is whole" in out
        assert "ERROR" not in out and "note:" not in out


class TestWhatIsWrong:
    def test_a_gap_in_the_bill_numbers_of_a_kept_year_is_an_error(self, whole: Supply) -> None:
        bill(
            whole,
            year=2026,
            sequence=5,
            period_start=date(2026, 5, 1),
            period_end=date(2026, 6, 30),
        )

        report = restore_check(now=NOW, policy=RetentionPolicy())

        assert report.errors == [
            "bills of 2026: 2 numbers up to 5 missing (3-4); bill numbers must run without gaps"
        ]

    def test_a_gap_in_a_year_past_its_retention_is_only_a_note(self) -> None:
        supply = make_supply(installed_on=date(2014, 1, 1))
        bill(
            supply,
            year=2015,
            sequence=7,
            period_start=date(2014, 11, 1),
            period_end=date(2014, 12, 31),
        )

        report = restore_check(now=NOW, policy=RetentionPolicy())

        assert report.ok
        assert report.notes == [
            "bills of 2015: 6 numbers up to 7 missing (1-6); the year is past its retention"
        ]

    def test_a_gap_in_receipt_numbers_is_information_not_an_error(self, whole: Supply) -> None:
        reading(whole, date(2026, 6, 20), 60, receipt="AL-2026-000005")
        ReceiptCounter.objects.filter(year=2026).update(last_number=5)

        report = restore_check(now=NOW, policy=RetentionPolicy())

        assert report.ok
        assert report.notes == [
            "receipts of 2026: 2 numbers up to 5 have no reading (3-4); readings removed at "
            "the end of their retention, or lost since the backup"
        ]

    def test_a_receipt_counter_behind_the_receipts_given_is_an_error(self, whole: Supply) -> None:
        ReceiptCounter.objects.filter(year=2026).update(last_number=1)

        report = restore_check(now=NOW, policy=RetentionPolicy())

        assert report.errors == [
            "receipts of 2026: the counter is at 1 but receipt number 2 exists, so the next "
            "receipts would repeat given ones: set the counter (readings_receiptcounter, year "
            "2026) to 2"
        ]

    def test_a_bill_counter_behind_the_bills_given_is_an_error(self, whole: Supply) -> None:
        BillNumberCounter.objects.filter(year=2026).delete()

        report = restore_check(now=NOW, policy=RetentionPolicy())

        assert len(report.errors) == 1
        assert report.errors[0].startswith(
            "bills of 2026: the counter is at 0 but bill 2026/000002 exists"
        )

    def test_files_referenced_but_missing_are_named_and_fail_the_command(
        self, whole: Supply, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(clock, "now", lambda: NOW)
        lost = whole.readings.exclude(photo="").get()
        default_storage.delete(lost.photo.name)
        FaultReport.objects.create(
            ticket="GU-2026-000001",
            category="LEAK",
            urgency="EMERGENCY",
            channel="APP",
            address="Via Roma 1",
            contact_phone="+393471234567",
            photo=photo("faults/2026/12/leak.png"),
            received_at=rome(2026, 12, 1, 8, 0),
        )
        default_storage.delete("faults/2026/12/leak.png")

        out = run(expect_exit=1)

        assert "files referenced: 2\n" in out
        assert (
            f"ERROR: files referenced but missing from {default_storage.location} (2): "
            f"photo of reading {lost.receipt}: {lost.photo.name}; "
            "photo of fault report GU-2026-000001: faults/2026/12/leak.png\n"
        ) in out
        assert "problems found: 1" in out


class TestTheSecretKey:
    def test_a_key_file_made_after_the_newest_data_was_made_anew_not_restored(
        self, whole: Supply, tmp_path: Path, settings: SettingsWrapper
    ) -> None:
        settings.SECRET_KEY = KEY
        path = key_file(tmp_path, made=NOW)

        report = restore_check(now=NOW, policy=RetentionPolicy(), secret_key_file=path)

        assert report.errors == [
            f"the secret key in {path} was made at 2026-12-06 11:00 UTC, after the newest data "
            "(2026-04-20 10:00 UTC): it was made anew, not restored. Stop the services, "
            "restore it from the files' backup and start them again, or customers' sessions "
            "and the links already sent stop working"
        ]

    def test_a_restored_key_file_is_older_than_the_data(
        self, whole: Supply, tmp_path: Path, settings: SettingsWrapper
    ) -> None:
        settings.SECRET_KEY = KEY
        path = key_file(tmp_path, made=rome(2026, 1, 2, 9, 0))

        report = restore_check(now=NOW, policy=RetentionPolicy(), secret_key_file=path)

        assert report.ok
        assert report.notes == [f"secret key: {path}, made at 2026-01-02 08:00 UTC"]

    def test_a_key_from_the_environment_leaves_the_file_alone(
        self, whole: Supply, tmp_path: Path, settings: SettingsWrapper
    ) -> None:
        settings.SECRET_KEY = "another key, from SECRET_KEY"
        path = key_file(tmp_path, made=NOW)

        report = restore_check(now=NOW, policy=RetentionPolicy(), secret_key_file=path)

        assert report.ok and report.notes == []

    def test_a_key_file_this_process_made_was_made_anew_whatever_its_time(
        self, whole: Supply, tmp_path: Path, settings: SettingsWrapper
    ) -> None:
        # Data dated after the file (a clock set ahead): its time alone would not tell.
        reading(whole, date(2026, 6, 20), 60, submitted_at=rome(2030, 1, 1, 9, 0))
        settings.SECRET_KEY = installation_secret_key(tmp_path / "secret-key")

        report = restore_check(
            now=NOW, policy=RetentionPolicy(), secret_key_file=tmp_path / "secret-key"
        )

        assert len(report.errors) == 1
        assert "UTC by this command: it was made anew, not restored" in report.errors[0]

    def test_the_command_looks_at_the_installations_key_file(
        self,
        whole: Supply,
        tmp_path: Path,
        settings: SettingsWrapper,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(clock, "now", lambda: NOW)
        settings.SECRET_KEY = KEY
        (tmp_path / "var").mkdir()
        key_file(tmp_path / "var", made=NOW)

        out = run(expect_exit=1)

        assert "ERROR: the secret key in" in out
