"""The one place the interfaces read the time.

Domain functions take `now` as an argument; the API endpoints (and other interfaces) ask
this module for it, so that tests can pin the clock without patching Django.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """The current instant, timezone-aware."""
    return timezone.now()
