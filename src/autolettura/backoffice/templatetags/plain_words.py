"""Template filters for backoffice/words.py: `{{ reading.channel|channel }}`,
`{{ reading.read_on|long_date }}`."""

from __future__ import annotations

from django import template

from autolettura.backoffice import words

register = template.Library()

for _name in (
    "channel",
    "reading_status",
    "source",
    "reason",
    "urgency",
    "fault_status",
    "fault_category",
    "fault_channel",
    "audit_action",
    "route",
    "message_status",
    "long_date",
    "obligation_kind",
    "obligation_subject",
    "obligation_deadline",
    "photo_said",
):
    register.filter(_name, getattr(words, _name))


@register.simple_tag
def cell(value: object, kind: str) -> object:
    return words.cell(value, kind)


@register.inclusion_tag("backoffice/partials/photo_evidence.html")
def photo_evidence(reading: object) -> dict[str, object]:
    """The reading's photo with the register's outline drawn on it, and what it showed."""
    from autolettura.backoffice.selectors import photo_figure
    from autolettura.readings.models import Reading

    assert isinstance(reading, Reading)
    return {"reading": reading, "figure": photo_figure(reading)}
