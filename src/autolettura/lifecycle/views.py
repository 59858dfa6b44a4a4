"""The back office's record of who looked at a customer's data: the decorator that writes an
entry when an operator opens a supply's page or downloads a bill or a photo, and the page
where an administrator lists them by customer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from autolettura import clock
from autolettura.backoffice import selectors as backoffice_selectors
from autolettura.customers.models import Supply
from autolettura.lifecycle import selectors, services
from autolettura.lifecycle.models import AccessKind
from autolettura.readings import selectors as reading_selectors

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponseBase]


def _looked_at(kind: AccessKind, kwargs: dict[str, Any]) -> tuple[Supply | None, str]:
    """The supply whose data the view showed, and which item of it, from its URL."""
    if kind == AccessKind.PHOTO_DOWNLOADED:
        reading = reading_selectors.reading_by_receipt(kwargs["receipt"])
        return (reading.supply if reading else None), kwargs["receipt"]
    supply = backoffice_selectors.supply_by_code(kwargs["supply_code"])
    if kind == AccessKind.BILL_DOWNLOADED:
        return supply, f"{kwargs['year']}/{kwargs['sequence']:06d}"
    return supply, ""


def access_recorded(kind: AccessKind) -> Callable[[View], View]:
    """Leave an access entry each time the view shows a customer's data (answers 200).
    Goes under the view's permission check, so a refused request records nothing."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            response = view(request, *args, **kwargs)
            if response.status_code == 200 and request.user.is_authenticated:
                supply, item = _looked_at(kind, kwargs)
                if supply is not None:
                    services.access_record(
                        by=cast(User, request.user),
                        kind=kind,
                        supply=supply,
                        item=item,
                        now=clock.now(),
                    )
            return response

        return wrapped

    return decorator


@require_GET
def customer_accesses(request: HttpRequest, customer_code: str) -> HttpResponse:
    """Who looked at a customer's data, for administrators (lifecycle.view_accessentry)."""
    user = request.user
    if not user.is_authenticated:
        return cast(
            HttpResponse, redirect_to_login(request.get_full_path(), reverse("backoffice:login"))
        )
    if not (user.is_active and user.is_staff and user.has_perm("lifecycle.view_accessentry")):
        logger.warning(
            "back office: permission view_accessentry refused to user=%s (%s) on %s %s",
            user.pk,
            user.get_username(),
            request.method,
            request.path,
        )
        return render(request, "backoffice/403.html", status=403)
    customer = selectors.customer_by_code(customer_code)
    if customer is None:
        raise Http404
    return render(
        request,
        "lifecycle/customer_accesses.html",
        {
            "customer": customer,
            "entries": selectors.customer_accesses(customer),
            "limit": selectors.ACCESSES_LISTED,
        },
    )
