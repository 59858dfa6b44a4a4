"""Format errors (R1 to R3): what was wrong with a submission before any reading exists."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One thing to fix: the field it concerns, a stable code, and values for the message."""

    field: str
    code: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class FormatError(ValueError):
    """A value that cannot be taken as it is. Carries one or more field errors."""

    def __init__(self, *errors: FieldError) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors: tuple[FieldError, ...] = errors


# R1's one generic error, whichever code is wrong and whether or not the supply exists.
CODES_MISMATCH = FieldError("codes", "codes_mismatch")
