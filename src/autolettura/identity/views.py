"""SPID and CIE sign-in pages: the start (an auto-submitted signed request to the identity
provider), the assertion consumer, the one-time link with the bill's codes, and the
service provider's metadata."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import login, logout
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from autolettura import clock
from autolettura.identity import saml, services
from autolettura.identity.messages import identity_error_message, provider_error_message
from autolettura.portal.forms import SupplyAddForm
from autolettura.portal.messages import throttled_message
from autolettura.security import POLICY
from autolettura.throttling import Throttled, client_address, throttle

logger = logging.getLogger(__name__)

# The browser's sign-in cookie: binds the identity provider's answer to the browser that
# asked for it. The answer arrives as a cross-site POST, which carries a SameSite=Lax
# cookie only from the same site: over HTTPS (production) the cookie is SameSite=None and
# Secure; over plain HTTP (a local identity provider on the same host) it stays Lax.
COOKIE = "autolettura_identity"
SESSION_PENDING = "identity_pending"
BACKEND = "autolettura.portal.backends.EmailOrUsernameBackend"
HOUR = 3600


def _enabled(scheme: str) -> None:
    if not saml.enabled() or not saml.metadata_files(scheme):
        raise Http404


def _next_path(request: HttpRequest) -> str:
    candidate = request.GET.get("next", "")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _start(request: HttpRequest, scheme: str, provider: saml.Provider) -> HttpResponse:
    try:
        throttle(
            "identity-start",
            client_address(request),
            limit=settings.AUTOLETTURA_SPID_PER_ADDRESS_HOUR,
            period=HOUR,
        )
    except Throttled as exc:
        return _failure(request, throttled_message(exc.retry_after), 429)
    secret = services.browser_secret()
    outgoing = services.sign_in_start(
        scheme=scheme,
        provider=provider,
        secret=secret,
        next_path=_next_path(request),
        now=clock.now(),
    )
    response = render(
        request,
        "identity/redirect.html",
        {"outgoing": outgoing, "provider": provider, "scheme": scheme},
    )
    # The form posts to the identity provider: the page's policy lets it, and it only.
    target = urlsplit(outgoing.sso_url)
    response["Content-Security-Policy"] = POLICY.replace(
        "form-action 'self'", f"form-action 'self' {target.scheme}://{target.netloc}"
    )
    secure = request.is_secure()
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(services.REQUEST_VALID.total_seconds()),
        secure=secure,
        httponly=True,
        samesite="None" if secure else "Lax",
    )
    return response


@require_GET
def spid_start(request: HttpRequest) -> HttpResponse:
    _enabled(saml.SPID)
    provider = saml.provider(saml.SPID, request.GET.get("idp", ""))
    if provider is None:
        return render(
            request,
            "identity/choose.html",
            {"providers": saml.providers(saml.SPID), "next": _next_path(request)},
            status=400 if "idp" in request.GET else 200,
        )
    return _start(request, saml.SPID, provider)


@require_GET
def cie_start(request: HttpRequest) -> HttpResponse:
    _enabled(saml.CIE)
    found = saml.providers(saml.CIE)
    if not found:
        raise Http404
    return _start(request, saml.CIE, found[0])


def _failure(request: HttpRequest, message: str, status: int) -> HttpResponse:
    response = render(request, "identity/failed.html", {"message": message}, status=status)
    response.delete_cookie(COOKIE)
    return response


@csrf_exempt
@require_POST
def acs(request: HttpRequest) -> HttpResponse:
    """The assertion consumer: every Response of SPID and CIE providers arrives here."""
    if not saml.enabled():
        raise Http404
    now = clock.now()
    try:
        throttle(
            "identity-acs",
            client_address(request),
            limit=settings.AUTOLETTURA_SPID_PER_ADDRESS_HOUR,
            period=HOUR,
        )
        signed_in = services.sign_in_finish(
            saml_response=request.POST.get("SAMLResponse", ""),
            secret=request.COOKIES.get(COOKIE, ""),
            now=now,
        )
        account = services.identity_account(identity=signed_in.identity, now=now)
    except Throttled as exc:
        return _failure(request, throttled_message(exc.retry_after), 429)
    except saml.SamlRejected as exc:
        logger.warning("sign-in refused: %s", exc)
        return _failure(request, provider_error_message(exc.provider_status), 403)
    if isinstance(account, services.PendingIdentity):
        # A new session: nothing from before the sign-in carries over.
        request.session.cycle_key()
        request.session[SESSION_PENDING] = account.as_session()
        response = redirect("identity:link")
    else:
        login(request, account, backend=BACKEND)
        response = redirect(signed_in.next_path or "portal:dashboard")
    response.delete_cookie(COOKIE)
    return response


@require_http_methods(["GET", "POST"])
def link(request: HttpRequest) -> HttpResponse:
    """The first sign-in of an identity no customer has: the bill's two codes, once."""
    pending = services.PendingIdentity.from_session(
        request.session.get(SESSION_PENDING), now=clock.now()
    )
    if pending is None:
        return redirect("portal:login")
    context = {"pending": pending}
    if request.method != "POST":
        return render(request, "identity/link.html", {"form": SupplyAddForm(), **context})
    form = SupplyAddForm(request.POST)
    if not form.is_valid():
        return render(request, "identity/link.html", {"form": form, **context})
    try:
        throttle(
            "signup-address",
            client_address(request),
            limit=settings.AUTOLETTURA_THROTTLE_SIGNUP_PER_ADDRESS,
            period=HOUR,
        )
        user = services.identity_link(
            pending=pending,
            customer_code=form.cleaned_data["customer_code"],
            supply_code=form.cleaned_data["supply_code"],
            now=clock.now(),
        )
    except services.IdentityRejected as exc:
        form.add_service_errors(exc.errors, identity_error_message)
        return render(request, "identity/link.html", {"form": form, **context})
    except Throttled as exc:
        form.add_error(None, throttled_message(exc.retry_after))
        return render(request, "identity/link.html", {"form": form, **context}, status=429)
    request.session.pop(SESSION_PENDING, None)
    login(request, user, backend=BACKEND)
    return redirect("portal:dashboard")


def _metadata(scheme: str) -> HttpResponse:
    _enabled(scheme)
    return HttpResponse(saml.metadata_xml(scheme), content_type="application/samlmetadata+xml")


@require_GET
def spid_metadata(request: HttpRequest) -> HttpResponse:
    return _metadata(saml.SPID)


@require_GET
def cie_metadata(request: HttpRequest) -> HttpResponse:
    return _metadata(saml.CIE)


@csrf_exempt
@require_POST
def slo(request: HttpRequest) -> HttpResponse:
    """Sign-out at this site, posted by an identity provider (its session is its own; a
    cross-site POST carries no SameSite=Lax session cookie, so nobody else's page can sign a
    customer out through here)."""
    logout(request)
    return redirect("portal:home")
