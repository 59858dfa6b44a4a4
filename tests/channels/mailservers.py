"""The mail servers of the e-mail tests, real and on 127.0.0.1: Dovecot (IMAP), started with
a configuration of its own in a temporary folder, and aiosmtpd (SMTP), keeping every mail
it is given. tests/channels/conftest.py starts them once for the session; the OAuth tests
start their own Dovecot, with another way to log in (`dovecot`'s `auth`)."""

from __future__ import annotations

import email
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from io import StringIO
from pathlib import Path
from typing import Any, Self

import pytest
from django.core.management import call_command
from imap_tools import MailBoxUnencrypted

from tests.conftest import rome

DOVECOT = Path("/usr/sbin/dovecot")
PASSWORD = "s3cret-imap"
# The e-mail tests' instant: inside the October window, and in the past for the machine's
# clock, so that the outbox, run by the real clock, sends what the pinned clock queued.
NOW = rome(2026, 10, 20, 10, 0)
# Any user name logs in with PASSWORD and gets an empty Maildir.
PASSWORD_LOGIN = f"""
auth_mechanisms = plain login
passdb {{
  driver = static
  args = password={PASSWORD}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    text = log.read_text() if log.exists() else ""
    process.kill()
    raise RuntimeError(f"Dovecot did not start on port {port}:\n{text}")


@contextmanager
def dovecot(auth: str, *, files: dict[str, str] | None = None) -> Iterator[int]:
    """Dovecot on 127.0.0.1 with a configuration of its own, logging in as `auth` (its
    auth_mechanisms and passdb) says, each user with their own Maildir; `files` are
    written beside the configuration first ({base} in them is its folder). Yields its port;
    skips the test where Dovecot is not installed."""
    if not DOVECOT.exists():
        pytest.skip(f"{DOVECOT} is missing: run scripts/install-system-deps.sh (make install)")
    base = Path(tempfile.mkdtemp(prefix="autolettura-dovecot-"))
    base.chmod(0o755)  # the mail user must reach the mailboxes under it
    home = base / "home"
    home.mkdir()
    if os.geteuid() == 0:  # Dovecot refuses to give mail to root: use its own user
        mail_user = pwd.getpwnam("dovecot")
        os.chown(home, mail_user.pw_uid, mail_user.pw_gid)
        uid, gid = mail_user.pw_uid, mail_user.pw_gid
        unprivileged = ""
    else:
        uid, gid = os.getuid(), os.getgid()
        me = pwd.getpwuid(uid).pw_name
        unprivileged = (
            f"default_login_user = {me}\ndefault_internal_user = {me}\n"
            "service imap-login {\n  chroot =\n}\nservice anvil {\n  chroot =\n}\n"
        )
    for name, text in (files or {}).items():
        (base / name).write_text(text.replace("{base}", str(base)))
    port = free_port()
    (base / "dovecot.conf").write_text(
        f"""
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
ssl = no
disable_plaintext_auth = no
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
{auth.replace("{base}", str(base))}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{unprivileged}"""
    )
    process = subprocess.Popen(
        [str(DOVECOT), "-F", "-c", str(base / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process, base / "dovecot.log")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class ImapServer:
    """Dovecot logging in with PASSWORD (PASSWORD_LOGIN)."""

    port: int
    users: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def mailbox(self, user: str) -> MailBoxUnencrypted:
        return MailBoxUnencrypted("127.0.0.1", self.port, timeout=10).login(user, PASSWORD)

    def deliver(self, user: str, raw: bytes, *, arrived_at: datetime = NOW) -> None:
        with self.mailbox(user) as box:
            box.append(raw, "INBOX", dt=arrived_at, flag_set=[])

    def flags(self, user: str) -> list[tuple[str, ...]]:
        with self.mailbox(user) as box:
            return [m.flags for m in box.fetch(mark_seen=False, headers_only=True)]

    def mark_unseen(self, user: str) -> None:
        with self.mailbox(user) as box:
            box.client.uid("STORE", "1:*", "-FLAGS", "(\\Seen)")


class SmtpServer:
    """aiosmtpd on 127.0.0.1, keeping every mail it is given."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.received: list[Message] = []
        self.raw: list[bytes] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.controller.stop()

    def configure(self, settings: Any) -> None:
        """Forget what it received, and point the app's mail at it."""
        self.received.clear()
        self.raw.clear()
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", self.controller.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.raw.append(raw)
        self.received.append(message)
        return "250 OK"


def body_of(message: Message) -> str:
    part = message.get_body(("plain",)) if hasattr(message, "get_body") else None
    payload = (part or message).get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


def fetch() -> str:
    """Run the mailbox poll, `autolettura fetch-email`; its summary."""
    out = StringIO()
    call_command("fetch_email", stdout=out)
    return out.getvalue()
