"""Stand-ins for the outside providers, and clients that call the app as the providers do.

`FakeGraphApi` and `FakeTwilioApi` are real HTTP servers on 127.0.0.1 (tests/fake_http.py):
they record every request and answer like Meta's Graph API and Twilio's Messages API, so
the outbox's senders run unchanged against them. The `*_post` helpers send webhooks to
the running app signed exactly as Meta (`X-Hub-Signature-256`) and Twilio
(`X-Twilio-Signature`) sign theirs.

    with FakeGraphApi() as graph:
        settings.AUTOLETTURA_WHATSAPP_API_URL = graph.api_url
        ...
        assert graph.sent_texts() == [("393471234567", "...")]
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from twilio.request_validator import RequestValidator

from tests.fake_http import FakeProvider, Recorded, json_answer

# --- Fake providers ---------------------------------------------------------------------------

# The WhatsApp Business account the tests configure (`whatsapp_configured`).
WHATSAPP_APP_SECRET = "test-app-secret"
WHATSAPP_VERIFY_TOKEN = "test-verify-token"
WHATSAPP_ACCESS_TOKEN = "test-access-token"
WHATSAPP_PHONE_NUMBER_ID = "109876543210"


class FakeGraphApi(FakeProvider):
    """Meta's Graph API as the WhatsApp Business Cloud API uses it: send a message
    (`POST /{phone-number-id}/messages`), look a media up (`GET /{media-id}`), download it
    (from the URL the lookup gave). Every call must carry the access token."""

    VERSION = "v21.0"

    def __init__(self, *, token: str = "test-access-token", phone_number_id: str = "1099") -> None:
        super().__init__()
        self.token = token
        self.phone_number_id = phone_number_id
        self.media: dict[str, tuple[bytes, str]] = {}
        # The approved message templates: (name, language code) -> body parameters.
        self.templates: dict[tuple[str, str], int] = {}
        self._ids = itertools.count(1)

    @property
    def api_url(self) -> str:
        """The base URL for AUTOLETTURA_WHATSAPP_API_URL (with the API version, as Graph's)."""
        return f"{self.url}/{self.VERSION}"

    def add_media(self, media_id: str, data: bytes, mime_type: str = "image/jpeg") -> None:
        self.media[media_id] = (data, mime_type)

    def sent(self) -> list[dict[str, Any]]:
        """The bodies of the messages sent, in order."""
        suffix = f"/{self.phone_number_id}/messages"
        return [r.json() for r in self.requests if r.method == "POST" and r.path.endswith(suffix)]

    def sent_texts(self) -> list[tuple[str, str]]:
        """(recipient, text) of each text message sent, in order; an interactive message
        (text with reply buttons) counts with its text."""
        return [
            (
                m["to"],
                m["text"]["body"] if m.get("type") == "text" else m["interactive"]["body"]["text"],
            )
            for m in self.sent()
            if m.get("type") in {"text", "interactive"}
        ]

    def sent_buttons(self) -> list[tuple[str, list[dict[str, str]]]]:
        """(recipient, [{"id", "title"}]) of each message sent with reply buttons, in order."""
        return [
            (m["to"], [b["reply"] for b in m["interactive"]["action"]["buttons"]])
            for m in self.sent()
            if m.get("type") == "interactive"
        ]

    def sent_templates(self) -> list[dict[str, Any]]:
        """The bodies of the template messages sent, in order."""
        return [m for m in self.sent() if m.get("type") == "template"]

    def _message_error(self, message: dict[str, Any]) -> str | None:
        """What the Cloud API would refuse in a message (None: it takes it). Texts need a
        body of at most 4,096 characters; templates must be approved in that language and
        get exactly their body parameters, each a text with no new line, no tab and no
        more than four spaces in a row."""
        kind = message.get("type", "text")
        if kind == "text":
            body = (message.get("text") or {}).get("body")
            ok = isinstance(body, str) and 0 < len(body) <= 4096
            return None if ok else "(#100) Invalid parameter: text.body"
        if kind == "interactive":
            return self._interactive_error(message.get("interactive"))
        if kind != "template":
            return f"(#100) Unsupported message type: {kind}"
        template = message.get("template")
        if not isinstance(template, dict) or not isinstance(template.get("name"), str):
            return "(#100) The parameter template['name'] is required."
        language = template.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        if not isinstance(code, str):
            return "(#100) The parameter template['language']['code'] is required."
        expected = self.templates.get((template["name"], code))
        if expected is None:
            return "(#132001) Template name does not exist in the translation"
        parameters: list[Any] = []
        for component in template.get("components") or []:
            if not isinstance(component, dict) or component.get("type") != "body":
                return "(#132012) Parameter format does not match format in the created template"
            parameters.extend(component.get("parameters") or [])
        if len(parameters) != expected:
            return "(#132000) Number of parameters does not match the expected number of params"
        for parameter in parameters:
            text = parameter.get("text") if isinstance(parameter, dict) else None
            if parameter.get("type") != "text" or not isinstance(text, str) or not text:
                return "(#132012) Parameter format does not match format in the created template"
            if "\n" in text or "\t" in text or "     " in text or len(text) > 1024:
                return "(#132018) There's an issue with the parameters in your template"
        return None

    @staticmethod
    def _interactive_error(interactive: Any) -> str | None:
        """Reply buttons as the Cloud API takes them: a body of 1 to 1,024 characters and
        one to three buttons, each with a unique id (at most 256 characters) and a unique
        title (1 to 20 characters)."""
        if not isinstance(interactive, dict) or interactive.get("type") != "button":
            return "(#100) Invalid parameter: interactive.type"
        body = (interactive.get("body") or {}).get("text")
        if not isinstance(body, str) or not 0 < len(body) <= 1024:
            return "(#100) Invalid parameter: interactive.body.text"
        buttons = (interactive.get("action") or {}).get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return "(#131009) Parameter value is not valid: buttons"
        replies = [b.get("reply") if isinstance(b, dict) else None for b in buttons]
        for button, reply in zip(buttons, replies, strict=True):
            if button.get("type") != "reply" or not isinstance(reply, dict):
                return "(#131009) Parameter value is not valid: button type"
            if not isinstance(reply.get("id"), str) or not 0 < len(reply["id"]) <= 256:
                return "(#131009) Parameter value is not valid: button id"
            if not isinstance(reply.get("title"), str) or not 0 < len(reply["title"]) <= 20:
                return "(#131009) Parameter value is not valid: button title"
        ids = [r["id"] for r in replies if isinstance(r, dict)]
        titles = [r["title"] for r in replies if isinstance(r, dict)]
        if len(set(ids)) != len(ids) or len(set(titles)) != len(titles):
            return "(#131009) Parameter value is not valid: buttons must be unique"
        return None

    def answer(self, request: Recorded) -> tuple[int, str, bytes]:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return json_answer(
                401, {"error": {"message": "Invalid OAuth access token.", "code": 190}}
            )
        parts = urllib.parse.urlsplit(request.path).path.strip("/").split("/")
        if parts[:1] == ["download"] and len(parts) == 2 and parts[1] in self.media:
            data, mime_type = self.media[parts[1]]
            return 200, mime_type, data
        if parts[:1] != [self.VERSION]:
            return json_answer(404, {"error": {"message": "Unknown path", "code": 100}})
        parts = parts[1:]
        if request.method == "POST" and parts == [self.phone_number_id, "messages"]:
            message = request.json()
            if message.get("messaging_product") != "whatsapp" or not message.get("to"):
                return json_answer(400, {"error": {"message": "Invalid parameter", "code": 100}})
            refused = self._message_error(message)
            if refused is not None:
                return json_answer(400, {"error": {"message": refused, "code": 100}})
            return json_answer(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": message["to"], "wa_id": message["to"]}],
                    "messages": [{"id": f"wamid.OUT{next(self._ids):08d}"}],
                },
            )
        if request.method == "GET" and len(parts) == 1 and parts[0] in self.media:
            data, mime_type = self.media[parts[0]]
            return json_answer(
                200,
                {
                    "messaging_product": "whatsapp",
                    "url": f"{self.url}/download/{parts[0]}",
                    "mime_type": mime_type,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "file_size": len(data),
                    "id": parts[0],
                },
            )
        return json_answer(404, {"error": {"message": "Unsupported request", "code": 100}})


