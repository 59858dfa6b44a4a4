"""Schemas shared by every router of the JSON API."""

from __future__ import annotations

from ninja import Schema


class ErrorOut(Schema):
    field: str | None
    code: str
    message: str


class ErrorsOut(Schema):
    """Every error answer (401, 404, 422, 429) has this shape."""

    errors: list[ErrorOut]
