"""The data's lifecycle on the web.

In the back office: the record of who looked at a customer's data (the decorator that writes
an entry when an operator opens a supply's page or downloads a bill or a photo, and the page
where an administrator lists them by customer), and the requests to close an account.

In the Sportello Online: the customer's rights (GDPR articles 15 to 20): their data export
and their request to close the account."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from autolettura import clock
from autolettura.backoffice import selectors as backoffice_selectors
from autolettura.customers.models import Supply
from autolettura.lifecycle import selectors, services
from autolettura.lifecycle.forms import AccountCloseForm
from autolettura.lifecycle.models import AccessKind, DataExport, ErasureRequest
from autolettura.portal import selectors as portal_selectors
from autolettura.portal.messages import throttled_message
from autolettura.readings import selectors as reading_selectors
from autolettura.readings.messages import format_day
from autolettura.rules.window import rome_today
from autolettura.throttling import Throttled, throttle

HOUR = 3600

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


def _refused(request: HttpRequest, permission: str) -> HttpResponse | None:
    """The answer for someone who may not use an administrator's page (lifecycle.
    `permission`): the operators' sign-in, or 403 (logged); None for an administrator."""
    user = request.user
    if not user.is_authenticated:
        return cast(
            HttpResponse, redirect_to_login(request.get_full_path(), reverse("backoffice:login"))
        )
    if not (user.is_active and user.is_staff and user.has_perm(f"lifecycle.{permission}")):
        logger.warning(
            "back office: permission %s refused to user=%s (%s) on %s %s",
            permission,
            user.pk,
            user.get_username(),
            request.method,
            request.path,
        )
        return render(request, "backoffice/403.html", status=403)
    return None


@require_GET
def customer_accesses(request: HttpRequest, customer_code: str) -> HttpResponse:
    """Who looked at a customer's data, for administrators (lifecycle.view_accessentry)."""
    if (refused := _refused(request, "view_accessentry")) is not None:
        return refused
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


@require_GET
def erasure_requests(request: HttpRequest) -> HttpResponse:
    """The requests to close an account, the nearest deadline first, for administrators
    (lifecycle.handle_erasurerequest)."""
    if (refused := _refused(request, "handle_erasurerequest")) is not None:
        return refused
    today = rome_today(clock.now())
    return render(
        request,
        "lifecycle/erasure_requests.html",
        {
            "open": selectors.erasure_deadlines(today),
            "done": selectors.erasure_requests_done(),
        },
    )


def erasure_carry_out(request: HttpRequest, pk: int) -> HttpResponse:
    """Close the account of request `pk` (a POST), for administrators. The permission is
    checked before the method, as every back-office action does."""
    if (refused := _refused(request, "handle_erasurerequest")) is not None:
        return refused
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        done = services.erasure_carry_out(
            request_id=pk, by=cast(User, request.user), now=clock.now()
        )
    except ErasureRequest.DoesNotExist:
        raise Http404 from None
    except services.RightsRefused:
        messages.info(request, _("This request was already carried out."))
        return redirect("lifecycle:erasures")
    messages.success(
        request,
        _("The account of %(codes)s is closed and its data erased; the customer is told by e-mail.")
        % {"codes": done.customer_codes},
    )
    return redirect("lifecycle:erasures")


# --- The customer's rights in the Sportello Online -------------------------------------------


def _account(request: HttpRequest) -> User:
    return cast(User, request.user)


def _rights_page(
    request: HttpRequest, form: AccountCloseForm | None = None, status: int = 200
) -> HttpResponse:
    user = _account(request)
    return render(
        request,
        "lifecycle/rights.html",
        {
            "customer": portal_selectors.account_preferences(user),
            "export": selectors.account_exports(user).first(),
            "erasure": selectors.account_erasure_request(user),
            "form": form or AccountCloseForm(),
            "export_days": settings.AUTOLETTURA_EXPORT_DAYS,
        },
        status=status,
    )


@login_required
@require_GET
def rights_page(request: HttpRequest) -> HttpResponse:
    """ "I miei dati": the export, how to correct the data, closing the account."""
    return _rights_page(request)


@login_required
@require_POST
def export_request(request: HttpRequest) -> HttpResponse:
    """ "Scarica i miei dati": the zip is prepared in the background."""
    user = _account(request)
    try:
        throttle(
            "data-export-account",
            str(user.pk),
            limit=settings.AUTOLETTURA_EXPORT_PER_HOUR,
            period=HOUR,
        )
    except Throttled as exc:
        messages.error(request, throttled_message(exc.retry_after))
        return redirect("rights:page")
    try:
        export = services.data_export_request(user=user, now=clock.now())
    except services.RightsRefused:
        messages.error(
            request,
            _("Add a supply first: your data are those of the customer who holds it."),
        )
        return redirect("rights:page")
    export.refresh_from_db()
    if export.status == DataExport.Status.READY:
        messages.success(request, _("Your data are ready: download them below."))
    else:
        messages.success(
            request,
            _(
                "We are preparing your data. We will write to you when the file is ready; "
                "you will find it on this page."
            ),
        )
    return redirect("rights:page")


@login_required
@require_GET
def export_download(request: HttpRequest, token: str) -> FileResponse:
    """The zip, to the account that asked for it, while it is offered."""
    export = selectors.account_export(_account(request), token)
    if export is None or export.expires_at is None or export.expires_at <= clock.now():
        raise Http404
    path = Path(settings.AUTOLETTURA_EXPORT_DIR) / export.file_name
    if not path.is_file():
        raise Http404
    day = rome_today(export.ready_at or clock.now())
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"i-miei-dati-{day:%Y-%m-%d}.zip",
        content_type="application/zip",
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_close(request: HttpRequest) -> HttpResponse:
    """Ask to close the account and erase the data the law does not keep (GDPR art. 17)."""
    if request.method != "POST":
        return _rights_page(request)
    form = AccountCloseForm(request.POST)
    if not form.is_valid():
        return _rights_page(request, form)
    user = _account(request)
    try:
        # Guessing the password here would need a stolen session first; still bounded.
        throttle("account-close", str(user.pk), limit=5, period=HOUR)
    except Throttled as exc:
        form.add_error("password", throttled_message(exc.retry_after))
        return _rights_page(request, form, status=429)
    try:
        erasure = services.erasure_request_create(
            user=user, password=form.cleaned_data["password"], now=clock.now()
        )
    except services.RightsRefused as exc:
        if exc.code == "password_wrong":
            form.add_error(
                "password", _("The password is not right: type the one you sign in with.")
            )
        else:
            form.add_error(
                None, _("Add a supply first: your data are those of the customer who holds it.")
            )
        return _rights_page(request, form)
    messages.success(
        request,
        _(
            "We have your request. We will close your account and erase your data by "
            "%(day)s, and tell you by e-mail."
        )
        % {"day": format_day(erasure.due_on)},
    )
    return redirect("rights:page")
