"""OAuth 2.0 (XOAUTH2) for the readings mailbox and the SMTP server, as Microsoft 365 requires.

Real parts on loopback: Dovecot with its `oauth2` passdb, which takes only XOAUTH2 and
OAUTHBEARER and checks each token at an introspection endpoint (RFC 7662); aiosmtpd taking
AUTH XOAUTH2 and nothing else; and a token endpoint (RFC 6749) that hands out access tokens
for a refresh token and tells the two servers which are valid, as the provider's does.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult
from django.core.cache import cache
from django.core.management import CommandError
from imap_tools import MailBoxUnencrypted

from autolettura import mail_oauth
from autolettura.outbox.models import OutboundMessage
from autolettura.readings.models import Reading, Status
from tests.api_helpers import Clock
from tests.channels.mailservers import NOW, SmtpServer, body_of, dovecot, fetch, free_port
from tests.channels.test_email import codes_text, make_mail
from tests.conftest import make_supply
from tests.fake_http import FakeProvider, Recorded

CLIENT_ID = "autolettura-app"
CLIENT_SECRET = "client-secret"
REFRESH_TOKEN = "refresh-token-of-the-readings-mailbox"
MAILBOX = "letture@acquedivalmora.example"


class FakeTokenEndpoint(FakeProvider):
    """The provider's identity platform: `POST /token` (the refresh-token grant) hands out
    access tokens; `POST /introspect` (RFC 7662) says whether one is active, and whose."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self.active: dict[str, str] = {}  # access token -> user
        self.refresh_tokens = {REFRESH_TOKEN: MAILBOX}

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def issue(self, user: str) -> str:
        token = f"access-{next(self._ids)}"
        self.active[token] = user
        return token

    def grants(self) -> list[dict[str, str]]:
        return [r.form() for r in self.requests if r.path == "/token"]

    def answer(self, request: Recorded) -> tuple[int, str, bytes]:
        form = request.form()
        if request.path == "/token":
            user = self.refresh_tokens.get(form.get("refresh_token", ""))
            if (
                form.get("grant_type") != "refresh_token"
                or form.get("client_id") != CLIENT_ID
                or form.get("client_secret") != CLIENT_SECRET
                or user is None
            ):
                body = {"error": "invalid_grant", "error_description": "AADSTS70000"}
                return 400, "application/json", json.dumps(body).encode()
            body = {
                "token_type": "Bearer",
                "access_token": self.issue(user),
                "expires_in": 3599,
                "scope": form.get("scope", ""),
            }
            return 200, "application/json", json.dumps(body).encode()
        if request.path == "/introspect":
            user = self.active.get(form.get("token", ""))
            body = {"active": True, "username": user} if user else {"active": False}
            return 200, "application/json", json.dumps(body).encode()
        return 404, "application/json", b"{}"


@pytest.fixture(scope="module")
def token_endpoint() -> Iterator[FakeTokenEndpoint]:
    with FakeTokenEndpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def oauth_imap(token_endpoint: FakeTokenEndpoint) -> Iterator[int]:
    """Dovecot on 127.0.0.1 taking only OAuth 2.0 bearer tokens (XOAUTH2, OAUTHBEARER),
    each checked at the token endpoint's introspection. Returns its port."""
    introspection = f"""
introspection_mode = post
introspection_url = {token_endpoint.url}/introspect
username_attribute = username
active_attribute = active
active_value = true
"""
    oauth_login = """
auth_mechanisms = xoauth2 oauthbearer
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {base}/oauth2.conf.ext
}
"""
    with dovecot(oauth_login, files={"oauth2.conf.ext": introspection}) as port:
        yield port


