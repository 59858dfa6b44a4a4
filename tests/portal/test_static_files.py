"""The static files as production serves them: `collectstatic` with the production storage
(hashed names, Brotli and gzip), every file a page names found under its hashed name,
served compressed and cacheable for a year; and Bootstrap Italia's stylesheet cut by
scripts/install-frontend.sh still holding every rule of a class the pages use."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from tests.portal.support import DECEMBER_20, PASSWORD, customer_with_supply, with_account

ROOT = Path(__file__).resolve().parents[2]
WHOLE_CSS = ROOT / "build/frontend/node_modules/bootstrap-italia/dist/css/bootstrap-italia.min.css"
CUT_CSS = (
    ROOT / "src/autolettura/portal/static/vendor/bootstrap-italia/css/bootstrap-italia.min.css"
)
PUBLIC_PAGES = ["/", "/come-leggere-il-contatore/", "/quando/", "/contatti/", "/accedi/"]
STATIC = re.compile(r"""(?:href|src)="(/static/[^"#]+)""")
HASHED = re.compile(r"\.[0-9a-f]{12}\.[a-z0-9]+$")
YEAR_S = 365 * 24 * 3600


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("static")
    with override_settings(
        STATIC_ROOT=root,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
        },
        WHITENOISE_USE_FINDERS=False,
    ):
        # A file a stylesheet names but that is missing stops collectstatic here. (The admin's
        # and the API docs' files, which these pages do not name, are left out for time.)
        call_command(
            "collectstatic", interactive=False, verbosity=0, ignore_patterns=["admin", "ninja"]
        )
        yield root


def static_urls(html: str) -> list[str]:
    return STATIC.findall(html)


@pytest.mark.django_db
def test_pages_name_hashed_files_served_compressed_and_cached_for_a_year(
    collected: Path, clock: object
) -> None:
    client = Client()  # a new client: WhiteNoise reads the collected folder when it starts
    supply = customer_with_supply()
    with_account(supply)
    pages = [client.get(path).content.decode() for path in PUBLIC_PAGES]
    assert client.login(username="giulia@example.org", password=PASSWORD)
    pages.append(client.get("/area-clienti/").content.decode())

    urls = {url for page in pages for url in static_urls(page)}
    assert any("bootstrap-italia.min." in url for url in urls)
    for url in sorted(urls):
        assert HASHED.search(url), f"{url} has no hash in its name"
        plain = client.get(url)
        assert plain.status_code == 200, url
        assert plain["Cache-Control"] == f"max-age={YEAR_S * 10}, public, immutable", url
        body = b"".join(plain.streaming_content)
        if url.endswith((".css", ".js", ".svg")):
            squeezed = client.get(url, headers={"accept-encoding": "br"})
            assert squeezed["Content-Encoding"] == "br", url
            assert brotli.decompress(b"".join(squeezed.streaming_content)) == body
            zipped = client.get(url, headers={"accept-encoding": "gzip"})
            assert zipped["Content-Encoding"] == "gzip", url
            assert gzip.decompress(b"".join(zipped.streaming_content)) == body


def test_a_file_not_collected_is_not_served_under_a_made_up_hash(collected: Path) -> None:
    client = Client()
    assert client.get("/static/portal/portal.0123456789ab.css").status_code == 404


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.api_helpers import Clock

    monkeypatch.setattr("autolettura.clock.now", Clock(DECEMBER_20))


def _classes(html: str) -> set[str]:
    found: set[str] = set()
    for value in re.findall(r'class="([^"]*)"', html):
        found.update(value.split())
    return found


def _selectors(css: str) -> dict[str, set[str]]:
    """The single selectors of the stylesheet's rules by the classes they name (a list such
    as ".a:disabled,.a[readonly]" counts as two)."""
    by_class: dict[str, set[str]] = {}
    for selector_list in re.findall(r"([^{}]+)\{", css):
        for selector in re.split(r",(?![^(]*\))", selector_list):
            for name in set(re.findall(r"\.([\w-]+)", selector)):
                by_class.setdefault(name, set()).add(selector.strip())
    return by_class


def _applies(selector: str, used: set[str], html: str) -> bool:
    """Whether every class, element and attribute the selector names is in the pages."""
    plain = re.sub(r"\([^)]*\)", "", selector)  # :not(...), :nth-child(...)
    classes = re.findall(r"\.([\w-]+)", plain)
    elements = re.findall(r"(?:^|[\s>+~])([a-z][a-z0-9]*)", plain)
    attributes = re.findall(r"\[([\w-]+)", plain)
    return (
        all(c in used for c in classes)
        and all(f"<{e}" in html for e in elements)
        and all(re.search(rf"\s{re.escape(a)}[\s=>]", html) for a in attributes)
    )


@pytest.mark.skipif(not WHOLE_CSS.exists(), reason="needs make install (build/frontend)")
@pytest.mark.django_db
def test_the_cut_stylesheet_keeps_every_rule_of_a_class_the_pages_use(clock: object) -> None:
    client = Client()
    supply = customer_with_supply()
    with_account(supply)
    pages = [client.get(path).content.decode() for path in PUBLIC_PAGES]
    assert client.login(username="giulia@example.org", password=PASSWORD)
    pages += [client.get(path).content.decode() for path in ("/area-clienti/",)]
    used = set().union(*(_classes(page) for page in pages))
    whole, cut = WHOLE_CSS.read_text(), CUT_CSS.read_text()
    assert len(cut) < len(whole) / 5, "the stylesheet was not cut"
    html = "\n".join(pages)
    in_whole, in_cut = _selectors(whole), _selectors(cut)
    missing = {}
    for name in sorted(used):
        if not re.fullmatch(r"[\w-]+", name):
            continue
        # A rule that also needs a class, element or attribute the pages lack may go.
        needed = {sel for sel in in_whole.get(name, set()) if _applies(sel, used, html)}
        lost = needed - in_cut.get(name, set())
        if lost:
            missing[name] = sorted(lost)[:3]
    assert not missing, missing
