"""WhatsApp (Business Cloud API): the webhook, and the short conversation behind it.

Meta calls the webhook with GET once, to verify it (the handshake), and with POST for every
message and delivery status, signed with the app secret (`X-Hub-Signature-256`, an
HMAC-SHA256 of the raw body). Each message is stored in the inbound log under its WhatsApp
id, together with what it did to the conversation, so a retried webhook finds it and
changes nothing; every reply goes through the outbox. Meta wants its 200 at once: a photo,
which must be fetched from the Graph API first, is taken by a Celery task after the answer.

The conversation asks for whatever is still missing, one thing at a time: the supply code,
the customer code, the reading, the date. Once a reading is taken in charge with the codes,
it offers to remember the number, so that next time the reading alone will do.

A photo of the meter without a number is read in that task (once per photo: the reading is
kept under its SHA-256) and, once the supply is known, proposed: "Ho letto 00530 m³:
confermi? SI / NO", with reply buttons. Nothing is taken until the sender answers YES (a
button, or typed) before the proposal expires; NO asks for the number, and a number
written instead is the reading, with the photo as evidence. A photo with no readable
register gets advice on a better one, and the number is asked.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
)
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from kombu.exceptions import KombuError

from autolettura import clock
from autolettura.channels import meter_photos
from autolettura.channels.models import (
    PhotoProposalStatus,
    WhatsAppConversation,
    WhatsAppPhotoProposal,
    WhatsAppStep,
)
from autolettura.customers import selectors as customer_selectors
from autolettura.customers import services as customer_services
from autolettura.customers.models import Customer, Supply
from autolettura.db import storable
from autolettura.outbox.models import Route
from autolettura.outbox.senders import USER_AGENT
from autolettura.outbox.services import outbox_enqueue
from autolettura.readings import photos
from autolettura.readings.messages import error_message, format_day, outcome_message
from autolettura.readings.models import Channel, InboundMessage, Reading
from autolettura.readings.services import (
    CODES_MISMATCH,
    InboundOutcome,
    caller_of,
    inbound_message_record,
    inbound_reading_submit,
    too_many_attempts,
)
from autolettura.rules import freetext, parsing
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.window import rome_today
from autolettura.throttling import Throttled

logger = logging.getLogger(__name__)

# A draft left this long is stale: the customer has most likely given up, and WhatsApp
# only lets a business answer freely for 24 hours after the customer's last message.
CONVERSATION_TTL = timedelta(hours=24)
DRAFT_FIELDS = ("supply_code", "customer_code", "reading", "read_on")
STEP_FIELDS = {
    WhatsAppStep.SUPPLY_CODE: "supply_code",
    WhatsAppStep.CUSTOMER_CODE: "customer_code",
    WhatsAppStep.READING: "reading",
    WhatsAppStep.READ_ON: "read_on",
}
# Whole-message answers, compared in lower case without spaces or punctuation.
YES = {"si", "sì", "yes", "s", "y"}
NO = {"no", "n"}
FORGET = {"dimentica", "forget"}
TODAY = {"oggi", "today"}
# What the customer can send (Cloud API message types) and what each gets back. Text, a
# photo (an image, or a picture sent as a document to keep it sharp) and the answer to a
# button go into the conversation. Reactions, stickers and notices from WhatsApp itself
# need no answer; the rest a short one saying what we can read. None gets the welcome.
SILENT_TYPES = {"reaction", "sticker", "system", "ephemeral"}
VOICE_TYPES = {"audio", "voice"}
_WA_ID = re.compile(r"\d{6,15}", re.ASCII)
# The ids of the reply buttons under a reading read from a photo: the proposal and the answer.
_PHOTO_BUTTON = re.compile(r"photo:([0-9a-f]{32}):(yes|no)", re.ASCII)


# --- The protocol ---------------------------------------------------------------------------


class MalformedWebhook(ValueError):
    """A webhook body that is not what the WhatsApp Business Cloud API sends."""


@dataclass(frozen=True)
class WhatsAppMessage:
    """One message of a webhook, as far as this channel needs it."""

    message_id: str
    phone: str  # the sender, E.164 (+393471234567)
    kind: str  # the Cloud API's type: text, image, interactive, audio, reaction...
    text: str  # a text's body, a photo's caption, the title of the button pressed
    media_id: str = ""  # a photo's (an image, or a document that is a picture)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def conversational(self) -> bool:
        """Whether it moves the conversation on (text, a photo, a button's answer)."""
        if self.kind in {"button", "interactive"}:
            return bool(self.text.strip())  # a flow's form, say, has no title to read
        return self.kind == "text" or bool(self.media_id)


def signature_valid(body: bytes, header: str | None, secret: str) -> bool:
    """Whether `header` is `sha256=` and the HMAC-SHA256 of `body` with the app secret.

    With no secret configured nothing is valid: an unconfigured channel takes no message.
    """
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.removeprefix("sha256=").encode())


