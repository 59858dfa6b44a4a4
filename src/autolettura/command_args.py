"""Argument types shared by the management commands."""

from __future__ import annotations

import argparse
from datetime import date


def iso_date(text: str) -> date:
    """A YYYY-MM-DD argument. A bad one is a usage error (one line, no traceback)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        message = f"{text!r} is not a date: write it as YYYY-MM-DD"
        raise argparse.ArgumentTypeError(message) from None
