"""The reader's app, under /letturisti/: the day's round (one page, kept on the phone by the
app's service worker), and the two things a reader records at a meter, each one call into
rounds.services. A reader signs in through the back office's sign-in (role Letturista).

The recording endpoints answer JSON, for reader.js (which sends at once with a connection
and from the phone's queue without one): 201 a visit recorded, 200 the same visit sent
again, 409 refused (recorded otherwise), 422 what to fix.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.crypto import salted_hmac
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from autolettura import clock
from autolettura.backoffice.views import operator_required
from autolettura.readings.messages import error_message, reading_text
from autolettura.readings.services import SubmissionRejected
from autolettura.rounds import reader_words, selectors, services
from autolettura.rounds.models import FailureCause
from autolettura.rules.window import rome_today
from autolettura.webapp.selectors import BACKGROUND_COLOUR, THEME_COLOUR

PERMISSION = "record_round"
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _reader(request: HttpRequest) -> User:
    return cast(User, request.user)


def queue_account(user: User) -> str:
    """Whose visits a phone keeps (a shared phone): a keyed digest, not the account's id."""
    return salted_hmac("autolettura.rounds.queue", str(user.pk)).hexdigest()[:24]


@operator_required(PERMISSION)
@require_GET
def round_page(request: HttpRequest) -> HttpResponse:
    today = rome_today(clock.now())
    stops = []
    for stop in selectors.reader_round(today):
        state, message = reader_words.visit_outcome(stop.attempt)
        stops.append(
            {
                "stop": stop,
                "state": state,
                "message": message,
                "last": reading_text(stop.last_valid) if stop.last_valid else "",
            }
        )
    response = render(
        request,
        "rounds/round.html",
        {
            "day": today,
            "stops": stops,
            "causes": FailureCause.choices,
            "account": queue_account(_reader(request)),
        },
    )
    # The reader's own round: never kept by a shared cache (the phone's worker keeps it).
    response["Cache-Control"] = "private, no-cache"
    return response


@operator_required(PERMISSION)
@require_GET
def session_state(request: HttpRequest) -> JsonResponse:
    """What the phone's queue needs before it sends: the anti-forgery token, and whose
    account is signed in (a visit kept by one reader is sent only under that reader)."""
    response = JsonResponse(
        {"csrf": get_token(request), "account": queue_account(_reader(request))}
    )
    response["Cache-Control"] = "no-store"
    return response


def _key(request: HttpRequest) -> str:
    return (
        request.headers.get("Idempotency-Key") or request.POST.get("idempotency_key") or ""
    ).strip()


def _answer(outcome: services.VisitOutcome) -> JsonResponse:
    state, message = reader_words.visit_outcome(outcome.attempt)
    reading = outcome.reading
    return JsonResponse(
        {
            "visit": outcome.attempt.pk,
            "state": outcome.attempt.state.lower(),
            "label": state,
            "message": message,
            "created": outcome.created,
            "receipt": reading.receipt if reading is not None else None,
            "status": reading.status.lower() if reading is not None else None,
            "reason": reading.reason if reading is not None else None,
        },
        status=201 if outcome.created else 200,
    )


def _refused(exc: services.VisitRefused) -> JsonResponse:
    status = 404 if exc.code == "not_found" else 409
    return JsonResponse(
        {"code": exc.code, "message": reader_words.refusal_message(exc.code)}, status=status
    )


def _errors(errors: list[Any], *, reading: bool) -> JsonResponse:
    return JsonResponse(
        {
            "errors": [
                {
                    "field": e.field,
                    "code": e.code,
                    "message": error_message(e) if reading else reader_words.detail_message(e),
                }
                for e in errors
            ]
        },
        status=422,
    )


@operator_required(PERMISSION)
@require_POST
def visit_read(request: HttpRequest, attempt_id: int) -> JsonResponse:
    try:
        outcome = services.attempt_read(
            attempt_id=attempt_id,
            reading=request.POST.get("reading", ""),
            photo=request.FILES.get("photo"),
            by=_reader(request),
            now=clock.now(),
            idempotency_key=_key(request),
        )
    except services.VisitRefused as exc:
        return _refused(exc)
    except SubmissionRejected as exc:
        return _errors(exc.errors, reading=True)
    return _answer(outcome)


@operator_required(PERMISSION)
@require_POST
def visit_failed(request: HttpRequest, attempt_id: int) -> JsonResponse:
    try:
        outcome = services.attempt_failed(
            attempt_id=attempt_id,
            cause=request.POST.get("cause", ""),
            cause_note=request.POST.get("cause_note", ""),
            photo=request.FILES.get("photo"),
            latitude=request.POST.get("latitude"),
            longitude=request.POST.get("longitude"),
            accuracy=request.POST.get("accuracy"),
            by=_reader(request),
            now=clock.now(),
            idempotency_key=_key(request),
        )
    except services.VisitRefused as exc:
        return _refused(exc)
    except services.VisitInvalid as exc:
        return _errors(exc.errors, reading=False)
    return _answer(outcome)


# --- The app's own files -------------------------------------------------------------------

# The reader's shell: kept on the phone by the reader's worker, with the round page.
READER_SHELL = (
    "vendor/bootstrap-italia/css/bootstrap-italia.min.css",
    "rounds/reader.css",
    "webapp/queue.js",
    "rounds/reader.js",
    "webapp/icons/icon-192.png",
)


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    icons = [
        {
            "src": static(f"webapp/icons/icon-{size}.png"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": "any",
        }
        for size in (192, 512)
    ] + [
        {
            "src": static(f"webapp/icons/maskable-{size}.png"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": "maskable",
        }
        for size in (192, 512)
    ]
    body = {
        "id": reverse("rounds:round"),
        "lang": get_language() or "it",
        "name": _("Reading round"),
        "short_name": _("Round"),
        "description": _("The day's visits to the meters, recorded even without signal."),
        "start_url": reverse("rounds:round"),
        "scope": reverse("rounds:round"),
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": icons,
    }
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False, indent=2), content_type="application/manifest+json"
    )
    response["Cache-Control"] = "public, max-age=3600"
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    return response


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    from autolettura.rounds.reader_app import shell_version

    body = render_to_string(
        "rounds/sw.js",
        {
            "version": shell_version(READER_SHELL),
            "shell": json.dumps([static(path) for path in READER_SHELL]),
            "round_page": json.dumps(reverse("rounds:round")),
            "queue_script": json.dumps(static("webapp/queue.js")),
            "reader_queue_script": json.dumps(static("rounds/reader-queue.js")),
        },
    )
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response
