from __future__ import annotations

from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.api_helpers import Clock
from tests.portal.support import DECEMBER_20
from tests.security.support import World, build_world, secret_settings


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(DECEMBER_20)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture(autouse=True)
def _media(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path
    settings.AUTOLETTURA_EXPORT_DIR = tmp_path / "exports"


@pytest.fixture
def world(db: None, settings: SettingsWrapper, clock: Clock) -> World:
    secret_settings(settings)
    return build_world()
