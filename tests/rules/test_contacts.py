"""The counters' addresses and opening hours, as the utility configures them."""

from __future__ import annotations

from datetime import time

import pytest

from autolettura.rules.contacts import Counter, OpeningHours, parse_counters


def test_reads_each_counter_with_its_address_and_hours() -> None:
    counters = parse_counters(
        "Sportello di Valmora|Piazza del Municipio 1, 15090 Valmora|1-5 08:30-12:30/4 14:30-16:30;"
        " San Rocco | Via della Chiesa 6 | 3 09:00-12:00"
    )

    assert counters == (
        Counter(
            "Sportello di Valmora",
            "Piazza del Municipio 1, 15090 Valmora",
            (
                OpeningHours(frozenset({1, 2, 3, 4, 5}), ((time(8, 30), time(12, 30)),)),
                OpeningHours(frozenset({4}), ((time(14, 30), time(16, 30)),)),
            ),
        ),
        Counter(
            "San Rocco",
            "Via della Chiesa 6",
            (OpeningHours(frozenset({3}), ((time(9, 0), time(12, 0)),)),),
        ),
    )


@pytest.mark.parametrize("text", ["", "none", " NONE "])
def test_none_means_no_counter(text: str) -> None:
    assert parse_counters(text) == ()


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Valmora|Piazza 1", "'Valmora|Piazza 1': give name|address|hours"),
        ("Valmora||1-5 08:30-12:30", "give name|address|hours"),
        ("Valmora|Piazza 1|lun-ven 8-12", "'lun-ven 8-12': give days and sessions"),
        ("Valmora|Piazza 1|1-5 12:30-08:30", "'1-5 12:30-08:30'"),
        ("Valmora|Piazza 1|8 08:30-12:30", "'8 08:30-12:30'"),
    ],
)
def test_refuses_what_it_cannot_read_naming_the_part(text: str, names: str) -> None:
    with pytest.raises(ValueError, match=names.replace("|", r"\|").replace("'", "'")):
        parse_counters(text)
