"""What the channel tests share: the mail servers (Dovecot and aiosmtpd on 127.0.0.1,
started once) with a fresh mailbox a test, and a fake Graph API with the app's WhatsApp
settings pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_helpers import Clock
from tests.channels.fakes import FakeGraphApi, whatsapp_configured
from tests.channels.mailservers import (
    NOW,
    PASSWORD,
    PASSWORD_LOGIN,
    ImapServer,
    SmtpServer,
    dovecot,
)


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    """Photos and attachments a test keeps go to its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ImapServer]:
    """Dovecot on 127.0.0.1: any user name logs in with PASSWORD and gets an empty Maildir,
    so each test reads its own mailbox."""
    with dovecot(PASSWORD_LOGIN) as port:
        yield ImapServer(port)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def mailbox_user(
    imap_server: ImapServer,
    smtp_server: SmtpServer,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A fresh mailbox, the app pointed at both servers, and the clock pinned at NOW."""
    user = f"letture{next(imap_server.users)}"
    smtp_server.configure(settings)
    settings.AUTOLETTURA_IMAP_HOST = "127.0.0.1"
    settings.AUTOLETTURA_IMAP_PORT = imap_server.port
    settings.AUTOLETTURA_IMAP_SSL = settings.AUTOLETTURA_IMAP_STARTTLS = False
    settings.AUTOLETTURA_IMAP_USER, settings.AUTOLETTURA_IMAP_PASSWORD = user, PASSWORD
    settings.AUTOLETTURA_IMAP_FOLDER = "INBOX"
    monkeypatch.setattr("autolettura.clock.now", Clock(NOW))
    return user


@pytest.fixture
def graph(settings: Any, tmp_path: Path) -> Iterator[FakeGraphApi]:
    """Meta's Graph API on 127.0.0.1, the app configured for it; media kept under tmp_path."""
    with whatsapp_configured(settings) as fake:
        settings.MEDIA_ROOT = tmp_path
        yield fake
