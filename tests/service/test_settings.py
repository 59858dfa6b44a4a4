"""The service's settings fail loudly on a value they cannot use, naming the variable."""

from __future__ import annotations

from datetime import time

import pytest

from autolettura.env import ConfigurationError, envparsed
from autolettura.rules.hours import INFO_LINE, parse_month_day, parse_sessions, parse_weekdays


class TestServiceSettings:
    def test_reads_the_info_lines_hours(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AUTOLETTURA_INFO_LINE_HOURS", "09:00-13:00")

        sessions = envparsed(
            "AUTOLETTURA_INFO_LINE_HOURS", INFO_LINE.sessions, parse_sessions, "sessions"
        )

        assert sessions == ((time(9, 0), time(13, 0)),)

    def test_an_empty_or_missing_variable_keeps_the_default(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AUTOLETTURA_PATRON_DAY", "")
        monkeypatch.delenv("AUTOLETTURA_INFO_LINE_DAYS", raising=False)

        assert envparsed(
            "AUTOLETTURA_PATRON_DAY", INFO_LINE.patron_day, parse_month_day, "MM-DD"
        ) == (11, 10)
        assert envparsed("AUTOLETTURA_INFO_LINE_DAYS", INFO_LINE.weekdays, parse_weekdays, "") == (
            INFO_LINE.weekdays
        )

    def test_none_means_no_patron_day(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AUTOLETTURA_PATRON_DAY", "none")

        assert (
            envparsed("AUTOLETTURA_PATRON_DAY", INFO_LINE.patron_day, parse_month_day, "MM-DD")
            is None
        )

    @pytest.mark.parametrize(
        ("name", "value", "parse"),
        [
            ("AUTOLETTURA_INFO_LINE_HOURS", "8.15-12", parse_sessions),
            ("AUTOLETTURA_INFO_LINE_DAYS", "mon-fri", parse_weekdays),
            ("AUTOLETTURA_PATRON_DAY", "10/11", parse_month_day),
        ],
    )
    def test_a_bad_value_stops_with_the_variables_name(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str, parse: object
    ) -> None:
        monkeypatch.setenv(name, value)

        with pytest.raises(ConfigurationError, match=name):
            envparsed(name, None, parse, "something usable")  # type: ignore[arg-type]
