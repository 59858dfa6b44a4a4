"""The retention settings: each one in .env.example with its default and its reason, and a
value the settings cannot use stops the process with a message naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
RETENTION = [
    "AUTOLETTURA_RETENTION_READINGS_YEARS",
    "AUTOLETTURA_RETENTION_BILLS_YEARS",
    "AUTOLETTURA_RETENTION_MESSAGES_DAYS",
    "AUTOLETTURA_RETENTION_DISCARDED_PHOTOS_DAYS",
    "AUTOLETTURA_RETENTION_BATCH",
]


def load_settings(home: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT / "src"),
        "AUTOLETTURA_HOME": str(home),
        **variables,
    }
    return subprocess.run(
        [sys.executable, "-c", "import autolettura.settings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestTheExampleFile:
    @pytest.mark.parametrize("name", RETENTION)
    def test_lists_each_setting_with_its_default_and_a_reason_above_it(self, name: str) -> None:
        lines = (ROOT / ".env.example").read_text().splitlines()
        (at,) = [i for i, line in enumerate(lines) if line.startswith(f"{name}=")]

        assert lines[at] == f"{name}={getattr(settings, name)}"
        assert lines[at - 1].startswith("# ")

    def test_gives_the_legal_reasons(self) -> None:
        text = (ROOT / ".env.example").read_text()

        assert "ARERA" in text
        assert "art. 2220" in text and "DPR 600/1973" in text
        assert "GDPR art. 5(1)(e)" in text


class TestABadValue:
    def test_messages_kept_longer_than_readings_stops_the_process(self, tmp_path: Path) -> None:
        result = load_settings(
            tmp_path,
            AUTOLETTURA_RETENTION_READINGS_YEARS="1",
            AUTOLETTURA_RETENTION_MESSAGES_DAYS="400",
        )

        assert result.returncode != 0
        assert (
            "AUTOLETTURA_RETENTION_MESSAGES_DAYS must not be longer than "
            "AUTOLETTURA_RETENTION_READINGS_YEARS"
        ) in result.stderr

    @pytest.mark.parametrize("value", ["0", "ten", "-5"])
    def test_a_period_that_is_not_a_positive_number_stops_the_process(
        self, tmp_path: Path, value: str
    ) -> None:
        result = load_settings(tmp_path, AUTOLETTURA_RETENTION_BILLS_YEARS=value)

        assert result.returncode != 0
        assert "AUTOLETTURA_RETENTION_BILLS_YEARS" in result.stderr
