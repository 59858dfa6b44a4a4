"""`autolettura read-photo FILE...`: one line a file, FILE<TAB>READING<TAB>CONFIDENCE."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from .images import MeterPhoto, meter_photo


@pytest.mark.django_db
class TestReadPhotoCommand:
    def test_prints_one_line_a_file_and_a_dash_for_what_it_cannot_read(
        self, tmp_path: Path
    ) -> None:
        meter = tmp_path / "meter.jpg"
        meter.write_bytes(meter_photo(MeterPhoto(register="08126")))
        text = tmp_path / "notes.txt"
        text.write_text("not a photo")
        out = io.StringIO()

        call_command("read_photo", str(meter), str(text), "--digits", "5", stdout=out)

        lines = out.getvalue().splitlines()
        assert len(lines) == 2
        name, reading, confidence = lines[0].split("\t")
        assert (name, reading) == (str(meter), "08126")
        assert 0.9 <= float(confidence) <= 1
        assert lines[1] == f"{text}\t-\t0.00"

    def test_without_digits_reads_what_the_wheels_show(self, tmp_path: Path) -> None:
        meter = tmp_path / "meter.jpg"
        meter.write_bytes(meter_photo(MeterPhoto(register="0812", decimals="35")))
        out = io.StringIO()
        call_command("read_photo", str(meter), stdout=out)
        assert out.getvalue().split("\t")[1] == "0812"

    def test_a_meter_with_more_digits_than_the_photo_shows_is_not_read(
        self, tmp_path: Path
    ) -> None:
        meter = tmp_path / "meter.jpg"
        meter.write_bytes(meter_photo(MeterPhoto(register="0812", decimals="35")))
        out = io.StringIO()
        call_command("read_photo", str(meter), "--digits", "6", stdout=out)
        assert out.getvalue() == f"{meter}\t-\t0.00\n"

    def test_a_missing_file_gets_its_line_and_the_reason_on_stderr(self, tmp_path: Path) -> None:
        meter = tmp_path / "meter.jpg"
        meter.write_bytes(meter_photo(MeterPhoto(register="08126")))
        missing = tmp_path / "missing.jpg"
        out, err = io.StringIO(), io.StringIO()
        call_command("read_photo", str(missing), str(meter), stdout=out, stderr=err)
        lines = out.getvalue().splitlines()
        assert lines[0] == f"{missing}\t-\t0.00"
        assert lines[1].startswith(f"{meter}\t08126\t")
        assert err.getvalue() == f"{missing}: No such file or directory\n"

    def test_digits_out_of_range_are_refused(self, tmp_path: Path) -> None:
        with pytest.raises(CommandError, match="digits"):
            call_command("read_photo", str(tmp_path / "x.jpg"), "--digits", "12")