def messages_from(payload: object) -> list[WhatsAppMessage]:
    """The messages of a webhook body, in order; delivery statuses and other changes are
    left out. Raises MalformedWebhook for anything that is not a Cloud API webhook."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise MalformedWebhook("no entry list")
    # Each message is logged whole.
    entries: list[Any] = storable(payload["entry"])
    found: list[WhatsAppMessage] = []
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise MalformedWebhook("an entry without a changes list")
        for change in changes:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                raise MalformedWebhook("a change without a value")
            messages = value.get("messages", [])
            if not isinstance(messages, list):
                raise MalformedWebhook("messages is not a list")
            found.extend(_message_from(message) for message in messages)
    return found


def _message_from(raw: object) -> WhatsAppMessage:
    if not isinstance(raw, dict):
        raise MalformedWebhook("a message is not an object")
    message_id, sender, kind = raw.get("id"), raw.get("from"), raw.get("type")
    if not isinstance(message_id, str) or not message_id or len(message_id) > 200:
        raise MalformedWebhook("a message without an id")
    if not isinstance(sender, str) or not _WA_ID.fullmatch(sender):
        raise MalformedWebhook("a message without a sender's number")
    if not isinstance(kind, str) or not kind:
        raise MalformedWebhook("a message without a type")
    content = raw.get(kind)
    text, media_id = "", ""
    if kind == "text":
        body = content.get("body") if isinstance(content, dict) else None
        if not isinstance(body, str):
            raise MalformedWebhook("a text message without a body")
        text = body
    elif kind == "image" or (kind == "document" and _is_picture(content)):
        media = content.get("id") if isinstance(content, dict) else None
        caption = content.get("caption", "") if isinstance(content, dict) else ""
        if not isinstance(media, str) or not media or not isinstance(caption, str):
            raise MalformedWebhook(f"an {kind} message without a media id")
        text, media_id = caption, media
    elif kind == "interactive":
        # A reply button or a list row the customer pressed: its title is their answer.
        chosen = content.get(content.get("type", "")) if isinstance(content, dict) else None
        title = chosen.get("title") if isinstance(chosen, dict) else None
        text = title if isinstance(title, str) else ""
    elif kind == "button":
        # A template's quick-reply button.
        label = content.get("text") if isinstance(content, dict) else None
        text = label if isinstance(label, str) else ""
    return WhatsAppMessage(message_id, f"+{sender}", kind, text, media_id, raw)


def _is_picture(content: object) -> bool:
    mime_type = content.get("mime_type", "") if isinstance(content, dict) else ""
    return isinstance(mime_type, str) and mime_type.lower().startswith("image/")


class MediaUnavailable(Exception):
    """The Graph API did not give a message's media."""


def media_fetch(media_id: str) -> bytes:
    """A media's bytes from the Graph API: its URL first, then the file (both with the
    access token and the provider timeout; at most one byte more than a photo may be)."""
    base = settings.AUTOLETTURA_WHATSAPP_API_URL.rstrip("/")
    info = _graph_get(f"{base}/{urllib.parse.quote(media_id, safe='')}", limit=64 * 1024)
    try:
        url = json.loads(info)["url"]
    except (ValueError, KeyError, TypeError) as exc:
        raise MediaUnavailable(f"media {media_id}: no url in the Graph API's answer") from exc
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise MediaUnavailable(f"media {media_id}: not a web address: {url!r}")
    return _graph_get(url, limit=photos.MAX_BYTES + 1)


