"""The Sportello Online pages. Each view reads with one selector or writes with one service
call, and renders; the rules live in the services."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.forms import Form
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from autolettura import clock
from autolettura.accounts import selectors as account_selectors
from autolettura.accounts import services as account_services
from autolettura.billing import pdf
from autolettura.identity import selectors as identity_selectors
from autolettura.payments import selectors as payment_selectors
from autolettura.payments import services as payment_services
from autolettura.photos.apis import unreadable_message
from autolettura.portal import selectors, services
from autolettura.portal.forms import (
    FaultFollowForm,
    FaultForm,
    NewPasswordForm,
    PreferencesForm,
    ReadingForm,
    ResetRequestForm,
    SignInForm,
    SignupForm,
    SupplyAddForm,
)
from autolettura.portal.messages import (
    account_error_message,
    fault_form_error_message,
    submission_error_message,
    throttled_message,
)
from autolettura.readings import selectors as reading_selectors
from autolettura.readings.messages import format_day, outcome_message
from autolettura.readings.photos import photo_error_message
from autolettura.readings.services import SubmissionRejected
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.window import rome_today
from autolettura.security import policy_with_form_targets
from autolettura.service import selectors as fault_selectors
from autolettura.service import services as fault_services
from autolettura.service.messages import (
    fault_error_message,
    fault_received_message,
    fault_status_message,
)
from autolettura.service.models import FaultReport
from autolettura.service.services import FaultReportRejected
from autolettura.throttling import Throttled, client_address, throttle

logger = logging.getLogger(__name__)

HOUR = 3600


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _site_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _with_language(response: HttpResponse, language: str | None) -> HttpResponse:
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE or 365 * 24 * HOUR,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite="Lax",
        )
    return response


def _throttle_codes(request: HttpRequest) -> None:
    """Sign-ups and added supplies, an hour per address (each may send an e-mail). Wrong
    codes are counted by the services themselves, per address and supply code."""
    throttle(
        "signup-address",
        client_address(request),
        limit=settings.AUTOLETTURA_THROTTLE_SIGNUP_PER_ADDRESS,
        period=HOUR,
    )


def _render_form(
    request: HttpRequest, template: str, form: Form, status: int = 200, **context: Any
) -> HttpResponse:
    return render(request, template, {"form": form, **context}, status=status)


# --- Public pages ------------------------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html", {"note": selectors.window_note(clock.now())})


@require_GET
def how_to_read(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/how_to_read.html")


@require_GET
def what_you_need(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/what_you_need.html")


@require_GET
def when(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    return render(
        request,
        "portal/when.html",
        {
            "windows": selectors.year_windows(now),
            "year": rome_today(now).year,
            "note": selectors.window_note(now),
        },
    )


@require_GET
def channels(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/channels.html")


@require_GET
def contacts(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/contacts.html", {"info": selectors.info_line(clock.now())})


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    from autolettura.lifecycle.selectors import retention_terms

    return render(request, "portal/privacy.html", {"terms": retention_terms()})


@require_POST
def language(request: HttpRequest) -> HttpResponse:
    user = _user(request) if request.user.is_authenticated else None
    chosen = services.language_set(user=user, language=request.POST.get("language", ""))
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("portal:home")
    return _with_language(HttpResponseRedirect(target), chosen)


# --- Signing up and in -------------------------------------------------------------------------


class SignInView(auth_views.LoginView):
    template_name = "portal/login.html"
    form_class = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **identity_selectors.sign_in_options()}

    def form_valid(self, form: SignInForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_valid(form)
        return _with_language(response, selectors.account_language(form.get_user()))


class SignOutView(auth_views.LogoutView):
    next_page = "portal:home"


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render_form(request, "portal/signup.html", SignupForm())
    form = SignupForm(request.POST)
    try:
        _throttle_codes(request)
    except Throttled as exc:
        form.add_error(None, throttled_message(exc.retry_after))
        return _render_form(request, "portal/signup.html", form, status=429)
    if not form.is_valid():
        return _render_form(request, "portal/signup.html", form)
    try:
        services.account_signup(
            customer_code=form.cleaned_data["customer_code"],
            supply_code=form.cleaned_data["supply_code"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            site_url=_site_url(request),
            now=clock.now(),
            source=f"address:{client_address(request)}",
        )
    except services.AccountRejected as exc:
        form.add_service_errors(exc.errors, account_error_message)
        return _render_form(request, "portal/signup.html", form)
    except Throttled as exc:
        form.add_error(None, throttled_message(exc.retry_after))
        return _render_form(request, "portal/signup.html", form, status=429)
    request.session["signup_email"] = form.cleaned_data["email"]
    return redirect("portal:signup_sent")


@require_GET
def signup_sent(request: HttpRequest) -> HttpResponse:
    return render(
        request, "portal/signup_sent.html", {"email": request.session.get("signup_email")}
    )


@require_GET
def signup_confirm(request: HttpRequest, payload: str, token: str) -> HttpResponse:
    try:
        services.account_confirm(payload=payload, token=token, now=clock.now())
    except services.AccountRejected as exc:
        return render(
            request,
            "portal/signup_invalid.html",
            {"errors": [account_error_message(e) for e in exc.errors]},
            status=400,
        )
    messages.success(request, _("Your e-mail is confirmed: sign in to send your readings."))
    return redirect("portal:login")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/password_reset_confirm.html"
    form_class = NewPasswordForm
    success_url = reverse_lazy("portal:password_reset_complete")


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/password_reset.html"
    form_class = ResetRequestForm
    email_template_name = "portal/email/password_reset_body.txt"
    subject_template_name = "portal/email/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")
    extra_email_context = {"utility_name": settings.AUTOLETTURA_UTILITY_NAME}

    def form_valid(self, form: Any) -> HttpResponse:
        # Each request sends an e-mail: bounded per address, like sign-ups.
        try:
            throttle(
                "password-reset-address",
                client_address(self.request),
                limit=settings.AUTOLETTURA_THROTTLE_SIGNUP_PER_ADDRESS,
                period=HOUR,
            )
        except Throttled as exc:
            form.add_error(None, throttled_message(exc.retry_after))
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        return super().form_valid(form)


# --- The signed-in area --------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    cards = selectors.dashboard(request.user, clock.now())
    return render(request, "portal/dashboard.html", {"cards": cards})


@login_required
@require_GET
def supply_detail(request: HttpRequest, supply_code: str) -> HttpResponse:
    supply = selectors.account_supply(request.user, supply_code)
    if supply is None:
        raise Http404
    returned = payment_return_message(request.GET.get("pagamento", ""))
    if returned is not None:
        level, words = returned
        getattr(messages, level)(request, words)
    response = render(
        request,
        "portal/supply.html",
        {
            "page": selectors.supply_page(supply, clock.now()),
            "remote": _remote_usage(supply),
        },
    )
    # Its "Paga" forms are answered with a redirect to pagoPA checkout's site.
    response["Content-Security-Policy"] = policy_with_form_targets(
        payment_services.checkout_origins()
    )
    return response


def _remote_usage(supply: Any) -> dict[str, Any] | None:
    """A remotely read supply's last two days by the hour, and its last fortnight by day."""
    from autolettura.telemetry import charts as telemetry_charts
    from autolettura.telemetry import selectors as telemetry_selectors

    if telemetry_selectors.remote_meter(supply) is None:
        return None
    today = rome_today(clock.now())
    hours = telemetry_selectors.consumption(
        supply, resolution="hour", start=today - timedelta(days=1), end=today
    )
    days = telemetry_selectors.consumption(
        supply, resolution="day", start=today - timedelta(days=13), end=today
    )
    return {
        "chart": telemetry_charts.hourly_svg(hours, title=_("Litres an hour, last two days")),
        "days": days,
    }


