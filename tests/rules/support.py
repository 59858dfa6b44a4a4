"""Shared helpers for the pure rule tests, which need no database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from autolettura.rules.errors import FieldError, FormatError

# Modest and deterministic: these tests run in every `make test`, in a few seconds, and
# write no example database into the working tree.
properties = settings(
    max_examples=100,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def format_error(check: Callable[..., Any], *args: Any, **kwargs: Any) -> FieldError:
    """The single field error `check` raises for these arguments."""
    with pytest.raises(FormatError) as raised:
        check(*args, **kwargs)
    (error,) = raised.value.errors
    return error