def _graph_get(url: str, *, limit: int) -> bytes:
    # An explicit User-Agent: Meta's media servers refuse Python's default one.
    request = urllib.request.Request(
        url,
        headers={
            "Authorization": f"Bearer {settings.AUTOLETTURA_WHATSAPP_TOKEN}",
            "User-Agent": USER_AGENT,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.AUTOLETTURA_PROVIDER_TIMEOUT) as r:
            data: bytes = r.read(limit)
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise MediaUnavailable(f"{url}: {exc}") from exc
    return data


# --- The conversation -------------------------------------------------------------------------


@dataclass
class _Turn:
    """What one message does: the reply's paragraphs, in order, and the language."""

    notes: list[str] = field(default_factory=list)
    language: str = ""
    photo_received: bool = False
    greeted: bool = False
    # Reply buttons ({"id", "title"}) to send with the reply, when it asks YES or NO.
    buttons: list[dict[str, str]] = field(default_factory=list)


def whatsapp_message_take(*, message: WhatsAppMessage, now: datetime) -> None:
    """What the webhook does with one message: a photo is fetched from the Graph API in a
    background task (the webhook answers Meta at once); anything else is taken here.

    Without a broker the task runs in this process; with one that cannot be reached, the
    message is taken here too, rather than lost after Meta was told it arrived.
    """
    if not message.media_id:
        whatsapp_message_receive(message=message, now=now)
        return
    from autolettura.channels.tasks import whatsapp_message_task

    try:
        whatsapp_message_task.delay(message.raw, now.isoformat())
    except (KombuError, ConnectionError):  # the broker is down
        logger.warning("broker unavailable: WhatsApp message %s taken now", message.message_id)
        whatsapp_message_receive(message=message, now=now)


def whatsapp_message_from(raw: dict[str, Any]) -> WhatsAppMessage:
    """A message as `messages_from` read it, from its logged form (for the background task)."""
    return _message_from(raw)


def whatsapp_message_receive(*, message: WhatsAppMessage, now: datetime) -> None:
    """Log one WhatsApp message, move its sender's conversation on and queue the reply.

    A message already in the inbound log (a retried webhook) changes nothing and queues
    nothing. When the conversation has everything, the reading goes to
    `inbound_reading_submit`, and the reply is its receipt and outcome or what to fix.
    A photo is fetched from the Graph API before anything is locked; one that cannot be had
    is mentioned in the reply, and the reading goes on without it. A message that is not
    for the conversation (a reaction, a voice note, a location...) gets a short answer or
    none, and leaves the conversation as it was.
    """
    if _logged(message.message_id):
        return
    if not message.conversational:
        _aside_receive(message, now)
        return
    photo, photo_problem = _photo_keep(message) if message.media_id else ("", None)
    if photo:
        # Read here, in the task, before the conversation is locked; what follows finds the
        # reading in the photo cache.
        _photo_read_once(photo, message, now)
    with transaction.atomic():
        conversation, _created = WhatsAppConversation.objects.select_for_update().get_or_create(
            phone=message.phone, defaults={"updated_at": now}
        )
        # Messages of one number queue on its conversation: checked again under the lock,
        # a concurrent retry of this message has either committed it or not started.
        if _logged(message.message_id):
            _photos_forget(conversation, [photo])  # fetched again for nothing
            return
        draft_photo = conversation.photo
        if conversation.updated_at < now - CONVERSATION_TTL:
            _draft_stale(conversation, now)
            conversation.step = WhatsAppStep.IDLE
        turn = _Turn()
        payload: dict[str, Any] = {"message": message.raw, "photo": photo}
        late = _reading_awaiting_photo(conversation, message, photo, now)
        if late is not None:
            outcome = None
            _photo_attach(late, photo)
            turn.language = late.supply.holder.language
            with translation.override(turn.language):
                turn.notes.append(
                    _("Photo received: we have added it to the reading %(receipt)s.")
                    % {"receipt": late.receipt}
                )
        else:
            outcome = _converse(conversation, message, photo, turn, payload, now)
        if outcome is None:
            inbound, _created = inbound_message_record(
                channel=Channel.WHATSAPP,
                provider_message_id=message.message_id,
                payload=payload,
                now=now,
                sender=message.phone,
            )
            InboundMessage.objects.filter(pk=inbound.pk).update(processed_at=now)
        conversation.updated_at = now
        conversation.save()
        # The draft's photo as it was and the one that came: whichever the draft (or a
        # reading proposed from it) no longer holds was copied to a reading, replaced,
        # refused with its draft, or went stale.
        _photos_forget(conversation, [draft_photo, photo])
        language = turn.language or _language(conversation, message)
        notes = turn.notes
        # What became of the photo comes first, in the language of the rest of the reply,
        # known only now (the codes in the caption may have named the customer).
        with translation.override(language):
            photo_note = (
                _photo_problem_text(photo_problem)
                if photo_problem is not None
                else _("Photo received: we will keep it with the reading.")
                if turn.photo_received
                else ""
            )
        if photo_note:
            notes.insert(1 if turn.greeted else 0, photo_note)
        outbox_enqueue(
            route=Route.WHATSAPP,
            recipient=message.phone,
            body="\n\n".join(notes),
            language=language,
            headers={"whatsapp_buttons": turn.buttons} if turn.buttons else None,
            dedupe_key=f"whatsapp:{message.message_id}",
            now=now,
        )


# A photo arriving this soon after a reading taken without one is that reading's: sent
# together, a text and a photo arrive in either order (the photo is fetched after).
LATE_PHOTO = timedelta(minutes=15)


def _reading_awaiting_photo(
    conversation: WhatsAppConversation, message: WhatsAppMessage, photo: str, now: datetime
) -> Reading | None:
    """The reading this number sent moments ago without a photo, when a photo comes alone
    (no caption) and no other reading is being asked for; else None."""
    if not photo or message.text.strip():
        return None
    if conversation.step not in (WhatsAppStep.IDLE, WhatsAppStep.REMEMBER):
        return None
    # The customer's supplies first: the readings table is searched through its index.
    customer = conversation.remembered_customer or conversation.identified_customer
    if customer is None:
        return None
    sent_from_here = InboundMessage.objects.filter(
        reading=OuterRef("pk"), made_reading=True, sender=message.phone
    )
    return (
        Reading.objects.select_related("supply__holder")
        .filter(
            Exists(sent_from_here),
            supply__in=customer_selectors.supplies_of(customer),
            channel=Channel.WHATSAPP,
            submitted_at__gte=now - LATE_PHOTO,
            photo="",
        )
        .order_by("-submitted_at")
        .first()
    )


def _aside_receive(message: WhatsAppMessage, now: datetime) -> None:
    """A message that does not move the conversation on: logged, and answered briefly (a
    voice note, a location, contacts, a type WhatsApp could not deliver) or not at all (a
    reaction, a sticker, a notice from WhatsApp), with the question still open, if any."""
    conversation = WhatsAppConversation.objects.filter(phone=message.phone).first()
    with transaction.atomic():
        inbound, created = inbound_message_record(
            channel=Channel.WHATSAPP,
            provider_message_id=message.message_id,
            payload={"message": message.raw},
            now=now,
            sender=message.phone,
        )
        if not created:
            return
        InboundMessage.objects.filter(pk=inbound.pk).update(processed_at=now)
        if message.kind in SILENT_TYPES:
            logger.info("WhatsApp %s from %s: not answered", message.kind, message.phone)
            return
        language = _language(conversation, message) if conversation else settings.LANGUAGE_CODE
        with translation.override(language):
            if message.kind in VOICE_TYPES:
                notes = [
                    _(
                        "We cannot listen to voice messages: please write the reading, or "
                        "send a photo of the meter."
                    )
                ]
            else:
                notes = [_("We can read only text messages and photos of the meter.")]
            pending = _pending_step(conversation, now)
            if pending is not None and conversation is not None:
                notes.append(_prompt(conversation, pending))
        outbox_enqueue(
            route=Route.WHATSAPP,
            recipient=message.phone,
            body="\n\n".join(notes),
            language=language,
            dedupe_key=f"whatsapp:{message.message_id}",
            now=now,
        )


def _pending_step(conversation: WhatsAppConversation | None, now: datetime) -> WhatsAppStep | None:
    """The question the customer has yet to answer, while the conversation is fresh."""
    if conversation is None or conversation.updated_at < now - CONVERSATION_TTL:
        return None
    step = WhatsAppStep(conversation.step)
    return step if step in STEP_FIELDS else None


def _logged(message_id: str) -> bool:
    return InboundMessage.objects.filter(
        channel=Channel.WHATSAPP, provider_message_id=message_id
    ).exists()


def _converse(
    conversation: WhatsAppConversation,
    message: WhatsAppMessage,
    photo: str,
    turn: _Turn,
    payload: dict[str, Any],
    now: datetime,
) -> InboundOutcome | None:
    """Apply one message to the conversation and write the reply into `turn`. Returns the
    outcome when the message completed a submission, else None."""
    word = _word(message.text)
    with translation.override(_language(conversation, message)):
        if word in FORGET:
            conversation.remembered_customer = None
            conversation.remembered_at = None
            conversation.step = WhatsAppStep.IDLE
            turn.notes.append(
                _("Done: we no longer remember this number. Next time we will ask for the codes.")
            )
            return None
        button = _photo_button(message)
        if button is not None or conversation.step == WhatsAppStep.PHOTO_CONFIRM:
            handled, outcome = _photo_answer(conversation, message, button, photo, turn, now)
            if handled:
                return outcome
        if conversation.step == WhatsAppStep.REMEMBER:
            conversation.step = WhatsAppStep.IDLE
            if word in YES and conversation.identified_customer is not None:
                conversation.remembered_customer = conversation.identified_customer
                conversation.remembered_at = now
                turn.language = conversation.remembered_customer.language
                with translation.override(turn.language):
                    turn.notes.append(
                        _(
                            "Done: we will remember this number. Next time just send the "
                            "reading. To make us forget it, write FORGET."
                        )
                    )
                return None
            if word in NO:
                turn.notes.append(_("All right: we will not remember this number."))
                return None
            # Anything else is a new message: the offer lapses.
        started = conversation.step == WhatsAppStep.IDLE
        # A bare value opening a conversation is the supply code, as it would be asked
        # first; from a remembered number it is the reading ("just send the reading").
        first = None
        if started:
            first = "reading" if _remembered(conversation) is not None else "supply_code"
        found = _read_text(
            message.text, WhatsAppStep(conversation.step), rome_today(now), first=first
        )
        for name, value in found.items():
            setattr(conversation, name, value)
        if photo:
            conversation.photo = photo
            turn.photo_received = True
        errors = _draft_check(conversation, rome_today(now))
    with translation.override(_language(conversation, message)):
        turn.notes.extend(error_message(error) for error in errors)
        step = _next_step(conversation)
        if (
            step == WhatsAppStep.READING
            and conversation.photo
            and _photo_propose(conversation, message, turn, now)
        ):
            conversation.step = WhatsAppStep.PHOTO_CONFIRM
            return None
        if step is not None:
            if started and not found and not errors:
                turn.greeted = True
                turn.notes.insert(
                    0,
                    _("Hello! Here you can send the reading of your water meter to %(utility)s.")
                    % {"utility": settings.AUTOLETTURA_UTILITY_NAME},
                )
            conversation.step = step
            turn.notes.append(_prompt(conversation, step))
            return None
    return _submit(conversation, message, turn, payload, now)


def _submit(
    conversation: WhatsAppConversation,
    message: WhatsAppMessage,
    turn: _Turn,
    payload: dict[str, Any],
    now: datetime,
) -> InboundOutcome:
    """Hand the finished draft to `inbound_reading_submit` and reply with its answer."""
    by_codes = bool(conversation.customer_code)
    payload.update({name: getattr(conversation, name) for name in DRAFT_FIELDS})
    payload["photo"] = conversation.photo
    photo = _photo_open(conversation.photo) if conversation.photo else None
    try:
        outcome = inbound_reading_submit(
            channel=Channel.WHATSAPP,
            provider_message_id=message.message_id,
            payload=payload,
            now=now,
            customer=None if by_codes else _remembered(conversation),
            sender=message.phone,
            photo=photo,
        )
    finally:
        if photo is not None:
            photo.close()
    if outcome.submission is None:
        with translation.override(_language(conversation, message)):
            turn.notes.extend(error_message(error) for error in outcome.errors)
            for error in outcome.errors:
                _field_clear(conversation, error.field)
            step = _next_step(conversation) or WhatsAppStep.READING
            conversation.step = step
            turn.notes.append(_prompt(conversation, step))
        return outcome
    reading, window = outcome.submission.reading, outcome.submission.window
    holder = reading.supply.holder
    _draft_clear(conversation)
    conversation.step = WhatsAppStep.IDLE
    turn.language = holder.language
    with translation.override(holder.language):
        turn.notes.append(outcome_message(reading, window))
        if by_codes and conversation.remembered_customer_id != holder.pk:
            conversation.identified_customer = holder
            conversation.step = WhatsAppStep.REMEMBER
            turn.notes.append(
                _(
                    "Do you want us to remember this number, so that next time you only need "
                    "to send the reading? Reply YES."
                )
            )
    return outcome


def _word(text: str) -> str:
    """A one-word answer as compared with YES, NO and the like: lower case, no punctuation."""
    return re.sub(r"[^\w]", "", text.strip().lower())


def _read_text(
    text: str, step: WhatsAppStep, today: date, *, first: str | None = None
) -> dict[str, str]:
    """The draft fields a message gives. A bare answer fills in what was asked (or, when
    nothing was, the `first` thing missing); anything else is read as free text (labelled
    codes, a reading and a date in any order, or the SMS format)."""
    text = text.strip()
    if not text:
        return {}
    awaited = STEP_FIELDS.get(step)
    if awaited == "read_on" and _word(text) in TODAY:
        return {"read_on": format_day(today)}
    if "#" in text:
        found = _fields_of(freetext.parse_sms(text))
        if found:
            return found
    if len(text.split()) == 1:
        if awaited is not None:
            return {awaited: text}
        # Unasked, only what has a digit: "Buongiorno" is no code.
        if first is not None and any(c.isdigit() for c in text):
            return {first: text}
    found = _fields_of(freetext.parse_message(text))
    if found or awaited is None:
        return found
    words = text.split()
    if awaited == "supply_code" and len(words) == 2:
        # Both codes on one line, in the order they are asked for (and printed).
        return {"supply_code": words[0], "customer_code": words[1]}
    return {awaited: text}


def _fields_of(parsed: object) -> dict[str, str]:
    """The draft fields a parser found, as text."""
    if parsed is None:
        return {}
    found: dict[str, str] = {}
    for name in DRAFT_FIELDS:
        value = getattr(parsed, name, None)
        if value is None or value == "":
            continue
        found[name] = format_day(value) if hasattr(value, "strftime") else str(value)
    return found


def _draft_check(conversation: WhatsAppConversation, today: date) -> list[FieldError]:
    """What is wrong with the draft so far, each wrong field cleared to be asked again.

    The same rules as `reading_submit` (which has the last word): the codes must identify
    a supply (R1), the reading be a whole number (R2), the date a real day not in the
    future (R3). Telling the customer at once saves them sending everything again.
    """
    errors: list[FieldError] = []
    codes: dict[str, str] = {}
    for name in ("supply_code", "customer_code"):
        raw = getattr(conversation, name)
        if raw:
            try:
                codes[name] = parsing.normalize_code(raw, field=name)
            except FormatError as exc:
                errors.extend(exc.errors)
                setattr(conversation, name, "")
    remembered = _remembered(conversation)
    if "supply_code" in codes and "customer_code" in codes:
        # Counted as wrong codes are everywhere: asking early must not be a free guess.
        try:
            supply = customer_services.supply_identify_guarded(
                supply_code=codes["supply_code"],
                customer_code=codes["customer_code"],
                source=caller_of(Channel.WHATSAPP, conversation.phone),
            )
        except Throttled as exc:
            errors.append(too_many_attempts(exc.retry_after))
            supply = None
        else:
            if supply is None:
                errors.append(CODES_MISMATCH)
        if supply is None:
            conversation.supply_code = conversation.customer_code = ""
        else:
            conversation.identified_customer = supply.holder
    elif "supply_code" in codes and remembered is not None and not conversation.customer_code:
        own = customer_selectors.supplies_of(remembered).filter(
            customer_selectors.code_names(codes["supply_code"])
        )
        if not own.exists():
            errors.append(CODES_MISMATCH)
            conversation.supply_code = ""
    if conversation.reading:
        try:
            parsing.parse_reading_value(conversation.reading)
        except FormatError as exc:
            errors.extend(exc.errors)
            conversation.reading = ""
    if conversation.read_on:
        try:
            day = parsing.parse_read_on(conversation.read_on)
            parsing.check_read_on(day, today=today, meter_installed_on=None)
        except FormatError as exc:
            errors.extend(exc.errors)
            conversation.read_on = ""
    return errors


def _next_step(conversation: WhatsAppConversation) -> WhatsAppStep | None:
    """The first thing still missing, in the order it is asked for; None when complete."""
    remembered = _remembered(conversation)
    if remembered is not None and not conversation.customer_code:
        single = customer_selectors.supplies_of(remembered).count() == 1
        if not conversation.supply_code and not single:
            return WhatsAppStep.SUPPLY_CODE
    else:
        if not conversation.supply_code:
            return WhatsAppStep.SUPPLY_CODE
        if not conversation.customer_code:
            return WhatsAppStep.CUSTOMER_CODE
    if not conversation.reading:
        return WhatsAppStep.READING
    if not conversation.read_on:
        return WhatsAppStep.READ_ON
    return None


def _prompt(conversation: WhatsAppConversation, step: WhatsAppStep) -> str:
    remembered = _remembered(conversation)
    if step == WhatsAppStep.SUPPLY_CODE and remembered is not None:
        codes = customer_selectors.supplies_of(remembered).values_list("supply_code", flat=True)
        return _("Which supply is this reading for? Write its supply code: %(codes)s.") % {
            "codes": ", ".join(codes)
        }
    prompts = {
        WhatsAppStep.SUPPLY_CODE: _("Write the supply code printed on page 1 of your bill."),
        WhatsAppStep.CUSTOMER_CODE: _(
            "Now write the customer code, also printed on page 1 of your bill."
        ),
        WhatsAppStep.READING: _(
            "Now write the reading: only the black digits of the meter (the m³), leaving out "
            "the red ones."
        ),
        WhatsAppStep.READ_ON: _(
            "On what day did you read the meter? Write the date as dd/mm/yyyy, or TODAY."
        ),
    }
    return prompts[step]


def _field_clear(conversation: WhatsAppConversation, name: str) -> None:
    if name == "codes":
        conversation.supply_code = conversation.customer_code = ""
    elif name in DRAFT_FIELDS:
        setattr(conversation, name, "")
    elif name == "photo":
        conversation.photo = ""


def _draft_clear(conversation: WhatsAppConversation) -> None:
    for name in DRAFT_FIELDS:
        setattr(conversation, name, "")
    conversation.photo = ""


def _draft_stale(conversation: WhatsAppConversation, now: datetime) -> None:
    """Drop a draft left past CONVERSATION_TTL, with the readings proposed from its photo
    that still waited for an answer (their photo goes with the draft)."""
    _draft_clear(conversation)
    conversation.photo_proposals.filter(status=PhotoProposalStatus.PENDING).update(
        status=PhotoProposalStatus.EXPIRED, decided_at=now
    )


def _remembered(conversation: WhatsAppConversation) -> Customer | None:
    """The customer this number belongs to, while they still hold a supply."""
    customer = conversation.remembered_customer
    if customer is None or not customer_selectors.supplies_of(customer).exists():
        return None
    return customer


def _language(conversation: WhatsAppConversation, message: WhatsAppMessage | None = None) -> str:
    """The customer's own language once the number or the codes say who they are; else the
    language the message is written in, when it has words; else the default."""
    customer = conversation.remembered_customer or conversation.identified_customer
    if customer is not None:
        return customer.language
    if message is not None and re.search(r"[^\W\d_]{2}", message.text):
        return freetext.guess_language(message.text)
    return settings.LANGUAGE_CODE


# --- Photos -------------------------------------------------------------------------------------


def _photo_keep(message: WhatsAppMessage) -> tuple[str, FieldError | None]:
    """Fetch an image's media and keep it, checked, in the default storage (private, under
    MEDIA_ROOT). Returns its path, or "" and what went wrong (the reply says it)."""
    try:
        data = media_fetch(message.media_id)
        checked = photos.photo_check(io.BytesIO(data))
    except MediaUnavailable as exc:
        logger.warning("WhatsApp message %s: photo not fetched: %s", message.message_id, exc)
        return "", FieldError("photo", "photo_unavailable")
    except FormatError as exc:
        return "", exc.errors[0]
    name = f"channels/whatsapp/{uuid.uuid4().hex}{PurePosixPath(checked.name or '').suffix}"
    return default_storage.save(name, checked), None


def _photos_forget(conversation: WhatsAppConversation, paths: list[str]) -> None:
    """Remove, once the transaction commits, the kept photos among `paths` that neither the
    conversation's draft nor a reading proposed from a photo and still waiting for its
    answer holds. A reading taken with a photo keeps a copy of its own (Reading.photo)."""
    for path in dict.fromkeys(paths):
        if not path or path == conversation.photo:
            continue
        if conversation.photo_proposals.filter(
            photo=path, status=PhotoProposalStatus.PENDING
        ).exists():
            continue
        transaction.on_commit(partial(_photo_remove, path))


def _photo_remove(path: str) -> None:
    try:
        default_storage.delete(path)
    except OSError:
        logger.warning("WhatsApp photo %s could not be removed", path, exc_info=True)


def whatsapp_drafts_expire(*, now: datetime) -> int:
    """Drop the drafts with a photo left longer than CONVERSATION_TTL (the customer gave
    up: a message coming later would start anew), and remove their photos. The
    conversation itself stays until its retention (autolettura.lifecycle). Returns how many
    drafts were dropped."""
    stale = WhatsAppConversation.objects.filter(updated_at__lt=now - CONVERSATION_TTL).exclude(
        photo=""
    )
    removed = 0
    for pk in stale.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            conversation = (
                WhatsAppConversation.objects.select_for_update()
                .filter(pk=pk, updated_at__lt=now - CONVERSATION_TTL)
                .exclude(photo="")
                .first()
            )
            if conversation is None:  # a message came in the meantime
                continue
            dropped = conversation.photo
            _draft_stale(conversation, now)
            conversation.save()
            _photos_forget(conversation, [dropped])
            removed += 1
    return removed


def _photo_open(path: str) -> photos.CheckedPhoto | None:
    """The kept photo, or None when the storage has lost it (the reading goes on). It was
    checked when kept: `reading_submit` takes it as it is, so its SHA-256 (and the reading
    kept under it) is the one the task read."""
    try:
        with default_storage.open(path, "rb") as kept:
            data = kept.read(photos.MAX_BYTES + 1)
    except OSError as exc:
        logger.warning("WhatsApp photo %s not found: %s", path, exc)
        return None
    return photos.CheckedPhoto(data, name=PurePosixPath(path).name)


def _photo_read_once(path: str, message: WhatsAppMessage, now: datetime) -> None:
    """Have the optical reader look at a kept photo (once per photo; a sender past their
    photos for the hour is not read, and will be asked for the number)."""
    image = _photo_open(path)
    if image is not None:
        meter_photos.photo_read_once(
            image=image.read(), sender=caller_of(Channel.WHATSAPP, message.phone), now=now
        )


def _photo_button(message: WhatsAppMessage) -> tuple[str, bool] | None:
    """(proposal token, yes?) of a reply button pressed under a reading read from a photo."""
    if message.kind != "interactive":
        return None
    content = message.raw.get("interactive")
    reply = content.get("button_reply") if isinstance(content, dict) else None
    button_id = reply.get("id") if isinstance(reply, dict) else None
    found = _PHOTO_BUTTON.fullmatch(button_id) if isinstance(button_id, str) else None
    return (found[1], found[2] == "yes") if found else None


def _draft_supply(conversation: WhatsAppConversation) -> Supply | None:
    """The supply the draft names, once its codes (or the remembered number) say which."""
    remembered = _remembered(conversation)
    try:
        supply_code = (
            parsing.normalize_code(conversation.supply_code, field="supply_code")
            if conversation.supply_code
            else ""
        )
        if remembered is not None and not conversation.customer_code:
            supplies = customer_selectors.supplies_of(remembered)
            if supply_code:
                return supplies.filter(supply_code=supply_code).first()
            only = list(supplies[:2])
            return only[0] if len(only) == 1 else None
        if not supply_code or not conversation.customer_code:
            return None
        customer_code = parsing.normalize_code(conversation.customer_code, field="customer_code")
    except FormatError:
        return None
    # Codes stay in the draft only once they passed the counted check (_draft_check).
    return customer_selectors.supply_identify(supply_code=supply_code, customer_code=customer_code)


def _photo_propose(
    conversation: WhatsAppConversation, message: WhatsAppMessage, turn: _Turn, now: datetime
) -> bool:
    """Read the draft's photo on the supply's meter and ask the customer to confirm what it
    shows (True); or, when it cannot be read, say why, for the number to be asked (False).

    Each photo is tried once: after a NO, or a photo that showed nothing, the number is
    asked for. Only a photo the task has read is used: never an optical reading here.
    """
    if conversation.photo_proposals.filter(photo=conversation.photo).exists():
        return False
    supply = _draft_supply(conversation)
    image = _photo_open(conversation.photo) if supply is not None else None
    if supply is None or image is None:
        return False
    data = image.read()
    read = meter_photos.photo_read_for(image=data, supply=supply, now=now)
    # The photo is the reading's now, if it is read: the supply's previous ones lapse.
    conversation.photo_proposals.filter(status=PhotoProposalStatus.PENDING).update(
        status=PhotoProposalStatus.REPLACED, decided_at=now
    )
    proposal = WhatsAppPhotoProposal(
        conversation=conversation,
        token=uuid.uuid4().hex,
        message_id=message.message_id,
        photo=conversation.photo,
        sha256=meter_photos.photo_sha256(data),
        supply=supply,
        read_on=rome_today(now),
        created_at=now,
        expires_at=now + timedelta(minutes=settings.AUTOLETTURA_PHOTO_PROPOSAL_MINUTES),
    )
    if read is None:
        proposal.status = PhotoProposalStatus.NOT_READ
        proposal.save()
        turn.notes.append(meter_photos.too_many_photos_message())
        return False
    if read.reading is None:
        proposal.status = PhotoProposalStatus.UNREADABLE
        proposal.save()
        turn.photo_received = False
        turn.notes.append(meter_photos.unreadable_advice())
        return False
    proposal.reading = read.reading
    proposal.confidence = read.confidence
    proposal.alternatives = list(read.alternatives)
    proposal.save()
    turn.photo_received = False
    turn.notes.append(_proposal_question(read.reading, read.actionable, read.alternatives))
    turn.buttons = _buttons(proposal)
    return True


def _proposal_question(reading: str, sure: bool, alternatives: tuple[str, ...]) -> str:
    """ "I read 00530 m³: do you confirm?", saying so when the photo leaves a doubt."""
    if sure:
        return _("I read %(reading)s m³: do you confirm? YES / NO") % {"reading": reading}
    others = [r for r in alternatives if r != reading][:2]
    if others:
        doubt = _(
            "I read %(reading)s m³ in your photo, but I am not sure of every digit: it could "
            "also be %(others)s."
        ) % {"reading": reading, "others": meter_photos.either(others)}
    else:
        doubt = _(
            "I read %(reading)s m³ in your photo, but it is not sharp enough for me to be sure."
        ) % {"reading": reading}
    return (
        doubt
        + "\n\n"
        + _(
            "Look at the black digits on the meter: is it %(reading)s? YES / NO. If it is "
            "not, write the right reading."
        )
        % {"reading": reading}
    )


def _photo_answer(
    conversation: WhatsAppConversation,
    message: WhatsAppMessage,
    button: tuple[str, bool] | None,
    photo: str,
    turn: _Turn,
    now: datetime,
) -> tuple[bool, InboundOutcome | None]:
    """The answer to a reading read from a photo: YES takes it in charge, with the photo,
    as if the customer had written it; NO asks for the number. Returns (handled, outcome);
    a message that is no answer (a number, a new photo) is not handled here: the proposal
    lapses and the conversation takes the message as usual, the number as the reading.

    A button counts only under the proposal it was sent with, and only in the conversation
    of the number it was sent to: a button of another number's proposal (or a stale one)
    takes nothing, and one pressed again after a YES repeats the receipt.
    """
    proposals = conversation.photo_proposals
    word = _word(message.text)
    if button is not None:
        token, yes = button
        proposal = proposals.filter(token=token).first()
    else:
        proposal = proposals.filter(status=PhotoProposalStatus.PENDING).first()
        yes = word in YES
        if not yes and word not in NO:
            if proposal is not None and (photo or any(c.isdigit() for c in message.text)):
                if photo:
                    _proposal_close(proposal, PhotoProposalStatus.REPLACED, now)
                else:
                    # The number written instead is the reading, of the photo's day.
                    _proposal_close(proposal, PhotoProposalStatus.REFUSED, now)
                    conversation.read_on = conversation.read_on or format_day(proposal.read_on)
                conversation.step = WhatsAppStep.READING
                return False, None
            if proposal is not None and proposal.expires_at > now:
                # Anything else: the question again.
                turn.notes.append(
                    _proposal_question(
                        proposal.reading,
                        proposal.confidence >= settings.AUTOLETTURA_PHOTO_CONFIDENCE,
                        tuple(proposal.alternatives),
                    )
                )
                turn.buttons = _buttons(proposal)
                return True, None
    if proposal is not None and proposal.status == PhotoProposalStatus.CONFIRMED:
        taken = proposal.reading_taken
        if taken is not None:
            turn.notes.append(
                _("We have already taken this reading in charge, with receipt %(receipt)s.")
                % {"receipt": taken.receipt}
            )
            return True, None
    if proposal is None or proposal.status != PhotoProposalStatus.PENDING:
        turn.notes.append(
            _(
                "That answer is for a reading we no longer have on hold: send the photo again, "
                "or write the reading."
            )
        )
        return True, None
    if proposal.expires_at <= now:
        _proposal_close(proposal, PhotoProposalStatus.EXPIRED, now)
        conversation.step = WhatsAppStep.READING
        turn.notes.append(
            _(
                "The reading from your photo waited too long for your answer. Send a new photo, "
                "or write the reading: only the black digits of the meter (the m³)."
            )
        )
        return True, None
    if not yes:
        _proposal_close(proposal, PhotoProposalStatus.REFUSED, now)
        conversation.reading = ""
        conversation.read_on = conversation.read_on or format_day(proposal.read_on)
        conversation.step = WhatsAppStep.READING
        turn.notes.append(
            _(
                "All right: write the reading as the meter shows it, only the black digits "
                "(the m³), leaving out the red ones."
            )
        )
        return True, None
    _proposal_close(proposal, PhotoProposalStatus.CONFIRMED, now)
    conversation.reading = proposal.reading
    conversation.read_on = conversation.read_on or format_day(proposal.read_on)
    conversation.photo = proposal.photo
    errors = _draft_check(conversation, rome_today(now))
    step = _next_step(conversation)
    if errors or step is not None:
        turn.notes.extend(error_message(error) for error in errors)
        conversation.step = step or WhatsAppStep.READING
        turn.notes.append(_prompt(conversation, conversation.step))
        return True, None
    payload: dict[str, Any] = {"message": message.raw, "photo_proposal": proposal.token}
    outcome = _submit(conversation, message, turn, payload, now)
    if outcome.submission is not None:
        WhatsAppPhotoProposal.objects.filter(pk=proposal.pk).update(
            reading_taken=outcome.submission.reading
        )
    return True, outcome


def _buttons(proposal: WhatsAppPhotoProposal) -> list[dict[str, str]]:
    return [
        {"id": f"photo:{proposal.token}:yes", "title": pgettext("reply button", "Yes")},
        {"id": f"photo:{proposal.token}:no", "title": pgettext("reply button", "No")},
    ]


def _proposal_close(proposal: WhatsAppPhotoProposal, status: str, now: datetime) -> None:
    proposal.status = status
    proposal.decided_at = now
    proposal.save(update_fields=["status", "decided_at"])


def _photo_problem_text(problem: FieldError) -> str:
    if problem.code == "photo_unavailable":
        return _("We could not download the photo: you can send the reading without it.")
    return photos.photo_error_message(problem)


def _photo_attach(reading: Reading, path: str) -> None:
    """Store a photo that came just after its reading with that reading, as
    `reading_submit` stores an uploaded one (checked again, under a random name)."""
    try:
        with default_storage.open(path, "rb") as kept:
            checked = photos.photo_check(kept)
    except (OSError, FormatError) as exc:
        logger.warning("WhatsApp photo %s not kept with %s: %s", path, reading.receipt, exc)
        return
    reading.photo.save(checked.name or "meter", checked, save=False)
    Reading.objects.filter(pk=reading.pk, photo="").update(photo=reading.photo.name)


# --- The webhook ------------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest) -> HttpResponse:
    """GET: Meta's verification handshake. POST: messages (taken) and statuses (ignored)."""
    if request.method == "GET":
        return _handshake(request)
    body = request.body
    if not signature_valid(
        body,
        request.headers.get("X-Hub-Signature-256"),
        settings.AUTOLETTURA_WHATSAPP_APP_SECRET,
    ):
        logger.warning("WhatsApp webhook refused: missing or wrong X-Hub-Signature-256")
        return HttpResponseForbidden("invalid signature", content_type="text/plain")
    try:
        messages = messages_from(json.loads(body))
    except (ValueError, RecursionError) as exc:
        # Bad JSON, bad UTF-8, nested too deep, or not a Cloud API webhook.
        logger.warning("WhatsApp webhook malformed: %s: %r", exc, body[:500])
        return HttpResponseBadRequest("malformed webhook", content_type="text/plain")
    now = clock.now()
    for message in messages:
        whatsapp_message_take(message=message, now=now)
    return HttpResponse("ok", content_type="text/plain")


def _handshake(request: HttpRequest) -> HttpResponse:
    expected = settings.AUTOLETTURA_WHATSAPP_VERIFY_TOKEN
    token = request.GET.get("hub.verify_token", "")
    if (
        request.GET.get("hub.mode") == "subscribe"
        and expected
        and hmac.compare_digest(token.encode(), expected.encode())
    ):
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    logger.warning("WhatsApp verification refused: wrong mode or verify token")
    return HttpResponseForbidden("verification failed", content_type="text/plain")