@login_required
@require_GET
def consumption_csv(request: HttpRequest, supply_code: str) -> HttpResponse:
    """The customer's own hourly (last 31 days) or daily (last 400 days) consumption."""
    from autolettura.telemetry import selectors as telemetry_selectors

    supply = selectors.account_supply(request.user, supply_code)
    if supply is None:
        raise Http404
    resolution = "hour" if request.GET.get("resolution") == "hour" else "day"
    today = rome_today(clock.now())
    start = today - timedelta(days=30 if resolution == "hour" else 399)
    usage = telemetry_selectors.consumption(supply, resolution=resolution, start=start, end=today)
    response = HttpResponse(
        telemetry_selectors.usage_csv(supply.supply_code, resolution, usage),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="consumo-{supply.supply_code}-{resolution}.csv"'
    )
    return response


@login_required
@require_GET
def bill_pdf(request: HttpRequest, supply_code: str, year: int, sequence: int) -> HttpResponse:
    bill = selectors.account_bill(request.user, supply_code, year, sequence)
    if bill is None:
        raise Http404
    response = HttpResponse(pdf.bill_pdf(bill), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{pdf.bill_filename(bill)}"'
    return response


# Where pagoPA checkout sends the customer back: ?pagamento= on the supply's page.
PAYMENT_RETURNS = ("ok", "annullato", "errore")


@login_required
@require_POST
def bill_pay(request: HttpRequest, supply_code: str, year: int, sequence: int) -> HttpResponse:
    """The "Paga" button: the bill's pagoPA notice handed to pagoPA checkout, and the
    customer sent there to pay it with the bank, card or app they choose."""
    bill = selectors.account_bill(request.user, supply_code, year, sequence)
    if bill is None:
        raise Http404
    back = reverse("portal:supply_detail", args=[bill.supply.supply_code])
    payment = payment_selectors.bill_payment(bill, today=rome_today(clock.now()))
    if not payment.payable or payment.notice is None:
        messages.info(request, _("This bill has nothing left to pay online."))
        return redirect(back)
    returns = {
        outcome: request.build_absolute_uri(f"{back}?{urlencode({'pagamento': outcome})}")
        for outcome in PAYMENT_RETURNS
    }
    try:
        checkout = payment_services.checkout_start(
            notice=payment.notice,
            description=f"Bolletta n. {bill.number}",
            ok_url=returns["ok"],
            cancel_url=returns["annullato"],
            error_url=returns["errore"],
            email=request.user.email if isinstance(request.user, User) else "",
        )
    except payment_services.CheckoutUnavailable:
        logger.warning("pagoPA checkout unavailable for bill %s", bill.number, exc_info=True)
        messages.error(
            request,
            _(
                "pagoPA cannot take the payment right now. Try again later, or pay with the "
                "notice code printed on the bill, in your bank's app, at a bank or post office."
            ),
        )
        return redirect(back)
    return redirect(checkout)


def payment_return_message(outcome: str) -> tuple[str, str] | None:
    """(level, words) for the customer back from pagoPA checkout."""
    if outcome == "ok":
        return "success", _(
            "Thank you: payment done. The bill shows as paid once pagoPA reports the "
            "payment to us, usually within two working days."
        )
    if outcome == "annullato":
        return "info", _("Payment cancelled: the bill is still to pay.")
    if outcome == "errore":
        return "error", _("The payment did not go through: the bill is still to pay.")
    return None


@login_required
@require_http_methods(["GET", "POST"])
def reading_new(request: HttpRequest) -> HttpResponse:
    """ "Comunica la lettura": a photo first (read, the value proposed with the crop where it
    was read, confirmed or corrected), or the value typed. Without JavaScript, each step is
    a page."""
    now = clock.now()
    supplies = list(selectors.account_supplies(request.user))
    if not supplies:
        return render(request, "portal/reading_new.html", {"form": None})
    if request.method != "POST":
        chosen = selectors.account_supply(request.user, request.GET.get("supply", ""))
        form = ReadingForm(
            supplies=supplies,
            initial={
                "supply": (chosen or supplies[0]).supply_code,
                "read_on": format_day(rome_today(now)),
            },
        )
        note = selectors.window_note(now, chosen or supplies[0])
        return _render_form(request, "portal/reading_new.html", form, note=note)
    chosen = selectors.account_supply(request.user, request.POST.get("supply", ""))
    note = selectors.window_note(now, chosen or supplies[0])
    if request.POST.get("step") == "photo" and request.FILES.get("photo"):
        return _reading_photo_read(request, supplies, note, now)
    form = ReadingForm(request.POST, request.FILES, supplies=supplies)
    if not form.is_valid():
        return _reading_form_again(request, form, note)
    if request.POST.get("step") == "photo" and not form.cleaned_data["reading"]:
        # "Read the photo" with no photo chosen (and nothing typed): say what is missing.
        form.add_error(
            "photo", _("Take or choose a photo of the meter first, or type the reading.")
        )
        return _reading_form_again(request, form, note)
    token = form.cleaned_data["photo_token"]
    photo = form.cleaned_data["photo"]
    if photo is None and token:
        photo = selectors.pending_photo(request.session, token)
        if photo is None:
            token = ""
            form.add_error("photo", _("Your photo was not kept: please choose it again."))
            return _reading_form_again(request, form, note)
    try:
        sent = services.web_reading_submit(
            user=_user(request),
            supply_code=form.cleaned_data["supply"],
            reading=form.cleaned_data["reading"],
            read_on=form.cleaned_data["read_on"],
            photo=photo,
            now=now,
            # The app's key for a reading kept on the phone without signal (webapp/queue.js).
            idempotency_key=request.headers.get("Idempotency-Key")
            or request.POST.get("idempotency_key", ""),
        )
    except SubmissionRejected as exc:
        form.add_service_errors(exc.errors, submission_error_message)
        return _reading_form_again(request, form, note)
    if token:
        services.web_photo_sent(session=request.session, sha256=token)
    receipt = sent.submission.reading.receipt
    target = reverse("portal:reading_receipt", kwargs={"receipt": receipt})
    return redirect(f"{target}?new=1")


def _reading_form_again(request: HttpRequest, form: ReadingForm, note: Any) -> HttpResponse:
    """The form with its errors. A photo kept for the session stays (its token is in the
    form); one chosen on this page must be chosen again: browsers do not keep a file."""
    token = form.data.get("photo_token", "")
    kept = bool(token) and selectors.pending_photo(request.session, token) is not None
    return _render_form(
        request,
        "portal/reading_new.html",
        form,
        note=note,
        photo_kept=token if kept else "",
        photo_dropped=bool(request.FILES.get("photo")) and not kept,
    )


def _reading_photo_read(
    request: HttpRequest, supplies: list[Any], note: Any, now: Any
) -> HttpResponse:
    """The photo step: read the photo and propose its value, or say why not."""
    data = request.POST.copy()
    try:
        # Reading a photo costs time, and each one is kept a while: as many per address as
        # the API's meter-photo endpoint.
        throttle(
            "meter-photo-address",
            client_address(request),
            limit=settings.AUTOLETTURA_THROTTLE_PHOTOS_PER_ADDRESS,
        )
    except Throttled as exc:
        form = ReadingForm(data, supplies=supplies)
        form.is_valid()
        form.add_error("photo", throttled_message(exc.retry_after))
        return _render_form(request, "portal/reading_new.html", form, note=note, status=429)
    try:
        proposal = services.web_photo_read(
            user=_user(request),
            supply_code=data.get("supply", ""),
            photo=cast(UploadedFile, request.FILES["photo"]),
            session=request.session,
            now=now,
        )
    except FormatError as exc:
        form = ReadingForm(data, supplies=supplies)
        form.is_valid()
        for error in exc.errors:
            form.add_error("photo", photo_error_message(error))
        return _render_form(request, "portal/reading_new.html", form, note=note)
    typed = data.get("reading", "").strip()
    if proposal.reading is not None and not typed:
        data["reading"] = proposal.reading
    data["photo_token"] = proposal.sha256
    # Bound but not validated: the page proposes, nothing is wrong yet.
    form = ReadingForm(data, supplies=supplies)
    return _render_form(
        request,
        "portal/reading_new.html",
        form,
        note=note,
        proposal=proposal,
        photo_kept=proposal.sha256,
        unreadable=unreadable_message(),
        # What the customer had typed before reading the photo: kept, and compared.
        typed_differs=bool(typed) and proposal.reading is not None and typed != proposal.reading,
    )


@login_required
@require_GET
def reading_photo_crop(request: HttpRequest, sha256: str) -> HttpResponse:
    """The part of the customer's photo where the register was read, for them to compare
    with the value proposed. Only the session that sent the photo gets it."""
    crop = selectors.pending_photo_crop(request.session, sha256)
    if crop is None:
        raise Http404
    response = HttpResponse(crop, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def window_note(request: HttpRequest) -> HttpResponse:
    """The note on "Comunica la lettura" for the supply chosen (htmx swaps it in)."""
    supply = selectors.account_supply(request.user, request.GET.get("supply", ""))
    if supply is None:
        raise Http404
    note = selectors.window_note(clock.now(), supply)
    return render(request, "portal/partials/window_note.html", {"note": note})


@login_required
@require_GET
def reading_receipt(request: HttpRequest, receipt: str) -> HttpResponse:
    reading = selectors.account_reading(request.user, receipt)
    if reading is None:
        raise Http404
    window = reading_selectors.current_window(clock.now(), reading.supply)
    return render(
        request,
        "portal/reading_receipt.html",
        {
            "row": selectors.reading_row(reading),
            "message": outcome_message(reading, window),
            "new": request.GET.get("new") == "1",
            "sent_to": selectors.outcome_sent_texts(reading),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def supply_add(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render_form(request, "portal/supply_add.html", SupplyAddForm())
    form = SupplyAddForm(request.POST)
    try:
        _throttle_codes(request)
    except Throttled as exc:
        form.add_error(None, throttled_message(exc.retry_after))
        return _render_form(request, "portal/supply_add.html", form, status=429)
    if not form.is_valid():
        return _render_form(request, "portal/supply_add.html", form)
    try:
        supply = services.account_supply_add(
            user=_user(request),
            customer_code=form.cleaned_data["customer_code"],
            supply_code=form.cleaned_data["supply_code"],
            now=clock.now(),
            source=f"address:{client_address(request)}",
        )
    except services.AccountRejected as exc:
        form.add_service_errors(exc.errors, account_error_message)
        return _render_form(request, "portal/supply_add.html", form)
    except Throttled as exc:
        form.add_error(None, throttled_message(exc.retry_after))
        return _render_form(request, "portal/supply_add.html", form, status=429)
    messages.success(
        request, _("Supply %(code)s added to your account.") % {"code": supply.supply_code}
    )
    return redirect("portal:supply_detail", supply_code=supply.supply_code)


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    customer = selectors.account_preferences(request.user)
    if customer is None:
        return render(request, "portal/preferences.html", {"form": None})
    if request.method != "POST":
        form = PreferencesForm(
            initial={
                "language": customer.language,
                "email": customer.email,
                "phone": customer.phone,
                "notify_by_email": customer.notify_by_email,
                "notify_by_sms": customer.notify_by_sms,
                "notify_by_whatsapp": customer.notify_by_whatsapp,
            }
        )
        return _render_form(request, "portal/preferences.html", form, **_preferences(request))
    form = PreferencesForm(request.POST)
    if not form.is_valid():
        return _render_form(request, "portal/preferences.html", form, **_preferences(request))
    new_email = form.cleaned_data["email"].strip()
    if new_email and new_email.casefold() != customer.email.casefold():
        # Each new address gets an e-mail: bounded per account, like sign-ups per address.
        try:
            throttle(
                "email-change-account",
                str(request.user.pk),
                limit=settings.AUTOLETTURA_THROTTLE_SIGNUP_PER_ADDRESS,
                period=HOUR,
            )
        except Throttled as exc:
            form.add_error("email", throttled_message(exc.retry_after))
            return _render_form(
                request, "portal/preferences.html", form, status=429, **_preferences(request)
            )
    try:
        saved = services.preferences_update(
            user=_user(request), site_url=_site_url(request), **form.cleaned_data
        )
    except services.AccountRejected as exc:
        form.add_service_errors(exc.errors, account_error_message)
        return _render_form(request, "portal/preferences.html", form, **_preferences(request))
    # The message is shown on the next page, in the language just chosen.
    with translation.override(form.cleaned_data["language"]):
        messages.success(request, _("Preferences saved."))
        if saved.email_pending:
            messages.info(
                request,
                _(
                    "To change your e-mail address, open the link we sent to %(new)s. Until "
                    "then we keep writing to %(current)s."
                )
                % {"new": saved.email_pending, "current": customer.email or "—"},
            )
    return _with_language(redirect("portal:preferences"), form.cleaned_data["language"])


# --- Fault reports ------------------------------------------------------------------------------

FAULT_TICKETS_KEPT = 10


def _fault_form_initial(request: HttpRequest) -> dict[str, str]:
    """A signed-in customer's name and contacts, so they need not type them again."""
    customer = (
        selectors.account_preferences(request.user) if request.user.is_authenticated else None
    )
    if customer is None:
        return {}
    return {
        "contact_name": customer.name,
        "contact_phone": customer.phone,
        "contact_email": customer.email,
    }


@require_http_methods(["GET", "POST"])
def fault_new(request: HttpRequest) -> HttpResponse:
    """Report a fault, 24 hours a day, signed in or not (R13)."""
    if request.method != "POST":
        form = FaultForm(initial=_fault_form_initial(request))
        return _render_form(request, "portal/fault_new.html", form)
    form = FaultForm(request.POST, request.FILES)
    try:
        throttle(
            "fault-address",
            client_address(request),
            limit=settings.AUTOLETTURA_THROTTLE_FAULTS_PER_ADDRESS,
        )
    except Throttled as exc:
        form.add_error(None, throttled_message(exc.retry_after))
        return _render_form(request, "portal/fault_new.html", form, status=429)
    if not form.is_valid():
        return _render_form(request, "portal/fault_new.html", form)
    data = form.cleaned_data
    try:
        report = services.web_fault_report(
            category=data["category"],
            description=data["description"],
            address=data["address"],
            contact_name=data["contact_name"],
            contact_phone=data["contact_phone"],
            contact_email=data["contact_email"],
            photo=data["photo"],
            language=translation.get_language() or settings.LANGUAGE_CODE,
            now=clock.now(),
        )
    except FaultReportRejected as exc:
        form.add_service_errors(exc.errors, fault_form_error_message)
        return _render_form(
            request,
            "portal/fault_new.html",
            form,
            photo_dropped=bool(request.FILES.get("photo")),
        )
    tickets = [report.ticket, *request.session.get("fault_tickets", [])]
    request.session["fault_tickets"] = tickets[:FAULT_TICKETS_KEPT]
    messages.success(request, fault_received_message(report))
    return redirect(services.fault_follow_path(report.ticket))


@require_http_methods(["GET", "POST"])
def fault_follow(request: HttpRequest) -> HttpResponse:
    """A report's status and history: at once for the reports sent from this browser,
    otherwise for whoever gives its ticket and the contact left with it."""
    ticket = fault_selectors.ticket_normalize(request.GET.get("ticket", ""))
    if request.method != "POST":
        report = None
        if ticket and ticket in request.session.get("fault_tickets", []):
            report = fault_selectors.fault_report_by_ticket(ticket)
        if report is not None:
            return _fault_follow_page(request, report)
        form = FaultFollowForm(initial={"ticket": ticket})
        return _render_form(request, "portal/fault_follow.html", form)
    form = FaultFollowForm(request.POST)
    if not form.is_valid():
        return _render_form(request, "portal/fault_follow.html", form)
    try:
        report = fault_services.fault_report_follow(
            ticket=form.cleaned_data["ticket"],
            contact=form.cleaned_data["contact"],
            source=client_address(request),
        )
    except Throttled as exc:
        form.add_error(None, throttled_message(exc.retry_after))
        return _render_form(request, "portal/fault_follow.html", form, status=429)
    if report is None:
        form.add_error(None, fault_error_message(FieldError("contact", "contact_mismatch")))
        return _render_form(request, "portal/fault_follow.html", form, status=404)
    return _fault_follow_page(request, report)


def _fault_follow_page(request: HttpRequest, report: FaultReport) -> HttpResponse:
    return render(
        request,
        "portal/fault_detail.html",
        {
            "report": report,
            "status_message": fault_status_message(ticket=report.ticket, status=report.status),
            "history": list(fault_selectors.fault_history(report)),
        },
    )


@require_GET
def email_confirm(request: HttpRequest, payload: str, token: str) -> HttpResponse:
    """The link e-mailed to a new address: it becomes the account's from now on."""
    try:
        email = services.account_email_confirm(payload=payload, token=token)
    except services.AccountRejected as exc:
        return render(
            request,
            "portal/email_invalid.html",
            {"errors": [account_error_message(e) for e in exc.errors]},
            status=400,
        )
    messages.success(
        request,
        _("Your e-mail address is now %(email)s: we will write to you there.") % {"email": email},
    )
    return redirect("portal:preferences" if request.user.is_authenticated else "portal:login")


def _preferences(request: HttpRequest) -> dict[str, Any]:
    """What the preferences page shows besides its form: the apps signed in (API tokens)."""
    return {
        "customer": selectors.account_preferences(request.user),
        "tokens": account_selectors.tokens_of(_user(request), now=clock.now()),
    }


@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    # Whose token it is before the method: another's answers 404 whatever is asked.
    if not account_selectors.token_held(_user(request), token_id):
        raise Http404
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    account_services.token_revoke(user=_user(request), token_id=token_id)
    messages.success(request, _("Access ended: that app will have to sign in again."))
    return redirect("portal:preferences")
