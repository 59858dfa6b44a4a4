"""End-to-end tests in Debian's headless Chromium, driven by Playwright, against pytest-django's
live server (in-process threads, so a pinned clock and the e-mail outbox are shared).

Playwright's own browser download is never used: scripts/install-system-deps.sh installs
/usr/bin/chromium, and these tests are skipped, saying so, only where it is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_helpers import Clock
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, MOBILE
from tests.portal.support import DECEMBER_20

# Playwright's sync API runs an event loop in the test's thread; the ORM calls the tests
# make there (fixtures, assertions) are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: an end-to-end test in headless Chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing: run scripts/install-system-deps.sh (make install)"
    )
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
            if not CHROMIUM.exists():
                item.add_marker(skip)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """One Playwright for the session: the tests' database queries then run where every
    test's do (a second Playwright would run them in a context of its own, whose connection
    outlives the test)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    chromium = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield chromium
    chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


class _Browsing:
    """What a browser context asked and got, and what its pages wrote to the console, told
    when the test fails: a failure that does not come back when run again (a form refused
    as stale, a kept reading never sent) is explained by what went before it."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.seen: list[str] = []
        context.on("response", self._response)
        context.on("console", lambda message: self.seen.append(f"console: {message.text}"))

    def _response(self, response: Any) -> None:
        worker = " (service worker)" if response.request.service_worker else ""
        self.seen.append(f"{response.request.method} {response.url} -> {response.status}{worker}")

    def tell(self) -> None:
        cookies = [
            f"{c['name']}={c['value'][:8]}… path={c['path']}" for c in self.context.cookies()
        ]
        print("\nThe browser's requests, in order:", *self.seen, sep="\n  ")
        print("Its cookies at the end:", *cookies, sep="\n  ")


@pytest.fixture
def page(browser: Any, live_server: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(
        viewport=DESKTOP, locale="it-IT", base_url=live_server.url, timezone_id="Europe/Rome"
    )
    context.set_default_timeout(15_000)
    browsing = _Browsing(context)
    page = context.new_page()
    yield page
    if request.node.stash.get(_CALL_FAILED, False):
        browsing.tell()
    context.close()


@pytest.fixture
def phone(
    playwright: Any, live_server: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A phone's browser with a profile of its own (service workers, IndexedDB): Chromium
    installs nothing from an incognito window, which is what a plain Playwright context is."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=MOBILE,
        is_mobile=True,
        has_touch=True,
        locale="it-IT",
        timezone_id="Europe/Rome",
        base_url=live_server.url,
    )
    context.set_default_timeout(15_000)
    browsing = _Browsing(context)
    yield context
    if request.node.stash.get(_CALL_FAILED, False):
        browsing.tell()
    # Let the worker's last requests end before the next test.
    for page in context.pages:
        page.wait_for_load_state("networkidle")
    context.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The instant the portal believes it is: inside the December window unless moved."""
    pinned = Clock(DECEMBER_20)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
