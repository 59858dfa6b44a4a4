"""Template filters for readings: the same words on every page that shows one."""

from django import template

from autolettura.readings import messages
from autolettura.readings.models import Reading

register = template.Library()


@register.filter
def reason_label(reason: str | None) -> str:
    return messages.reason_label(reason)


@register.filter(name="register")
def register_filter(reading: Reading) -> str:
    """`{{ reading|register }}`: the value as the meter's register shows it (01404)."""
    return messages.reading_text(reading)
