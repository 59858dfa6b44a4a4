"""The walking order of a round and the position of a failed visit, as plain values."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules.errors import FormatError
from autolettura.rules.round_visits import position_parse, walking_key


def test_a_street_is_walked_by_house_number_not_by_text() -> None:
    addresses = [
        "Via Roma 12, 15090 Valmora",
        "Corso Italia 3, 15090 Valmora",
        "Via Roma 2/B, 15090 Valmora",
        "via  roma 2, 15090 Valmora",
    ]

    ordered = sorted(addresses, key=walking_key)

    assert ordered == [
        "Corso Italia 3, 15090 Valmora",
        "via  roma 2, 15090 Valmora",
        "Via Roma 2/B, 15090 Valmora",
        "Via Roma 12, 15090 Valmora",
    ]


@given(st.text())
def test_any_address_has_a_place_in_the_walk(address: str) -> None:
    street, number, _rest = walking_key(address)
    assert number >= 0 and isinstance(street, str)


def test_a_position_is_kept_to_six_decimals_and_accuracy_to_a_tenth() -> None:
    found = position_parse("44.91234567", "8.6", "12.34")

    assert found is not None
    assert (found.latitude, found.longitude, found.accuracy_m) == (
        Decimal("44.912346"),
        Decimal("8.600000"),
        Decimal("12.3"),
    )
    assert position_parse("", None, "") is None


@given(
    st.decimals(min_value=-90, max_value=90, places=6),
    st.decimals(min_value=-180, max_value=180, places=6),
)
def test_every_position_in_range_is_taken(latitude: Decimal, longitude: Decimal) -> None:
    found = position_parse(str(latitude), str(longitude), None)
    assert found is not None and found.latitude == latitude


@pytest.mark.parametrize(("lat", "lon"), [("90.000001", "0"), ("0", "180.1"), ("inf", "0")])
def test_a_position_out_of_range_is_refused(lat: str, lon: str) -> None:
    with pytest.raises(FormatError):
        position_parse(lat, lon, None)
