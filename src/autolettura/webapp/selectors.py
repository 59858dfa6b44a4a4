"""What the app is: its manifest, and what its service worker keeps on the phone.

The portal is the app (issue: one code base, no native apps): the manifest names it and
points at the customer's supplies; the service worker keeps the app shell (styles, scripts,
icons), the public pages a customer needs at the meter (how to read it, where the codes
are, the windows), and "Send the reading" for a signed-in customer, so that the form opens
in a cellar without signal. Everything else is fetched fresh.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

# The portal's palette (portal.css): its blue for the bars, white behind the splash screen.
THEME_COLOUR = "#0066cc"
BACKGROUND_COLOUR = "#ffffff"

# The sizes each platform asks for: Android 48 to 512, Apple 180 (touch icon), Windows 144
# and 150-ish tiles, desktop Chrome 192 and 512; maskable ones for Android's shapes.
ICON_SIZES = (48, 72, 96, 128, 144, 152, 180, 192, 256, 384, 512)
MASKABLE_SIZES = (192, 512)

# The app shell: every page loads these; kept on the phone and updated with the app.
SHELL_ASSETS = (
    "vendor/bootstrap-italia/css/bootstrap-italia.min.css",
    "portal/portal.css",
    "portal/portal.js",
    "portal/favicon.svg",
    "vendor/htmx/htmx.min.js",
    "webapp/app.js",
    "webapp/queue.js",
    "webapp/icons/icon-192.png",
)

# Public pages readable without signal (names in portal/urls.py).
PUBLIC_PAGES = (
    "portal:home",
    "portal:how_to_read",
    "portal:what_you_need",
    "portal:when",
    "portal:channels",
    "portal:contacts",
)

# Pages of a signed-in customer kept for use offline; dropped when they sign out.
PRIVATE_PAGES = ("portal:reading_new",)


def app_manifest() -> dict[str, Any]:
    """The web app manifest, in the language of the request being answered."""
    name = _("Sportello Online") + f" · {settings.AUTOLETTURA_UTILITY_NAME}"
    icons = [_icon(f"icon-{size}.png", size, "any") for size in ICON_SIZES] + [
        _icon(f"maskable-{size}.png", size, "maskable") for size in MASKABLE_SIZES
    ]
    return {
        "id": "/",
        "lang": get_language() or settings.LANGUAGE_CODE,
        "dir": "ltr",
        "name": name,
        "short_name": _("Sportello"),
        "description": _(
            "Send your water meter reading, with a photo, even without signal; "
            "follow your supplies, bills and fault reports."
        ),
        "start_url": reverse("portal:dashboard"),
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "categories": ["utilities", "lifestyle"],
        "icons": icons,
        "shortcuts": [
            {
                "name": _("Send the reading"),
                "url": reverse("portal:reading_new"),
                "icons": [{"src": static("webapp/icons/icon-96.png"), "sizes": "96x96"}],
            },
            {
                "name": _("Report a fault"),
                "url": reverse("portal:fault_new"),
                "icons": [{"src": static("webapp/icons/icon-96.png"), "sizes": "96x96"}],
            },
        ],
    }


def _icon(name: str, size: int, purpose: str) -> dict[str, str]:
    return {
        "src": static(f"webapp/icons/{name}"),
        "sizes": f"{size}x{size}",
        "type": "image/png",
        "purpose": purpose,
    }


def shell_urls() -> list[str]:
    return [static(path) for path in SHELL_ASSETS]


def public_page_urls() -> list[str]:
    return [reverse(name) for name in PUBLIC_PAGES]


def offline_page_url() -> str:
    return reverse("webapp:offline")


def queue_script_url() -> str:
    return static("webapp/queue.js")


def private_page_urls() -> list[str]:
    return [reverse(name) for name in PRIVATE_PAGES]


WORKER_TEMPLATES = Path(__file__).parent / "templates" / "webapp"
# The code both service workers include (the app's and the reader's): part of each version.
WORKER_COMMON = WORKER_TEMPLATES / "sw_common.js"


@functools.cache
def shell_version() -> str:
    """A digest of the shell's files and the worker's own code: a new release gives a new
    worker, which replaces the phone's copies; an unchanged release keeps them."""
    digest = hashlib.sha256()
    for path in SHELL_ASSETS:
        found = finders.find(path)
        if isinstance(found, str):
            digest.update(Path(found).read_bytes())
    digest.update((WORKER_TEMPLATES / "sw.js").read_bytes())
    digest.update(WORKER_COMMON.read_bytes())
    return digest.hexdigest()[:16]
