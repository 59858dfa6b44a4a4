"""The back office's home shows administrators the requests to close an account that wait,
with their deadline (GDPR art. 12(3): one month)."""

from __future__ import annotations

from typing import Any

from django import template

from autolettura import clock
from autolettura.lifecycle import selectors
from autolettura.rules.window import rome_today

register = template.Library()


@register.inclusion_tag("lifecycle/partials/erasure_deadlines.html", takes_context=True)
def erasure_deadlines(context: dict[str, Any]) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("lifecycle.handle_erasurerequest"):
        return {"requests": []}
    return {"requests": selectors.erasure_deadlines(rome_today(clock.now()))}
