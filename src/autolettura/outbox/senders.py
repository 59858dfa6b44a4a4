"""How each route leaves the building. The providers' servers are the only thing outside.

A sender takes an OutboundMessage and returns the provider's id for it, or raises
SendFailed. Every HTTP call has a timeout.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
from email.charset import QP, Charset
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage

from autolettura import clock
from autolettura.outbox.models import OutboundMessage, Route

# Said on every call to a provider: some (Meta's media servers) refuse Python's default, and
# the provider's logs then name who called.
USER_AGENT = "Autolettura/0.1 (meter self-reading service)"


class SendFailed(Exception):
    """The provider did not take the message; `permanent` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def post_json(
    url: str, payload: dict[str, Any], *, headers: dict[str, str], form: bool = False
) -> dict[str, Any]:
    """POST to a provider with the configured timeout; 4xx answers are permanent failures."""
    if form:
        data = urllib.parse.urlencode(payload).encode()
        content_type = "application/x-www-form-urlencoded"
    else:
        data = json.dumps(payload).encode()
        content_type = "application/json"
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": content_type, "User-Agent": USER_AGENT, **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.AUTOLETTURA_PROVIDER_TIMEOUT) as r:
            body = r.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        # A client error will not go away by retrying, except "too many requests".
        permanent = 400 <= exc.code < 500 and exc.code != 429
        raise SendFailed(f"{url}: HTTP {exc.code}: {detail}", permanent=permanent) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise SendFailed(f"{url}: {exc}") from exc
    try:
        answer: dict[str, Any] = json.loads(body or b"{}")
    except json.JSONDecodeError:
        answer = {}
    return answer


# Quoted-printable bodies: 7-bit clean, so they pass any server, also one that does not
# offer 8BITMIME (Django would send accented text as 8bit whatever the server offers).
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


def message_id_domain() -> str:
    """The utility's mail domain: AUTOLETTURA_EMAIL_DOMAIN, else DEFAULT_FROM_EMAIL's."""
    configured: str = settings.AUTOLETTURA_EMAIL_DOMAIN
    if configured:
        return configured
    _name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return address.rpartition("@")[2] or "localhost"


def outbound_message_id(message: OutboundMessage) -> str:
    """The Message-ID of an outbound mail: on the utility's domain (not the machine's name,
    which spam filters hold against it), and the same at every attempt, so that a mail the
    server took once but did not confirm is recognised as one by the recipient's server."""
    key = hashlib.sha256(message.dedupe_key.encode()).hexdigest()[:16]
    return f"<autolettura.{message.pk}.{key}@{message_id_domain()}>"


def send_email(message: OutboundMessage) -> str:
    """Send by SMTP (EMAIL_BACKEND). Returns the Message-ID it was sent with."""
    headers = {str(k): str(v) for k, v in message.headers.items()}
    headers.setdefault("Message-ID", outbound_message_id(message))
    email = EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers=headers,
    )
    email.encoding = _UTF8_QP
    try:
        email.send(fail_silently=False)
    except (OSError, ValueError) as exc:
        raise SendFailed(f"SMTP: {exc}") from exc
    return headers["Message-ID"]


def send_sms(message: OutboundMessage) -> str:
    """Twilio's Messages API (or any provider speaking it, at AUTOLETTURA_SMS_API_URL)."""
    sid = settings.AUTOLETTURA_TWILIO_ACCOUNT_SID
    token = settings.AUTOLETTURA_TWILIO_AUTH_TOKEN
    if not sid or not token or not settings.AUTOLETTURA_SMS_FROM:
        raise SendFailed("SMS is not configured (AUTOLETTURA_TWILIO_*, AUTOLETTURA_SMS_FROM)")
    auth = base64.b64encode(f"{sid}:{token}".encode()).decode()
    answer = post_json(
        f"{settings.AUTOLETTURA_SMS_API_URL.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json",
        {"To": message.recipient, "From": settings.AUTOLETTURA_SMS_FROM, "Body": message.body},
        headers={"Authorization": f"Basic {auth}"},
        form=True,
    )
    return str(answer.get("sid", ""))


# The Cloud API's limit on an interactive message's body; a longer reply goes as text.
INTERACTIVE_BODY_MAX = 1024


def whatsapp_payload(message: OutboundMessage, *, now: datetime) -> dict[str, Any]:
    """The Cloud API's message for `message`: its text, or the template its headers name
    (`whatsapp_template`: name, language and body parameters) once the customer's 24 hours
    (`whatsapp_session_ends_at`) are over, or when no such time is given with it; with
    `whatsapp_buttons` ([{"id", "title"}], at most three), the text with reply buttons."""
    base = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    base["to"] = message.recipient.lstrip("+")
    template = message.headers.get("whatsapp_template")
    ends = message.headers.get("whatsapp_session_ends_at")
    if isinstance(template, dict) and (not ends or now >= datetime.fromisoformat(str(ends))):
        return {
            **base,
            "type": "template",
            "template": {
                "name": template["name"],
                "language": {"code": template["language"]},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": str(text)} for text in template["parameters"]
                        ],
                    }
                ],
            },
        }
    buttons = message.headers.get("whatsapp_buttons")
    if isinstance(buttons, list) and buttons and len(message.body) <= INTERACTIVE_BODY_MAX:
        # Reply buttons (a YES and a NO): what the customer presses comes back as an
        # interactive button_reply with the button's id. The text says the answers too.
        return {
            **base,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": message.body},
                "action": {
                    "buttons": [
                        {
                            "type": "reply",
                            "reply": {"id": str(b["id"])[:256], "title": str(b["title"])[:20]},
                        }
                        for b in buttons[:3]
                    ]
                },
            },
        }
    return {**base, "type": "text", "text": {"body": message.body}}


def send_whatsapp(message: OutboundMessage) -> str:
    """WhatsApp Business Cloud API: a text or template message through the Graph API."""
    token = settings.AUTOLETTURA_WHATSAPP_TOKEN
    phone_id = settings.AUTOLETTURA_WHATSAPP_PHONE_NUMBER_ID
    if not token or not phone_id:
        raise SendFailed("WhatsApp is not configured (AUTOLETTURA_WHATSAPP_*)")
    answer = post_json(
        f"{settings.AUTOLETTURA_WHATSAPP_API_URL.rstrip('/')}/{phone_id}/messages",
        whatsapp_payload(message, now=clock.now()),
        headers={"Authorization": f"Bearer {token}"},
    )
    messages = answer.get("messages") or [{}]
    return str(messages[0].get("id", ""))


SENDERS: dict[str, Callable[[OutboundMessage], str]] = {
    Route.EMAIL: send_email,
    Route.SMS: send_sms,
    Route.WHATSAPP: send_whatsapp,
}
