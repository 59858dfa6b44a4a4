"""Schemas shared by every router of the JSON API."""

from __future__ import annotations

from typing import Annotated

from ninja import Schema
from pydantic import AfterValidator, AllowInfNan, StrictFloat, StrictStr

# django-ninja's own words for a body it cannot parse; a form Django cannot parse gets the same.
UNREADABLE_BODY = "Cannot parse request body"


def _without_nul(value: str) -> str:
    # PostgreSQL's text cannot hold NUL: such a value is refused here (422), before it
    # reaches a query or the inbound log and fails there (500). Django's form fields
    # refuse it the same way.
    if "\x00" in value:
        raise ValueError("a NUL character is not allowed")
    return value


# Every string the API takes (body, path, query, form): no NUL characters.
Text = Annotated[str, AfterValidator(_without_nul)]
StrictText = Annotated[StrictStr, AfterValidator(_without_nul)]
# A JSON number that is a number: Python's json reads NaN, Infinity and 1e999 (infinity) as
# floats, which no reading or coordinate can be (and which used to reach the rules: a 500).
FiniteFloat = Annotated[StrictFloat, AllowInfNan(False)]


class ErrorOut(Schema):
    field: str | None
    code: str
    message: str


class ErrorsOut(Schema):
    """Every error answer (400, 401, 404, 422, 429) has this shape."""

    errors: list[ErrorOut]
