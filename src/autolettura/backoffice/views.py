"""The back office's pages: thin interfaces, each making one call into a service or
reading through selectors. Every view checks its permission (roles.py); a missing one is
answered 403 and logged, a visitor who is not signed in is sent to the operators' sign-in.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from functools import wraps
from typing import Any, cast

from django.contrib.auth import views as auth_views
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from autolettura import clock
from autolettura.backoffice import charts, forms, selectors, services, words
from autolettura.billing import pdf
from autolettura.billing.models import Bill
from autolettura.lifecycle.models import AccessKind
from autolettura.lifecycle.views import access_recorded
from autolettura.payments import selectors as payment_selectors
from autolettura.readings import selectors as reading_selectors
from autolettura.readings.messages import error_message, format_day, outcome_message
from autolettura.readings.models import Reading
from autolettura.readings.services import (
    ReadingActionRefused,
    SubmissionRejected,
    reading_review,
    reading_void,
)
from autolettura.regulation import selectors as regulation_selectors
from autolettura.rules.window import rome_today
from autolettura.service import selectors as fault_selectors
from autolettura.service import services as fault_services
from autolettura.service.models import FaultReport, FaultStatus

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponseBase]


def operator_required(permission: str) -> Callable[[View], View]:
    """Only a signed-in, active staff user holding backoffice.`permission` gets through."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("backoffice:login"))
            if not (user.is_active and user.is_staff and user.has_perm(f"backoffice.{permission}")):
                logger.warning(
                    "back office: permission %s refused to user=%s (%s) on %s %s",
                    permission,
                    user.pk,
                    user.get_username(),
                    request.method,
                    request.path,
                )
                return render(request, "backoffice/403.html", status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class LoginView(auth_views.LoginView):
    template_name = "backoffice/login.html"
    authentication_form = forms.OperatorLoginForm

    def get_default_redirect_url(self) -> str:
        user = self.request.user
        # A reader's account opens the day's round and nothing of the back office.
        if user.has_perm("backoffice.record_round") and not user.has_perm(
            "backoffice.search_customers"
        ):
            return reverse("rounds:round")
        return reverse("backoffice:home")


class LogoutView(auth_views.LogoutView):
    def get_success_url(self) -> str:
        return reverse("backoffice:login")


def _operator(request: HttpRequest) -> User:
    return cast(User, request.user)


def _reading(receipt: str) -> Reading:
    reading = reading_selectors.reading_by_receipt(receipt)
    if reading is None:
        raise Http404
    return reading


# --- Search and the supply page ---------------------------------------------------------------


@operator_required("search_customers")
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    form = forms.SearchForm(request.GET or None)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    page, rows = None, []
    if query:
        page = Paginator(selectors.supply_search(query), 25).get_page(request.GET.get("page"))
        # Each supply with its last valid reading, never a discarded or voided one.
        last = reading_selectors.latest_valid_readings(supply.pk for supply in page)
        rows = [(supply, last.get(supply.pk)) for supply in page]
    return render(
        request,
        "backoffice/home.html",
        {"form": form, "query": query, "page": page, "rows": rows},
    )


@operator_required("search_customers")
@require_GET
@access_recorded(AccessKind.SUPPLY_VIEWED)
def supply_detail(request: HttpRequest, supply_code: str) -> HttpResponse:
    supply = selectors.supply_by_code(supply_code)
    if supply is None:
        raise Http404
    profile = reading_selectors.consumption_profile(supply)
    return render(
        request,
        "backoffice/supply.html",
        {
            "supply": supply,
            "meters": supply.meters.order_by("-installed_on"),
            "readings": selectors.supply_readings(supply)[:100],
            "last_reading": reading_selectors.latest_valid_reading(supply),
            "cma": profile.cma,
            "chart": charts.history_svg(
                profile.segments, title=_("Litres a day between valid readings")
            ),
            # Bills and their amounts only for the roles that may see bills (roles.py).
            "bills": (
                selectors.supply_bills(supply)[:24]
                if request.user.has_perm("backoffice.view_bills")
                else []
            ),
            "messages_sent": selectors.customer_messages(supply),
            "audit": selectors.supply_audit(supply)[:50],
            "void_form": forms.VoidForm(),
        },
    )


@operator_required("search_customers")
@require_GET
@access_recorded(AccessKind.PHOTO_DOWNLOADED)
def reading_photo(request: HttpRequest, receipt: str) -> FileResponse:
    reading = _reading(receipt)
    if not reading.photo:
        raise Http404
    # Private evidence: served to operators only, never from a public URL.
    return FileResponse(reading.photo.open("rb"), filename=reading.photo.name.rsplit("/", 1)[-1])


@operator_required("view_bills")
@require_GET
@access_recorded(AccessKind.BILL_DOWNLOADED)
def bill_pdf(request: HttpRequest, supply_code: str, year: int, sequence: int) -> HttpResponse:
    bill = get_object_or_404(Bill, supply__supply_code=supply_code, year=year, sequence=sequence)
    response = HttpResponse(pdf.bill_pdf(bill), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{pdf.bill_filename(bill)}"'
    return response


# --- Counter and call centre ------------------------------------------------------------------

_FORM_FIELDS = {"supply_code", "customer_code", "reading", "read_on", "channel"}


@operator_required("enter_reading")
@require_http_methods(["GET", "POST"])
def counter_entry(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    if request.method != "POST":
        form = forms.CounterReadingForm(initial={"read_on": f"{rome_today(now):%d/%m/%Y}"})
        return render(request, "backoffice/counter.html", {"form": form})
    form = forms.CounterReadingForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            submission = services.counter_reading_submit(
                channel=data["channel"],
                supply_code=data["supply_code"],
                customer_code=data["customer_code"],
                reading=data["reading"],
                read_on=data["read_on"],
                by=_operator(request),
                now=now,
            )
        except SubmissionRejected as exc:
            for error in exc.errors:
                field = error.field if error.field in _FORM_FIELDS else None
                form.add_error(field, error_message(error))
        else:
            return redirect("backoffice:receipt", receipt=submission.reading.receipt)
    return render(request, "backoffice/counter.html", {"form": form}, status=422)


@operator_required("search_customers")
@require_GET
def receipt(request: HttpRequest, receipt: str) -> HttpResponse:
    reading = _reading(receipt)
    now = clock.now()
    window = reading_selectors.window_verdict(
        supply=reading.supply, read_on=reading.read_on, now=now
    ).window
    return render(
        request,
        "backoffice/receipt.html",
        {
            "reading": reading,
            "outcome": outcome_message(reading, window),
            "window": window,
            "printed_at": now,
        },
    )


# --- Review and void ---------------------------------------------------------------------------


@operator_required("review_reading")
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    today = rome_today(clock.now())
    page = Paginator(selectors.review_queue(), 20).get_page(request.GET.get("page"))
    items = []
    for reading in page:
        profile = reading_selectors.consumption_profile(reading.supply)
        items.append(
            {
                "reading": reading,
                "deadline": selectors.review_deadline(reading.submitted_at, today=today),
                "chart": charts.history_svg(
                    profile.segments,
                    title=_("History of supply %(code)s") % {"code": reading.supply.supply_code},
                    pending=selectors.review_segment(reading, profile),
                ),
                "form": forms.ReviewForm(prefix=f"r{reading.pk}"),
            }
        )
    return render(request, "backoffice/review_queue.html", {"page": page, "items": items})


@operator_required("review_reading")
@require_POST
def review_decide(request: HttpRequest, receipt: str) -> HttpResponse:
    reading = _reading(receipt)
    form = forms.ReviewForm(request.POST, prefix=f"r{reading.pk}")
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                _flash(request, "error", f"{reading.receipt}: {message}")
        return redirect("backoffice:review_queue")
    accept = form.cleaned_data["decision"] == "accept"
    try:
        reading_review(
            reading=reading,
            accept=accept,
            by=_operator(request),
            now=clock.now(),
            note=form.cleaned_data["note"],
            reason=form.cleaned_data["reason"] or None,
        )
    except ReadingActionRefused:
        _flash(request, "warning", _("%(receipt)s was already decided.") % {"receipt": receipt})
    else:
        text = _("%(receipt)s accepted.") if accept else _("%(receipt)s discarded.")
        _flash(request, "success", text % {"receipt": receipt})
    return redirect("backoffice:review_queue")


@operator_required("void_reading")
@require_POST
def reading_void_view(request: HttpRequest, receipt: str) -> HttpResponse:
    reading = _reading(receipt)
    form = forms.VoidForm(request.POST)
    target = reverse("backoffice:supply", kwargs={"supply_code": reading.supply.supply_code})
    if not form.is_valid():
        _flash(request, "error", _("Say why the reading is voided."))
        return redirect(target)
    try:
        reading_void(
            reading=reading,
            by=_operator(request),
            reason=form.cleaned_data["reason"],
            now=clock.now(),
        )
    except ReadingActionRefused:
        _flash(request, "warning", _("%(receipt)s was already voided.") % {"receipt": receipt})
    else:
        _flash(request, "success", _("%(receipt)s voided.") % {"receipt": receipt})
    return redirect(target)


def _flash(request: HttpRequest, level: str, text: str) -> None:
    from django.contrib import messages

    getattr(messages, level)(request, text)


# --- Faults ---------------------------------------------------------------------------------------


@operator_required("dispatch_fault")
@require_GET
def fault_queue(request: HttpRequest) -> HttpResponse:
    form = forms.FaultFilterForm(request.GET or None)
    state, query = "open", ""
    if form.is_valid():
        state = form.cleaned_data["state"] or "open"
        query = form.cleaned_data["q"].strip()
    reports = fault_selectors.fault_search(state=state, query=query)
    page = Paginator(reports, 25).get_page(request.GET.get("page"))
    rows = [(report, words.fault_step(report.status)) for report in page]
    return render(
        request,
        "backoffice/faults.html",
        {
            "page": page,
            "rows": rows,
            "form": form,
            "state": state,
            "query": query,
            "pager_query": urlencode({"state": state, "q": query}),
        },
    )


def _fault(ticket: str) -> FaultReport:
    report = fault_selectors.fault_report_by_ticket(ticket)
    if report is None:
        raise Http404
    return report


@operator_required("dispatch_fault")
@require_GET
def fault_resolve(request: HttpRequest, ticket: str) -> HttpResponse:
    """The step before resolving: the report once more, and a box to tick."""
    report = _fault(ticket)
    if report.status != FaultStatus.ON_SITE:
        _flash(request, "warning", _("%(ticket)s cannot be resolved now.") % {"ticket": ticket})
        return redirect("backoffice:faults")
    return render(
        request,
        "backoffice/fault_resolve.html",
        {"report": report, "form": forms.FaultAdvanceForm(initial={"to_status": "RESOLVED"})},
    )


@operator_required("dispatch_fault")
@require_GET
def fault_photo(request: HttpRequest, ticket: str) -> FileResponse:
    report = _fault(ticket)
    if not report.photo:
        raise Http404
    # Private evidence: served to operators only, never from a public URL.
    return FileResponse(report.photo.open("rb"), filename=report.photo.name.rsplit("/", 1)[-1])


@operator_required("dispatch_fault")
@require_POST
def fault_advance(request: HttpRequest, ticket: str) -> HttpResponse:
    report = _fault(ticket)
    form = forms.FaultAdvanceForm(request.POST)
    if not form.is_valid():
        if form.data.get("to_status") == FaultStatus.RESOLVED:
            return render(
                request,
                "backoffice/fault_resolve.html",
                {"report": report, "form": form},
                status=422,
            )
        _flash(request, "error", _("%(ticket)s was not changed.") % {"ticket": ticket})
        return redirect("backoffice:faults")
    try:
        fault_services.fault_report_advance(
            report=report,
            to_status=form.cleaned_data["to_status"],
            by=_operator(request),
            now=clock.now(),
            note=form.cleaned_data["note"],
        )
    except fault_services.FaultTransitionRefused:
        _flash(request, "warning", _("%(ticket)s has moved on already.") % {"ticket": ticket})
    else:
        step = words.fault_status(form.cleaned_data["to_status"])
        _flash(
            request,
            "success",
            _("%(ticket)s: %(step)s.") % {"ticket": ticket, "step": step},
        )
    return redirect("backoffice:faults")


# --- Dashboard ------------------------------------------------------------------------------------


# The dashboard's longest period, and how far from today it may reach: wider ranges say
# nothing an operator can use and cost whole-table scans (9999-12-31 made a 500).
DASHBOARD_MAX_DAYS = 3 * 366
DASHBOARD_REACH_YEARS = 20


class PeriodInvalid(Exception):
    """A dashboard period that cannot be shown; the message says what to change."""


def _period(request: HttpRequest, today: date) -> tuple[date, date]:
    """`start` and `end` from the query (ISO days), the last 30 days by default.

    Raises PeriodInvalid for a day that is not one, a day too far from today, or a period
    longer than DASHBOARD_MAX_DAYS."""
    try:
        end = date.fromisoformat(request.GET["end"]) if request.GET.get("end") else today
        start = (
            date.fromisoformat(request.GET["start"])
            if request.GET.get("start")
            else end - timedelta(days=29)
        )
    except (ValueError, OverflowError):
        raise PeriodInvalid(
            _("Write both days as year-month-day, for example 2026-12-01.")
        ) from None
    if start > end:
        start, end = end, start
    earliest = today.replace(year=today.year - DASHBOARD_REACH_YEARS, day=1)
    latest = today.replace(year=today.year + 1, day=1)
    if start < earliest or end > latest:
        raise PeriodInvalid(
            _("Choose days between %(earliest)s and %(latest)s.")
            % {"earliest": format_day(earliest), "latest": format_day(latest)}
        )
    if (end - start).days + 1 > DASHBOARD_MAX_DAYS:
        raise PeriodInvalid(
            _("Choose a period of at most %(days)s days.") % {"days": DASHBOARD_MAX_DAYS}
        )
    return start, end


@operator_required("view_dashboard")
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    today = rome_today(clock.now())
    try:
        start, end = _period(request, today)
    except PeriodInvalid as exc:
        return render(
            request,
            "backoffice/dashboard.html",
            {"tables": [], "error": str(exc), "start": None, "end": None},
            status=400,
        )
    tables = selectors.dashboard_tables(start=start, end=end, today=today)
    return render(
        request,
        "backoffice/dashboard.html",
        {"tables": tables, "start": start, "end": end, "query": request.GET.urlencode()},
    )


@operator_required("view_dashboard")
@require_GET
def dashboard_csv(request: HttpRequest, slug: str) -> HttpResponse:
    today = rome_today(clock.now())
    try:
        start, end = _period(request, today)
    except PeriodInvalid as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    tables = {t.slug: t for t in selectors.dashboard_tables(start=start, end=end, today=today)}
    table = tables.get(slug)
    if table is None:
        raise Http404
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slug}-{start}-{end}.csv"'
    writer = csv.writer(response)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return response


@operator_required("view_dashboard")
@require_GET
def obligations(request: HttpRequest) -> HttpResponse:
    """The regulator's obligations due today and those late, made by the daily clock."""
    today = rome_today(clock.now())
    agenda = regulation_selectors.obligations_agenda(today=today)
    return render(request, "backoffice/obligations.html", {"agenda": agenda, "today": today})


@operator_required("check_payments")
@require_GET
def payments(request: HttpRequest) -> HttpResponse:
    """The billing office's pagoPA page: the payments that paid no bill (no such notice, a
    bill already paid, another amount, revoked), and the reporting flows imported."""
    rows = [
        {
            "paid_on": p.outcome_on,
            "iuv": p.iuv,
            "amount": pdf.format_eur(Decimal(p.amount_cents) / 100),
            "psp": p.flow.sender_name or p.flow.sender_id,
            "flow_id": p.flow.flow_id,
            "what": words.payment_outcome(p.outcome),
            "bill": p.notice.bill if p.notice else None,
        }
        for p in payment_selectors.payments_to_check()
    ]
    flows = [
        {
            "flow_id": f.flow.flow_id,
            "psp": f.flow.sender_name or f.flow.sender_id,
            "flow_at": f.flow.flow_at,
            "regulation_on": f.flow.regulation_on,
            "total": pdf.format_eur(Decimal(f.flow.total_cents) / 100),
            "payments": f.payments,
            "matched": f.matched,
            "to_check": f.to_check,
        }
        for f in payment_selectors.flows_recent()
    ]
    return render(request, "backoffice/payments.html", {"rows": rows, "flows": flows})


# --- Smart meters' alerts -------------------------------------------------------------------------


@operator_required("view_leak_alerts")
@require_GET
def leak_alerts(request: HttpRequest) -> HttpResponse:
    """Open leak and alarm alerts, oldest first, each with its meter's last three days."""
    from autolettura.telemetry import charts as telemetry_charts
    from autolettura.telemetry import selectors as telemetry_selectors

    page = Paginator(telemetry_selectors.alert_queue(), 20).get_page(request.GET.get("page"))
    rows = []
    for alert in page:
        usage = telemetry_selectors.consumption(
            alert.supply,
            resolution="hour",
            start=alert.seen_on - timedelta(days=2),
            end=alert.seen_on,
        )
        title = _("Litres an hour, %(code)s") % {"code": alert.supply.supply_code}
        rows.append((alert, telemetry_charts.hourly_svg(usage, title=title)))
    return render(
        request,
        "backoffice/leak_alerts.html",
        {"page": page, "rows": rows, "pager_query": ""},
    )


@operator_required("close_leak_alerts")
@require_POST
def leak_alert_close(request: HttpRequest, alert_id: int) -> HttpResponse:
    from autolettura.telemetry import services as telemetry_services

    try:
        telemetry_services.alert_close(
            alert_id=alert_id,
            note=request.POST.get("note", ""),
            by=_operator(request),
            now=clock.now(),
        )
    except telemetry_services.AlertNoteMissing:
        _flash(request, "error", _("Write a note saying what was found before closing."))
    else:
        _flash(request, "success", _("Alert closed."))
    return redirect("backoffice:leaks")


# --- The reading rounds ---------------------------------------------------------------------


@operator_required("view_rounds")
@require_GET
def round_day(request: HttpRequest) -> HttpResponse:
    """A day of the rounds: each visit in walking order, read (with the reading's outcome),
    not read (and why, with its evidence), or still to be made."""
    from autolettura.rounds import reader_words
    from autolettura.rounds import selectors as round_selectors

    today = rome_today(clock.now())
    try:
        day = (
            date.fromisoformat(request.GET.get("giorno", ""))
            if request.GET.get("giorno")
            else today
        )
    except ValueError:
        day = today
    summary = round_selectors.round_day(day)
    rows = [(stop, *reader_words.visit_outcome(stop.attempt)) for stop in summary.stops]
    return render(
        request,
        "backoffice/round_day.html",
        {
            "day": day,
            "summary": summary,
            "rows": rows,
            "previous": day - timedelta(days=1),
            "next": day + timedelta(days=1),
        },
    )