class OAuthSmtpServer(SmtpServer):
    """aiosmtpd that takes mail only after AUTH XOAUTH2 with a token the endpoint issued,
    answering a bad one as Gmail and Microsoft 365 do (a 334 with a JSON error, then 535)."""

    def __init__(self, token_endpoint: FakeTokenEndpoint) -> None:
        from aiosmtpd.controller import Controller

        super().__init__()
        self.token_endpoint = token_endpoint
        self.logins: list[str] = []
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=free_port(),
            auth_required=True,
            auth_require_tls=False,  # loopback only
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
        )

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 2:
            blob = base64.b64decode(args[1])
        else:
            answer = await server.challenge_auth("")
            blob = answer if isinstance(answer, bytes) else b""
        fields = dict(part.split("=", 1) for part in blob.decode().split("\x01") if "=" in part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        if self.token_endpoint.active.get(token) != user or not user:
            error = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
            await server.challenge_auth(json.dumps(error))
            return AuthResult(
                success=False, handled=False, message="535 5.7.8 Authentication unsuccessful"
            )
        self.logins.append(user)
        return AuthResult(success=True, auth_data=user)


@pytest.fixture(scope="module")
def oauth_smtp(token_endpoint: FakeTokenEndpoint) -> Iterator[OAuthSmtpServer]:
    with OAuthSmtpServer(token_endpoint) as server:
        yield server


_users = itertools.count(1)


@pytest.fixture
def mailbox(
    oauth_imap: int,
    oauth_smtp: OAuthSmtpServer,
    token_endpoint: FakeTokenEndpoint,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A fresh mailbox whose IMAP and SMTP logins take only OAuth, the refresh-token flow
    configured, and the clock pinned at NOW. Returns the mailbox's user name."""
    user = f"letture-oauth{next(_users)}@acquedivalmora.example"
    token_endpoint.refresh_tokens[REFRESH_TOKEN] = user
    token_endpoint.requests.clear()
    oauth_smtp.received.clear()
    oauth_smtp.raw.clear()
    oauth_smtp.logins.clear()
    cache.clear()
    settings.AUTOLETTURA_EMAIL_OAUTH_ACCESS_TOKEN = ""
    settings.AUTOLETTURA_EMAIL_OAUTH_TOKEN_URL = token_endpoint.token_url
    settings.AUTOLETTURA_EMAIL_OAUTH_CLIENT_ID = CLIENT_ID
    settings.AUTOLETTURA_EMAIL_OAUTH_CLIENT_SECRET = CLIENT_SECRET
    settings.AUTOLETTURA_EMAIL_OAUTH_REFRESH_TOKEN = REFRESH_TOKEN
    settings.AUTOLETTURA_EMAIL_OAUTH_SCOPE = (
        "https://outlook.office.com/IMAP.AccessAsUser.All "
        "https://outlook.office.com/SMTP.Send offline_access"
    )
    settings.EMAIL_BACKEND = "autolettura.mail_oauth.OAuth2SmtpBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", oauth_smtp.controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = user, ""
    settings.AUTOLETTURA_IMAP_HOST = "127.0.0.1"
    settings.AUTOLETTURA_IMAP_PORT = oauth_imap
    settings.AUTOLETTURA_IMAP_SSL = settings.AUTOLETTURA_IMAP_STARTTLS = False
    settings.AUTOLETTURA_IMAP_AUTH = "xoauth2"
    settings.AUTOLETTURA_IMAP_USER, settings.AUTOLETTURA_IMAP_PASSWORD = user, ""
    settings.AUTOLETTURA_IMAP_FOLDER = "INBOX"
    settings.MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="autolettura-media-"))
    monkeypatch.setattr("autolettura.clock.now", Clock(NOW))
    return user


def deliver(port: int, token_endpoint: FakeTokenEndpoint, user: str, raw: bytes) -> None:
    """Put a mail in the mailbox as the mail server would, logging in with a token too."""
    token = token_endpoint.issue(user)
    with MailBoxUnencrypted("127.0.0.1", port, timeout=10).xoauth2(user, token) as box:
        box.append(raw, "INBOX", dt=NOW, flag_set=[])


