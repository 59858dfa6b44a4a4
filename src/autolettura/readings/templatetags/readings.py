"""Template filters for readings: the same words on every page that shows one."""

from django import template

from autolettura.readings import messages

register = template.Library()


@register.filter
def reason_label(reason: str | None) -> str:
    return messages.reason_label(reason)
