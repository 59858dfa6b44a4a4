"""SMS: `codice utenza#codice utente#lettura[#data]` (or the same with spaces), answered
at once in the webhook's own reply.

The provider sits behind `SmsProvider`, so that another one (or a test's fake) needs only
its own verify, parse and reply; Twilio's is `TwilioSms`. Each message is stored in the
inbound log under the provider's id before it is processed, so a retried webhook gets the
same answer and makes no second reading.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple, Protocol

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from autolettura import clock
from autolettura.db import storable
from autolettura.readings.messages import error_message, outcome_message
from autolettura.readings.models import Channel
from autolettura.readings.services import inbound_reading_submit
from autolettura.rules import freetext

logger = logging.getLogger(__name__)

# Three concatenated GSM-7 segments (153 characters each): long enough for every outcome
# and error message, short enough to cost three texts at most.
SMS_MAX_CHARS = 459
# Characters outside GSM-7 turn a whole SMS into UCS-2 (70 characters a segment).
_GSM_REPLACEMENTS = {
    "m\u00b3": "m3",
    "\u00b3": "3",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
}
EXAMPLE = "1234567#7654321#01234#20/12/2026"


class InboundSms(NamedTuple):
    message_id: str
    sender: str  # E.164, such as +393471234567
    text: str


class MalformedSms(ValueError):
    """A webhook request that does not carry an SMS."""


class SmsProvider(Protocol):
    """What an SMS provider's webhook needs: check it came from the provider, read the
    message, and answer it in the provider's dialect."""

    def verify(self, request: HttpRequest) -> bool: ...

    def parse(self, request: HttpRequest) -> InboundSms:
        """Raises MalformedSms."""
        ...

    def reply(self, text: str) -> HttpResponse: ...


class TwilioSms:
    """Twilio's Programmable Messaging webhook: a signed form POST, answered with TwiML.

    The signature (`X-Twilio-Signature`) covers the URL Twilio called, so it is checked
    against the public URL (AUTOLETTURA_PUBLIC_BASE_URL plus the path), not the one a
    proxy in front of the app passed on.
    """

    def __init__(self, *, auth_token: str, public_base_url: str) -> None:
        self.auth_token = auth_token
        self.public_base_url = public_base_url.rstrip("/")

    @classmethod
    def from_settings(cls) -> TwilioSms:
        return cls(
            auth_token=settings.AUTOLETTURA_TWILIO_AUTH_TOKEN,
            public_base_url=settings.AUTOLETTURA_PUBLIC_BASE_URL,
        )

    def verify(self, request: HttpRequest) -> bool:
        signature = request.headers.get("X-Twilio-Signature", "")
        if not self.auth_token or not signature:
            return False
        url = self.public_base_url + request.get_full_path()
        return bool(RequestValidator(self.auth_token).validate(url, request.POST, signature))

    def parse(self, request: HttpRequest) -> InboundSms:
        sid, sender = request.POST.get("MessageSid", ""), request.POST.get("From", "")
        text = request.POST.get("Body")
        # Both are logged.
        sender, text = storable(sender), storable(text)
        if not re.fullmatch(r"[A-Z]{2}[0-9a-fA-F]{32}", sid):
            raise MalformedSms("no MessageSid")
        if not sender or len(sender) > 200:
            raise MalformedSms("no From")
        if text is None:
            raise MalformedSms("no Body")
        return InboundSms(sid, sender, text)

    def reply(self, text: str) -> HttpResponse:
        response = MessagingResponse()
        response.message(text)
        return HttpResponse(str(response), content_type="application/xml; charset=utf-8")


def sms_reading_receive(*, sms: InboundSms, now: datetime) -> str:
    """Take an SMS reading in charge and return the reply, in the customer's language.

    The message goes to the inbound log under its provider id and through
    `inbound_reading_submit`; a retry of it gives the first answer again. A text that does
    not follow the format gets what is missing and an example.
    """
    parsed = freetext.parse_sms(sms.text)
    fields = {
        name: getattr(parsed, name, None)
        for name in ("supply_code", "customer_code", "reading", "read_on")
    }
    payload = {"text": sms.text, **{k: v for k, v in fields.items() if v not in (None, "")}}
    outcome = inbound_reading_submit(
        channel=Channel.SMS,
        provider_message_id=sms.message_id,
        payload=payload,
        now=now,
        sender=sms.sender,
    )
    if outcome.submission is not None:
        reading = outcome.submission.reading
        with translation.override(reading.supply.holder.language):
            return sms_text(outcome_message(reading, outcome.submission.window))
    language = outcome.supply.holder.language if outcome.supply else settings.LANGUAGE_CODE
    with translation.override(language):
        texts = [error_message(error) for error in outcome.errors]
        if any(error.code in {"required", "code_invalid"} for error in outcome.errors):
            texts.append(
                _(
                    "Send: supply code#customer code#reading, and #date if not today. "
                    "Example: %(example)s"
                )
                % {"example": EXAMPLE}
            )
        return sms_text(" ".join(texts))


def sms_text(text: str, *, limit: int = SMS_MAX_CHARS) -> str:
    """`text` fit for an SMS: GSM-7 characters where a close one exists, one line, and at
    most `limit` characters, cut after a whole sentence where possible."""
    for wide, narrow in _GSM_REPLACEMENTS.items():
        text = text.replace(wide, narrow)
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    sentence = cut.rfind(". ")
    if sentence >= limit // 2:
        return cut[: sentence + 1]
    return cut.rsplit(" ", 1)[0] + "..."


def sms_webhook_view(
    provider_factory: Callable[[], SmsProvider],
) -> Callable[[HttpRequest], HttpResponse]:
    """The webhook view for a provider: 403 unless verified, 400 when malformed (nothing
    stored either way), else the reading's answer in the provider's reply."""

    @csrf_exempt
    @require_POST
    def webhook(request: HttpRequest) -> HttpResponse:
        provider = provider_factory()
        if not provider.verify(request):
            logger.warning("SMS webhook refused: missing or wrong signature")
            return HttpResponseForbidden("invalid signature", content_type="text/plain")
        try:
            sms = provider.parse(request)
        except MalformedSms as exc:
            logger.warning("SMS webhook malformed: %s: %r", exc, request.POST.dict())
            return HttpResponseBadRequest("malformed webhook", content_type="text/plain")
        return provider.reply(sms_reading_receive(sms=sms, now=clock.now()))

    return webhook


twilio_webhook = sms_webhook_view(TwilioSms.from_settings)
