"""The pagoPA settings: each in .env.example with its default and a comment above it; a value
pagoPA would refuse stops the process with a message naming the setting; the flows' import
runs every morning."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lifecycle.test_settings import ROOT, load_settings

PAGOPA = [
    ("AUTOLETTURA_PAGOPA_CREDITOR_FISCAL_CODE", ""),
    ("AUTOLETTURA_PAGOPA_AUX_DIGIT", "3"),
    ("AUTOLETTURA_PAGOPA_SEGREGATION_CODE", "01"),
    ("AUTOLETTURA_PAGOPA_CHECKOUT_URL", "https://api.platform.pagopa.it/checkout/ec/v1/carts"),
    ("AUTOLETTURA_PAGOPA_CHECKOUT_SITE", "https://checkout.pagopa.it"),
    ("AUTOLETTURA_PAGOPA_FLOWS_DIR", ""),
]


@pytest.mark.parametrize(("name", "default"), PAGOPA)
def test_the_example_file_lists_each_setting_with_its_default(name: str, default: str) -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith(f"{name}=")]

    assert lines[at] == f"{name}={default}"
    assert lines[at - 1].startswith("# ")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTOLETTURA_PAGOPA_CREDITOR_FISCAL_CODE", "8001234567"),
        ("AUTOLETTURA_PAGOPA_CREDITOR_FISCAL_CODE", "IT80012345678"),
        ("AUTOLETTURA_PAGOPA_SEGREGATION_CODE", "1"),
        ("AUTOLETTURA_PAGOPA_SEGREGATION_CODE", "ab"),
        ("AUTOLETTURA_PAGOPA_AUX_DIGIT", "0"),
    ],
)
def test_a_value_pagopa_refuses_stops_the_process(tmp_path: Path, name: str, value: str) -> None:
    result = load_settings(tmp_path, **{name: value})

    assert result.returncode != 0
    assert name in result.stderr


def test_the_flows_are_imported_every_morning() -> None:
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["pagopa-flows-import"]
    assert entry["task"] == "autolettura.payments.tasks.flows_import_task"
    assert entry["schedule"].hour == {7}
