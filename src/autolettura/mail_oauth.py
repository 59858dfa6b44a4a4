"""OAuth 2.0 for the mail servers: XOAUTH2 for IMAP and SMTP.

Microsoft 365 no longer takes passwords over IMAP and SMTP, and Gmail takes only app
passwords: both take an OAuth 2.0 access token in the SASL mechanism XOAUTH2. The token is
either configured as it is (AUTOLETTURA_EMAIL_OAUTH_ACCESS_TOKEN, for a provider or a proxy
that hands out long-lived ones), or obtained with the refresh-token grant (RFC 6749, 6) at the
provider's token endpoint and kept in the cache until shortly before it expires.

For SMTP, `OAuth2SmtpBackend` is Django's SMTP backend logging in with XOAUTH2 instead of a
password: EMAIL_BACKEND=autolettura.mail_oauth.OAuth2SmtpBackend, so that every mail the
product sends (outcomes, sign-up confirmations, password resets) goes the same way.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail.backends.smtp import EmailBackend

from autolettura.outbox.senders import USER_AGENT

logger = logging.getLogger(__name__)

# Renewed this long before the provider says it expires: a token must not expire between
# being read here and being checked by the mail server.
EXPIRY_MARGIN_SECONDS = 120
_CACHE_KEY = "mail-oauth:access-token"


class TokenUnavailable(Exception):
    """No access token could be had: none configured, or the token endpoint refused or
    could not be reached (the message says which)."""


def access_token() -> str:
    """The access token to log in to the mail servers with. Raises TokenUnavailable."""
    static = settings.AUTOLETTURA_EMAIL_OAUTH_ACCESS_TOKEN
    if static:
        return str(static)
    if not settings.AUTOLETTURA_EMAIL_OAUTH_TOKEN_URL:
        raise TokenUnavailable(
            "set AUTOLETTURA_EMAIL_OAUTH_ACCESS_TOKEN, or AUTOLETTURA_EMAIL_OAUTH_TOKEN_URL "
            "with the client id and a refresh token"
        )
    cached = cache.get(_CACHE_KEY)
    if isinstance(cached, str) and cached:
        return cached
    token, lifetime = _refresh()
    if lifetime > EXPIRY_MARGIN_SECONDS:
        cache.set(_CACHE_KEY, token, timeout=lifetime - EXPIRY_MARGIN_SECONDS)
    return token


def forget_access_token() -> None:
    """Drop the cached token (the server refused it: revoked before its time)."""
    cache.delete(_CACHE_KEY)


def _refresh() -> tuple[str, int]:
    """A new access token and its lifetime in seconds, from the refresh-token grant."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": settings.AUTOLETTURA_EMAIL_OAUTH_REFRESH_TOKEN,
        "client_id": settings.AUTOLETTURA_EMAIL_OAUTH_CLIENT_ID,
    }
    if settings.AUTOLETTURA_EMAIL_OAUTH_CLIENT_SECRET:
        form["client_secret"] = settings.AUTOLETTURA_EMAIL_OAUTH_CLIENT_SECRET
    if settings.AUTOLETTURA_EMAIL_OAUTH_SCOPE:
        form["scope"] = settings.AUTOLETTURA_EMAIL_OAUTH_SCOPE
    url = settings.AUTOLETTURA_EMAIL_OAUTH_TOKEN_URL
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.AUTOLETTURA_PROVIDER_TIMEOUT) as r:
            answer: Any = json.loads(r.read(64 * 1024))
    except urllib.error.HTTPError as exc:
        # RFC 6749, 5.2: {"error": "invalid_grant", "error_description": "..."}.
        detail = exc.read(2000).decode(errors="replace")
        raise TokenUnavailable(f"{url}: HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise TokenUnavailable(f"{url}: {exc}") from exc
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenUnavailable(f"{url}: no access_token in the answer")
    lifetime = answer.get("expires_in", 3600)
    try:
        seconds = int(lifetime)
    except (TypeError, ValueError):
        seconds = 3600
    if answer.get("refresh_token") not in (None, settings.AUTOLETTURA_EMAIL_OAUTH_REFRESH_TOKEN):
        # Some providers rotate refresh tokens; Microsoft's and Google's stay valid for
        # months, so the configured one keeps working until it is replaced by hand.
        logger.info("the mail token endpoint handed out a new refresh token (not kept)")
    return token, seconds


def xoauth2_response(user: str, token: str) -> str:
    """The XOAUTH2 initial client response (before base64): the user and the bearer token."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


class OAuth2SmtpBackend(EmailBackend):
    """Django's SMTP backend, logging in with XOAUTH2 as EMAIL_HOST_USER instead of a
    password. A refused token is dropped from the cache, so the next try gets a new one."""

    def open(self) -> bool | None:
        if self.connection:
            return False
        user = self.username
        self.password = ""  # the parent logs in only with a password: here, never
        opened = super().open()
        if not self.connection:
            return opened
        try:
            token = access_token()
            self.connection.ehlo_or_helo_if_needed()
            # The server answers a bad token with a 334 challenge (a JSON error): the
            # empty answer to it ends the exchange with the 535 that smtplib raises.
            self.connection.auth(
                "XOAUTH2",
                lambda challenge=None: "" if challenge else xoauth2_response(user, token),
            )
        except smtplib.SMTPAuthenticationError:
            forget_access_token()
            self.close()
            if not self.fail_silently:
                raise
        except (TokenUnavailable, smtplib.SMTPException, OSError) as exc:
            self.close()
            if not self.fail_silently:
                raise smtplib.SMTPException(f"XOAUTH2: {exc}") from exc
        return opened
