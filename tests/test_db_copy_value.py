"""db.copy_value: values in COPY's text format, text escaped only where it must be."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from autolettura import db


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "\\N"),
        ("Acquedotto, fascia base", "Acquedotto, fascia base"),
        ('[{"on":"2026-10-20","value":1404}]', '[{"on":"2026-10-20","value":1404}]'),
        ("a\\b", "a\\\\b"),
        ("a\tb", "a\\tb"),
        ("a\nb", "a\\nb"),
        ("a\rb", "a\\rb"),
        ("\\\t\n\r", "\\\\\\t\\n\\r"),
        ("", ""),
        (12, "12"),
        (Decimal("-3.50"), "-3.50"),
        (date(2026, 10, 31), "2026-10-31"),
    ],
)
def test_copy_value(value: object, text: str) -> None:
    assert db.copy_value(value) == text