@contextmanager
def whatsapp_configured(settings: Any) -> Iterator[FakeGraphApi]:
    """A fake Graph API, and the app's WhatsApp settings pointed at it with the test
    account's secret, tokens and number."""
    with FakeGraphApi(
        token=WHATSAPP_ACCESS_TOKEN, phone_number_id=WHATSAPP_PHONE_NUMBER_ID
    ) as fake:
        settings.AUTOLETTURA_WHATSAPP_API_URL = fake.api_url
        settings.AUTOLETTURA_WHATSAPP_TOKEN = WHATSAPP_ACCESS_TOKEN
        settings.AUTOLETTURA_WHATSAPP_PHONE_NUMBER_ID = WHATSAPP_PHONE_NUMBER_ID
        settings.AUTOLETTURA_WHATSAPP_APP_SECRET = WHATSAPP_APP_SECRET
        settings.AUTOLETTURA_WHATSAPP_VERIFY_TOKEN = WHATSAPP_VERIFY_TOKEN
        yield fake


class FakeTwilioApi(FakeProvider):
    """Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`, HTTP Basic
    with the account SID and auth token)."""

    def __init__(self, *, account_sid: str = "AC" + "0" * 32, auth_token: str = "test") -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._ids = itertools.count(1)

    def sent(self) -> list[dict[str, str]]:
        """The form of each message sent (To, From, Body), in order."""
        return [r.form() for r in self.requests if r.path.endswith("/Messages.json")]

    def answer(self, request: Recorded) -> tuple[int, str, bytes]:
        basic = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {basic}":
            return json_answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if request.method != "POST" or request.path != path:
            return json_answer(404, {"code": 20404, "message": "Not found", "status": 404})
        form = request.form()
        sid = f"SM{next(self._ids):032x}"
        return json_answer(
            201, {"sid": sid, "status": "queued", "to": form["To"], "body": form["Body"]}
        )


