"""API tokens: issued on a customer's username and password, stored as a digest."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

from autolettura.accounts.models import ApiToken
from autolettura.customers.models import Customer
from autolettura.portal.backends import account_key
from autolettura.throttling import FailureLimit


class InvalidCredentials(Exception):
    """The username and password do not match an active customer's account."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(
    *,
    username: str,
    password: str,
    now: datetime,
    request: HttpRequest | None = None,
    source: str = "",
) -> tuple[str, ApiToken]:
    """A new token for a customer's own data. Returns (the key, shown once; the token).

    Wrong passwords are counted against `source` (who asks) and the account the username
    names, however it was written (backends.account_key). Raises InvalidCredentials for a
    wrong password, an inactive user or a user who is not a customer, without saying which;
    autolettura.throttling.Throttled past the limit, before the password is checked.
    """
    failures = FailureLimit(
        "password",
        per_source=settings.AUTOLETTURA_FAILURES_PER_SOURCE,
        per_target=settings.AUTOLETTURA_FAILURES_PER_TARGET,
    )
    target = account_key(username)
    failures.check(source=source, target=target)
    user = authenticate(request, username=username, password=password)
    if user is None or not Customer.objects.filter(user=user).exists():
        failures.record(source=source, target=target)
        raise InvalidCredentials()
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        key_digest=_digest(key),
        created_at=now,
        expires_at=now + timedelta(days=settings.AUTOLETTURA_TOKEN_TTL_DAYS),
        password_stamp=user.get_session_auth_hash(),
    )
    return key, token


def token_customer(*, key: str, now: datetime) -> Customer | None:
    """The customer a token belongs to, if the token exists, is unexpired, its account
    active and its password the one the token was issued with."""
    token = (
        ApiToken.objects.select_related("user", "user__customer")
        .filter(key_digest=_digest(key), expires_at__gt=now, user__is_active=True)
        .first()
    )
    if token is None or not token_current(token):
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    customer: Customer | None = getattr(token.user, "customer", None)
    return customer


def token_current(token: ApiToken) -> bool:
    """Whether the account's password is still the one the token was issued with."""
    return constant_time_compare(token.password_stamp, token.user.get_session_auth_hash())


def token_revoke(*, user: User, token_id: int) -> bool:
    """End one of the account's own tokens at once. Returns False when the account has no
    such token (someone else's is the same as none)."""
    deleted, _detail = ApiToken.objects.filter(pk=token_id, user=user).delete()
    return deleted > 0
