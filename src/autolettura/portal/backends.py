"""Sign-in with the e-mail or the username, behind django-axes' lockout."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import User
from django.http import HttpRequest

UserModel = get_user_model()


class AxesLockoutBackend(AxesStandaloneBackend):
    """Refuses a username and address pair locked out by repeated failures.

    Sign-ins without a request (the API's token endpoint, which has its own throttling) are
    not the lockout's business: they pass on to the next backend instead of failing.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        super().authenticate(request, username=username, password=password, **kwargs)
        return None


class EmailOrUsernameBackend(ModelBackend):
    """The username as typed, or else the e-mail address of exactly one active account."""

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if username is None:
            username = kwargs.get(UserModel.USERNAME_FIELD)
        if not username or password is None:
            return None
        user = account_for(username)
        if user is None:
            # Hash anyway, so that the time taken does not tell whether the account exists.
            UserModel().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def account_for(identifier: str) -> User | None:
    """The account a sign-in names: the username as typed (spaces around it left out), or
    else the e-mail address of exactly one active account."""
    identifier = identifier.strip()
    user = UserModel._default_manager.filter(username=identifier).first()
    if user is None and "@" in identifier:
        matches = list(
            UserModel._default_manager.filter(email__iexact=identifier, is_active=True)[:2]
        )
        user = matches[0] if len(matches) == 1 else None
    return user


def account_key(identifier: str) -> str:
    """What failed sign-ins are counted under: the username of the account the identifier
    names, so that the username, the e-mail address and either with spaces or capitals
    count as one (and the lockout's records name the account in words); a name that is no
    account's, as typed without spaces or case."""
    user = account_for(identifier)
    if user is not None:
        return str(user.get_username())
    return identifier.strip().casefold()


def axes_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """The name axes counts failures under: the account, whatever identifier was typed."""
    raw = (credentials or {}).get("username")
    if raw is None and request is not None:
        raw = request.POST.get("username", "")
    return account_key(str(raw or ""))
