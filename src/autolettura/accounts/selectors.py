"""Reads about API tokens."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User

from autolettura.accounts.models import ApiToken
from autolettura.accounts.services import token_current


def tokens_of(user: User, *, now: datetime) -> list[ApiToken]:
    """The account's tokens that still work (unexpired, issued with its current password),
    newest first: what the customer sees, and may revoke, in their preferences."""
    tokens = ApiToken.objects.filter(user=user, expires_at__gt=now).select_related("user")
    return [token for token in tokens.order_by("-created_at", "-pk") if token_current(token)]


def token_held(user: User, token_id: int) -> bool:
    """Whether the account holds the token with this id (expired or not)."""
    return ApiToken.objects.filter(pk=token_id, user=user).exists()
