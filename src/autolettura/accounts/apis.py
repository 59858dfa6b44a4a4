"""POST /api/v1/auth/token."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.security import HttpBearer

from autolettura import clock
from autolettura.accounts import services
from autolettura.customers.models import Customer
from autolettura.schemas import UNREADABLE_BODY, ErrorsOut, Text
from autolettura.throttling import client_address, throttle

router = Router(tags=["auth"])


class TokenIn(Schema):
    username: Text
    password: Text


class TokenOut(Schema):
    token: str
    token_type: str = "Bearer"
    expires_at: datetime


@router.post(
    "/token",
    response={200: TokenOut, 400: ErrorsOut, 401: ErrorsOut, 422: ErrorsOut, 429: ErrorsOut},
    auth=None,
)
def token_create(request: HttpRequest, payload: TokenIn) -> TokenOut:
    address = client_address(request)
    throttle("token-address", address, limit=settings.AUTOLETTURA_THROTTLE_TOKEN_PER_ADDRESS)
    _refuse_unreadable_form(request)
    try:
        key, token = services.token_create(
            username=payload.username,
            password=payload.password,
            now=clock.now(),
            request=request,  # so that repeated failures count towards the lockout
            source=f"address:{address}",
        )
    except services.InvalidCredentials:
        raise HttpError(401, _("The username or the password is not correct.")) from None
    return TokenOut(token=key, expires_at=token.expires_at)


def _refuse_unreadable_form(request: HttpRequest) -> None:
    """Refuse, before any password is checked, a body that claims to be a form and is not one.

    django-axes records a failed sign-in with the request's form data. A JSON body sent as
    `multipart/form-data` without a boundary, or as a form of more fields than Django
    parses, made that recording raise after the password was checked and before the
    failure was counted: passwords could be guessed past the lockout.
    """
    try:
        request.POST  # noqa: B018 (parsing it is the check)
    except (MultiPartParserError, SuspiciousOperation):
        raise HttpError(400, UNREADABLE_BODY) from None


class CustomerToken(HttpBearer):
    """Bearer authentication with a customer's token: `request.auth` is the Customer."""

    def authenticate(self, request: HttpRequest, token: str) -> Customer | None:
        return services.token_customer(key=token, now=clock.now())


def optional_customer(request: HttpRequest) -> Customer | None:
    """The token's customer when an Authorization header is sent, else None (anonymous).

    A header with a bad token is refused rather than silently treated as anonymous.
    """
    # From META, as request.headers reads it: building request.headers converts every
    # header's name, on every anonymous submission, for this one.
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _sep, key = header.partition(" ")
    customer = (
        services.token_customer(key=key.strip(), now=clock.now())
        if scheme.lower() == "bearer"
        else None
    )
    if customer is None:
        raise AuthenticationError()
    return customer
