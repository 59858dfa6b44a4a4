"""Fixtures for fault reports: a valid report's fields, operators, and a private media folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.service.models import FaultReport
from autolettura.service.services import fault_report_create
from tests import pictures
from tests.conftest import rome

APRIL_15 = rome(2026, 4, 15, 10, 0)  # a Wednesday, the info line open

# The smallest files each format is recognised by.
JPEG = pictures.JPEG
PNG = pictures.PNG


def fault_fields(**overrides: Any) -> dict[str, Any]:
    """The arguments of a valid report: a leak in the street, reported from the app."""
    fields: dict[str, Any] = {
        "category": "LEAK",
        "description": "Acqua che esce dal tombino davanti al civico 12",
        "address": "Via Roma 12, Alessandria",
        "latitude": None,
        "longitude": None,
        "contact_name": "Maria Rossi",
        "contact_phone": "347 1234567",
        "contact_email": "",
        "channel": "APP",
        "now": APRIL_15,
    }
    fields.update(overrides)
    return fields


def report_fault(**overrides: Any) -> FaultReport:
    return fault_report_create(**fault_fields(**overrides))


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_user(username="operatore", password="x", is_staff=True)


@pytest.fixture(autouse=True)
def _media(settings: SettingsWrapper, tmp_path: Path) -> None:
    # Uploaded photos go to a folder of the test's own.
    settings.MEDIA_ROOT = tmp_path / "media"