# --- Calling the app as a provider does ------------------------------------------------------


def http_request(
    url: str,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, bytes]:
    """(status, body) of a request to the app; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def whatsapp_signature(body: bytes, app_secret: str) -> str:
    """The X-Hub-Signature-256 header Meta sends: HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def whatsapp_post(
    url: str, payload: Any, *, app_secret: str, signature: str | None = None
) -> tuple[int, bytes]:
    """POST a webhook body as Meta does: JSON, signed with the app secret (or `signature`,
    "" for none)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    signature = whatsapp_signature(body, app_secret) if signature is None else signature
    if signature:
        headers["X-Hub-Signature-256"] = signature
    return http_request(url, data=body, headers=headers)


def whatsapp_webhook(value: dict[str, Any], *, phone_number_id: str = "1099") -> dict[str, Any]:
    """The envelope of a Cloud API webhook around one change's `value`."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "393200000333",
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def whatsapp_message(
    message_id: str, sender: str, kind: str, content: dict[str, Any], *, name: str = "Cliente"
) -> dict[str, Any]:
    """A webhook carrying one message of `kind` (text, image, audio...) from `sender`."""
    return whatsapp_webhook(
        {
            "contacts": [{"profile": {"name": name}, "wa_id": sender}],
            "messages": [
                {
                    "from": sender,
                    "id": message_id,
                    "timestamp": "1797760800",
                    "type": kind,
                    kind: content,
                }
            ],
        }
    )


def whatsapp_text(message_id: str, sender: str, text: str) -> dict[str, Any]:
    return whatsapp_message(message_id, sender, "text", {"body": text})


def whatsapp_image(
    message_id: str, sender: str, media_id: str, *, caption: str | None = None
) -> dict[str, Any]:
    image: dict[str, Any] = {"id": media_id, "mime_type": "image/jpeg", "sha256": "x"}
    if caption is not None:
        image["caption"] = caption
    return whatsapp_message(message_id, sender, "image", image)


def whatsapp_button_reply(
    message_id: str, sender: str, button_id: str, title: str
) -> dict[str, Any]:
    """A webhook carrying the customer's press on a reply button of an interactive message."""
    return whatsapp_message(
        message_id,
        sender,
        "interactive",
        {"type": "button_reply", "button_reply": {"id": button_id, "title": title}},
    )


def whatsapp_status(message_id: str, recipient: str, status: str = "delivered") -> dict[str, Any]:
    """A delivery status webhook for a message the business sent."""
    return whatsapp_webhook(
        {
            "statuses": [
                {
                    "id": message_id,
                    "status": status,
                    "timestamp": "1797760800",
                    "recipient_id": recipient,
                }
            ]
        }
    )


def twilio_sms_params(
    message_sid: str, sender: str, body: str, *, to: str = "+393200000444"
) -> dict[str, str]:
    """The form Twilio posts to a number's "A message comes in" webhook."""
    account = "AC" + "1" * 32
    return {
        "ToCountry": "IT",
        "SmsMessageSid": message_sid,
        "NumMedia": "0",
        "SmsSid": message_sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": message_sid,
        "AccountSid": account,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def twilio_post(
    url: str, params: dict[str, str], *, auth_token: str, signature: str | None = None
) -> tuple[int, bytes]:
    """POST a webhook form as Twilio does, signed (X-Twilio-Signature) with the auth token
    over `url` and the form (or `signature`, "" for none)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is None:
        signature = RequestValidator(auth_token).compute_signature(url, params)
    if signature:
        headers["X-Twilio-Signature"] = signature
    return http_request(url, data=urllib.parse.urlencode(params).encode(), headers=headers)