@pytest.mark.django_db(transaction=True)
class TestOAuthMailbox:
    def test_a_mail_is_read_and_answered_with_tokens_from_the_refresh_token(
        self,
        oauth_imap: int,
        oauth_smtp: OAuthSmtpServer,
        token_endpoint: FakeTokenEndpoint,
        mailbox: str,
    ) -> None:
        supply = make_supply()
        deliver(oauth_imap, token_endpoint, mailbox, make_mail(codes_text(supply)))

        summary = fetch()

        reading = Reading.objects.get()
        assert reading.status == Status.ACCEPTED
        assert summary.startswith("1 e-mails: 1 readings taken in charge")
        [reply] = oauth_smtp.received
        assert f"Lettura ricevuta con protocollo {reading.receipt}" in body_of(reply)
        assert oauth_smtp.logins == [mailbox]
        assert OutboundMessage.objects.get().status == OutboundMessage.Status.SENT
        # One grant served both logins: the token is kept until shortly before it expires.
        [grant] = token_endpoint.grants()
        assert grant["grant_type"] == "refresh_token"
        assert grant["scope"].endswith("SMTP.Send offline_access")
        [asked] = [r for r in token_endpoint.requests if r.path == "/token"]
        assert asked.headers["User-Agent"].startswith("Autolettura/")
        # Dovecot checked the token the app logged in with.
        assert any(r.path == "/introspect" for r in token_endpoint.requests)

    def test_a_static_access_token_is_used_as_it_is(
        self,
        oauth_imap: int,
        oauth_smtp: OAuthSmtpServer,
        token_endpoint: FakeTokenEndpoint,
        mailbox: str,
        settings: Any,
    ) -> None:
        settings.AUTOLETTURA_EMAIL_OAUTH_ACCESS_TOKEN = token_endpoint.issue(mailbox)
        settings.AUTOLETTURA_EMAIL_OAUTH_TOKEN_URL = ""
        deliver(oauth_imap, token_endpoint, mailbox, make_mail(codes_text(make_supply())))
        token_endpoint.requests.clear()

        fetch()

        assert Reading.objects.count() == 1
        assert oauth_smtp.logins == [mailbox]
        assert token_endpoint.grants() == []

    def test_a_revoked_token_is_refused_and_a_new_one_is_asked_for_next_time(
        self,
        oauth_imap: int,
        oauth_smtp: OAuthSmtpServer,
        token_endpoint: FakeTokenEndpoint,
        mailbox: str,
    ) -> None:
        deliver(oauth_imap, token_endpoint, mailbox, make_mail(codes_text(make_supply())))
        revoked = mail_oauth.access_token()
        del token_endpoint.active[revoked]

        with pytest.raises(CommandError, match=r"IMAP 127\.0\.0\.1"):
            fetch()
        fetch()

        assert Reading.objects.count() == 1
        assert len(token_endpoint.grants()) == 2

    def test_a_refresh_token_the_endpoint_refuses_says_so(
        self, mailbox: str, settings: Any
    ) -> None:
        settings.AUTOLETTURA_EMAIL_OAUTH_REFRESH_TOKEN = "expired"

        with pytest.raises(CommandError, match="invalid_grant"):
            fetch()

    def test_a_reply_that_cannot_log_in_waits_in_the_outbox(
        self,
        oauth_imap: int,
        oauth_smtp: OAuthSmtpServer,
        token_endpoint: FakeTokenEndpoint,
        mailbox: str,
        settings: Any,
    ) -> None:
        deliver(oauth_imap, token_endpoint, mailbox, make_mail(codes_text(make_supply())))
        # The mailbox's token is good for IMAP; SMTP is asked with one for someone else.
        settings.EMAIL_HOST_USER = "someone.else@acquedivalmora.example"

        fetch()

        reply = OutboundMessage.objects.get()
        assert reply.status == OutboundMessage.Status.PENDING
        assert "535" in reply.last_error
        assert oauth_smtp.received == []


class TestXoauth2:
    def test_the_initial_response_names_the_user_and_the_bearer_token(self) -> None:
        assert mail_oauth.xoauth2_response("letture@example.org", "ya29.abc") == (
            "user=letture@example.org\x01auth=Bearer ya29.abc\x01\x01"
        )


class TestSettings:
    @pytest.mark.parametrize(
        "variable",
        [
            ("AUTOLETTURA_IMAP_AUTH", "xoauth2"),
            ("EMAIL_BACKEND", "autolettura.mail_oauth.OAuth2SmtpBackend"),
        ],
    )
    def test_oauth_without_a_token_stops_the_process_naming_what_to_set(
        self, variable: tuple[str, str], tmp_path: Path
    ) -> None:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AUTOLETTURA_", "EMAIL_", "DJANGO_"))
        }
        env[variable[0]] = variable[1]
        env["PYTHONPATH"] = os.pathsep.join(sys.path)

        loaded = subprocess.run(
            [sys.executable, "-c", "import autolettura.settings"],
            env=env,
            cwd=tmp_path,  # no .env file here
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert loaded.returncode != 0
        assert "AUTOLETTURA_EMAIL_OAUTH_ACCESS_TOKEN" in loaded.stderr
        assert "AUTOLETTURA_EMAIL_OAUTH_REFRESH_TOKEN" in loaded.stderr
