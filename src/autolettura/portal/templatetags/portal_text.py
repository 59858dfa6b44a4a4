"""Small text filters for the portal's pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def after_colon(text: object) -> str:
    """A sentence as it reads after a colon: its first letter in lower case ("Codice
    utente: questo campo è obbligatorio"), unless the first word is an acronym (SMS, PDF)."""
    value = str(text)
    if len(value) > 1 and value[0].isupper() and not value[1].isupper():
        return value[0].lower() + value[1:]
    return value
