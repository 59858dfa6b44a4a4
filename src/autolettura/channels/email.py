"""E-mail: a mailbox polled over IMAP; free text in, a reply in the same thread out.

Every unseen mail of the readings mailbox is stored in the inbound log under its Message-ID
(or a hash of it when it has none) and goes through `inbound_reading_submit`, like any other
channel's message; it is marked seen only once stored and answered, so a crash leaves it to
the next poll, and a mail fetched twice finds its first answer instead of making a second
reading or a second reply (the reply's outbox key is the mail's id).

The text is read by `rules.freetext` (the two codes, the reading and the date in any order,
Italian or English; a date left out is the day the mail was sent); a photo of the meter
attached to the mail is kept with the reading. A mail with the codes and a photo but no
number has its photo read (in the poll, a Celery task; once per photo): read with
confidence (AUTOLETTURA_PHOTO_CONFIDENCE), that is the reading, and the receipt says so and
how to correct it; otherwise nothing is taken and the reply asks for the number.

The answer goes back through the outbox by SMTP, threaded under the customer's mail
(`In-Reply-To`, `References`, "Re: ..."), in the holder's language once the codes identify
them, otherwise in the language the mail is written in: the receipt and outcome, or
exactly what to fix or what is missing.

Automatic mail is logged but never answered (RFC 3834: `Auto-Submitted`, `Precedence:
bulk`, mailing lists, bounces, vacation notices, our own address): two robots answering
each other would never stop. Our replies say `Auto-Submitted: auto-replied` for the same
reason.
"""

from __future__ import annotations

import hashlib
import imaplib
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from imap_tools import AND, BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError
from imap_tools.message import MailMessage

from autolettura import mail_oauth
from autolettura.channels import meter_photos
from autolettura.customers.models import Supply
from autolettura.customers.services import supply_identify_guarded
from autolettura.db import storable
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.outbox.services import outbox_enqueue
from autolettura.photos.services import PhotoRead
from autolettura.readings import photos
from autolettura.readings.messages import error_message, format_day, outcome_email_body
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
from autolettura.rules.window import ROME, rome_today
from autolettura.throttling import Throttled

logger = logging.getLogger(__name__)

# At most this many mails a poll: a flood waits for the next one instead of one long run.
FETCH_LIMIT = 200
PHOTO_TYPES = {"image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/heic", "image/heif"}
# What the inbound log keeps of a mail's text (the reply quotes none of it).
TEXT_KEPT = 20_000
_ID_MAX = 200  # InboundMessage.provider_message_id


class MailboxNotConfigured(Exception):
    """AUTOLETTURA_IMAP_HOST (and its user) are not set: there is no mailbox to read."""


class MailboxUnavailable(Exception):
    """The IMAP server could not be reached, refused the login or broke off."""


# --- Reading a mail ---------------------------------------------------------------------------


def provider_message_id(message: Message) -> str:
    """The mail's Message-ID, or a hash of the whole mail when it has none (or a huge one)."""
    raw_id = " ".join(storable(str(message.get("Message-ID", ""))).split())
    if raw_id and len(raw_id) <= _ID_MAX:
        return raw_id
    return mail_hash(message)


def mail_hash(message: Message) -> str:
    try:
        raw = message.as_bytes()
    except (UnicodeError, LookupError, ValueError):
        raw = str(message).encode("utf-8", "replace")
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def sender_address(message: Message) -> str:
    """The From address, or "" when there is none that could be written back to."""
    return _address(message.get("From"))


def reply_address(message: Message, *, own_addresses: Iterable[str] = ()) -> str:
    """Where the sender asked to be answered: the first Reply-To address (RFC 5322, 3.6.2),
    or the From address when there is none that could be written to (or it is ours)."""
    raw = str(message.get("Reply-To", "") or "")
    own = {address.lower() for address in own_addresses}
    for _name, candidate in getaddresses([raw]) if raw else []:
        address = _address(candidate)
        if address and address.lower() not in own:
            return address
    return sender_address(message)


def _address(value: object) -> str:
    """A header's address, or "" when it is none that could be written back to."""
    _name, address = parseaddr(str(value or ""))
    address = address.strip()
    if (
        not address
        or len(address) > _ID_MAX
        or address.count("@") != 1
        or not address.isprintable()  # a NUL cannot be stored, nor written back to
        or any(c.isspace() or c in "<>,;\"'" for c in address)
    ):
        return ""
    local, domain = address.split("@")
    return f"{local}@{domain.lower()}" if local and "." in domain else ""


_AUTO_HEADERS = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoresponder",
    "X-Autoresponse",
    "X-Auto-Reply",
    "X-AutoReply-From",
    "X-Mail-Autoreply",
    "X-Autogenerated",
    "X-Auto-Generated",
    "X-Failed-Recipients",
)
_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post", "List-Help")
_SYSTEM_SENDER = re.compile(
    r"^(?:mailer-daemon|postmaster|owner-.*|.*-request|no-?reply|do-?not-?reply|bounces?"
    r"|.*-bounces?)(?:[+-].*)?@",
    re.I,
)
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto-?reply|autoreply|out of (?:the )?office|risposta automatica"
    r"|fuori sede|assente|undeliver(?:ed|able)|delivery status notification"
    r"|mail delivery (?:failed|failure)|non recapitabile|returned mail)\b",
    re.I,
)


def auto_reply_reason(message: Message, *, own_addresses: Iterable[str] = ()) -> str | None:
    """Why a mail must not be answered, or None for a person's mail (RFC 3834).

    Automatic replies (`Auto-Submitted` other than `no`, the `X-Autoreply` family, vacation
    subjects), bulk and list mail (`Precedence: bulk/junk/list`, `List-Id`), bounces (an
    empty `Return-Path`, delivery reports, MAILER-DAEMON), mail from robots' addresses
    (`noreply@`) and from our own addresses (a loop).
    """
    auto_submitted = str(message.get("Auto-Submitted", "")).split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return "auto_submitted"
    if str(message.get("Precedence", "")).strip().lower() in {"bulk", "junk", "list"}:
        return "bulk"
    if any(message.get(name) is not None for name in _LIST_HEADERS):
        return "mailing_list"
    return_path = message.get("Return-Path")
    if return_path is not None and str(return_path).strip() in {"", "<>"}:
        return "bounce"
    if message.get_content_type() == "multipart/report":
        return "bounce"
    if any(message.get(name) is not None for name in _AUTO_HEADERS):
        return "auto_submitted"
    suppress = str(message.get("X-Auto-Response-Suppress", "")).lower()
    if {"all", "oof", "autoreply"} & {word.strip() for word in suppress.split(",")}:
        return "auto_submitted"
    if _AUTO_SUBJECT.match(_header_text(message.get("Subject"))):
        return "auto_submitted"
    sender = sender_address(message)
    if not sender:
        return "no_sender"
    if _SYSTEM_SENDER.match(sender):
        return "system_sender"
    own = {address.lower() for address in own_addresses if address}
    if sender.lower() in own:
        return "own_address"
    loop = str(message.get("X-Loop", "")).lower()
    if loop and any(address in loop for address in own):
        return "own_address"
    return None


def own_addresses() -> set[str]:
    """The addresses we send from and read: a mail from one of them is our own echo."""
    found = {
        address.lower()
        for _name, address in getaddresses(
            [
                settings.DEFAULT_FROM_EMAIL,
                settings.AUTOLETTURA_READINGS_EMAIL,
                settings.AUTOLETTURA_IMAP_USER,
            ]
        )
        if "@" in address
    }
    return found


def _header_text(value: object) -> str:
    """A header as text, with its RFC 2047 encoded words decoded and on one line."""
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError):
        text = str(value)
    return " ".join(storable(text).split())


class _HtmlText(HTMLParser):
    """The text of an HTML mail: what is seen, without quoted replies, styles or scripts."""

    _HIDDEN = {"style", "script", "head", "blockquote", "title"}
    _BREAKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def mail_text(message: MailMessage) -> str:
    """What the customer wrote: the plain-text part, or the HTML part's visible text."""
    text = message.text
    if not text.strip() and message.html:
        text = html_text(message.html)
    # Kept in the inbound log.
    return storable(text)[:TEXT_KEPT]


def sent_on(message: Message, *, arrived_at: datetime) -> date:
    """The day the mail was written (its Date, in Europe/Rome), never after it arrived."""
    arrived_on = rome_today(arrived_at)
    try:
        sent = parsedate_to_datetime(str(message.get("Date", "")))
    except (TypeError, ValueError, IndexError, OverflowError):
        return arrived_on
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    return min(sent.astimezone(ROME).date(), arrived_on)


def meter_photo(message: MailMessage) -> tuple[bytes, str] | None:
    """The largest JPEG, PNG or HEIC picture attached to (or inline in) the mail: a
    signature's logo is small, a photo of the meter is not. A file of no declared type
    counts when its first bytes are a picture's; the photo check has the last word."""
    pictures = [
        # The name goes to the inbound log.
        (attachment.payload, storable(attachment.filename))
        for attachment in message.attachments
        # By content too: a HEIC often arrives as application/octet-stream.
        if attachment.content_type.lower() in PHOTO_TYPES
        or photos.photo_kind(attachment.payload[:32]) in photos.READING_KINDS
    ]
    pictures = [(data, name) for data, name in pictures if data]
    if not pictures:
        return None
    return max(pictures, key=lambda picture: len(picture[0]))


# --- Taking a mail in charge ------------------------------------------------------------------


@dataclass(frozen=True)
class EmailOutcome:
    """What became of one mail: the reading it made (or found again), its format errors,
    or why it was not answered; and the reply queued for it."""

    provider_message_id: str
    reading: Reading | None
    errors: list[FieldError]
    ignored: str | None
    reply: OutboundMessage | None


def email_receive(
    *, message: MailMessage, now: datetime, arrived_at: datetime | None = None
) -> EmailOutcome:
    """Store one mail in the inbound log, take its reading in charge and queue the reply.

    `arrived_at` is when the mail reached the mailbox (its IMAP INTERNALDATE): the moment of
    submission for R5, so that a mail sent on the window's last evening and read by the
    poller after midnight still counts. A mail received before is found again with its
    first answer: no second reading, no second reply. Automatic and bulk mail is logged
    and not answered. Raises nothing for what the customer wrote.
    """
    at = min(arrived_at or now, now)
    obj = message.obj
    sender = sender_address(obj)
    message_id = provider_message_id(obj)
    if _taken_by_another_sender(message_id, sender):
        # A Message-ID is chosen by the sender's software: one copied from someone else's
        # mail must not fetch that mail's answer (their receipt and consumption).
        message_id = mail_hash(obj)
    subject = _header_text(obj.get("Subject"))
    text = mail_text(message)
    log: dict[str, Any] = {
        "message_id": _header_text(obj.get("Message-ID"))[:998],
        "from": _header_text(obj.get("From"))[:998],
        "subject": subject[:998],
        "text": text,
    }
    ignored = auto_reply_reason(obj, own_addresses=own_addresses())
    if ignored is not None:
        return _ignore(message_id, {**log, "ignored": ignored}, sender, at, ignored)

    parsed = freetext.parse_message(text, subject=subject)
    day = sent_on(obj, arrived_at=at)
    payload = {
        **log,
        "supply_code": parsed.supply_code,
        "customer_code": parsed.customer_code,
        "reading": parsed.reading,
        # A mail without a date is the reading of the day it was sent (and says so).
        "read_on": parsed.read_on if parsed.read_on is not None else format_day(day),
        "read_on_defaulted": parsed.read_on_defaulted,
    }
    attached = meter_photo(message)
    if attached is not None:
        payload["photo"] = {"filename": attached[1][:200], "bytes": len(attached[0])}
    # A photo without a number: the reading is the photo's, when it is read with confidence.
    look = _photo_look(parsed, attached[0], sender, at) if attached and not parsed.reading else None
    from_photo = look is not None and look.read is not None and look.read.actionable
    if from_photo and look is not None and look.read is not None:
        payload["reading"] = look.read.reading
        payload["reading_from_photo"] = {
            "sha256": look.read.sha256,
            "confidence": look.read.confidence,
        }

    with transaction.atomic():
        outcome = inbound_reading_submit(
            channel=Channel.EMAIL,
            provider_message_id=message_id,
            payload=payload,
            now=at,
            sender=sender,
            photo=look.photo if from_photo and look is not None else None,
        )
        reading = outcome.submission.reading if outcome.submission is not None else None
        photo_kept, photo_note = False, ""
        if reading is not None and attached is not None:
            photo_kept, photo_note = _photo_keep(reading, attached[0], message_id)
        reply = _reply(
            message=obj,
            message_id=message_id,
            recipient=reply_address(obj, own_addresses=own_addresses()) if sender else "",
            subject=subject,
            language=_language(outcome, text, subject, look),
            body=lambda: _reply_body(outcome, parsed, photo_kept, photo_note, look),
            now=now,
        )
    return EmailOutcome(message_id, reading, list(outcome.errors), None, reply)


def _taken_by_another_sender(message_id: str, sender: str) -> bool:
    return (
        InboundMessage.objects.filter(channel=Channel.EMAIL, provider_message_id=message_id)
        .exclude(sender=sender)
        .exists()
    )


def _ignore(
    message_id: str, payload: dict[str, Any], sender: str, at: datetime, reason: str
) -> EmailOutcome:
    inbound, created = inbound_message_record(
        channel=Channel.EMAIL,
        provider_message_id=message_id,
        payload=payload,
        now=at,
        sender=sender,
    )
    if created:
        InboundMessage.objects.filter(pk=inbound.pk).update(
            processed_at=at, errors=[{"field": "message", "code": f"not_answered:{reason}"}]
        )
    logger.info("e-mail %s from %s not answered: %s", message_id, sender or "-", reason)
    return EmailOutcome(message_id, None, [], reason, None)


def _photo_keep(reading: Reading, data: bytes, message_id: str) -> tuple[bool, str]:
    """Keep the mail's photo with the reading this very mail made (not with an earlier
    reading it repeats), checked as `reading_submit` checks one. Returns whether it is
    kept, and what to tell the customer when it cannot be (else "")."""
    # inbound_reading_submit takes no photo yet: the reading is stored first, then its
    # photo, and only while the photo field is still empty (a retry finds it filled).
    made_here = InboundMessage.objects.filter(
        reading=reading, made_reading=True, channel=Channel.EMAIL, provider_message_id=message_id
    ).exists()
    if not made_here:
        return False, ""
    if reading.photo:
        return True, ""
    try:
        checked = photos.photo_check(io.BytesIO(data))
    except FormatError as exc:
        return False, photos.photo_error_message(exc.errors[0])
    reading.photo.save(checked.name or "meter.jpg", checked, save=False)
    Reading.objects.filter(pk=reading.pk, photo="").update(photo=reading.photo.name)
    return True, ""


@dataclass(frozen=True)
class _PhotoLook:
    """What a photo sent without a number gave: the supply its codes name (None: no codes,
    wrong codes, `codes_error`), what it shows on that supply's meter (None: not read)."""

    supply: Supply | None
    read: PhotoRead | None = None
    throttled: bool = False
    codes_error: FieldError | None = None
    # The photo as checked and encoded anew: what was read, and what the reading keeps.
    photo: photos.CheckedPhoto | None = None


def _photo_look(
    parsed: freetext.ParsedMessage, image: bytes, sender: str, now: datetime
) -> _PhotoLook:
    """Read a mail's photo on the meter of the supply its codes name (the poll is a Celery
    task: the photo is read here, once: its reading is kept under its SHA-256).

    Without codes naming a supply nothing is read: nothing could be taken, and the meter's
    digits and history are what tell a reading from a misreading. The codes are counted
    as `reading_submit` counts them; a mail whose codes are wrong goes on without a reading,
    so `reading_submit` never looks them up (and counts them) a second time.
    """
    if not parsed.supply_code or not parsed.customer_code:
        return _PhotoLook(None)
    try:
        # No huge or fake picture reaches the reader; what it reads is what the reading
        # keeps, so `reading_submit` finds it read (the cache is keyed by these bytes).
        checked = photos.photo_check(io.BytesIO(image))
        codes = parsing.parse_bill_codes(
            supply_code=parsed.supply_code, customer_code=parsed.customer_code
        )
    except FormatError:
        return _PhotoLook(None)  # reading_submit says what is wrong with them
    caller = caller_of(Channel.EMAIL, sender)
    try:
        supply = supply_identify_guarded(
            supply_code=codes[0], customer_code=codes[1], source=caller
        )
    except Throttled as exc:
        return _PhotoLook(None, codes_error=too_many_attempts(exc.retry_after))
    if supply is None:
        return _PhotoLook(None, codes_error=CODES_MISMATCH)
    image = checked.read()
    if not meter_photos.photo_read_once(image=image, sender=caller, now=now):
        return _PhotoLook(supply, throttled=True)
    read = meter_photos.photo_read_for(image=image, supply=supply, now=now)
    return _PhotoLook(supply, read, photo=checked)


def _language(
    outcome: InboundOutcome, text: str, subject: str, look: _PhotoLook | None = None
) -> str:
    """The holder's language once the codes identify them; otherwise the mail's own."""
    if outcome.submission is not None:
        return outcome.submission.reading.supply.holder.language
    if look is not None and look.supply is not None:
        return look.supply.holder.language
    return freetext.guess_language(f"{subject}\n{text}")


# The items a mail cannot do without, as a reply lists what is missing. Not the date: a
# mail without one is the reading of the day it was sent (freetext.REQUIRED_FIELDS).
def _item_description(item: str) -> str:
    descriptions = {
        freetext.SUPPLY_CODE: _("the supply code (codice utenza), on page 1 of the bill"),
        freetext.CUSTOMER_CODE: _("the customer code (codice utente), on page 1 of the bill"),
        freetext.READING: _("the meter reading, without decimals (only the black digits)"),
    }
    return descriptions[item]


def _reply_body(
    outcome: InboundOutcome,
    parsed: freetext.ParsedMessage,
    photo_kept: bool,
    photo_note: str,
    look: _PhotoLook | None = None,
) -> str:
    """The reply, in the active language: the outcome, or what to fix and what is missing."""
    if outcome.submission is not None:
        # The outcome e-mail every channel sends, with this mail's own notes in it.
        reading = outcome.submission.reading
        notes = []
        if look is not None and look.read is not None and look.read.actionable:
            notes.append(
                _(
                    "We took the reading, %(reading)s m³, from the photo of your meter. If the "
                    "black digits on the meter show a different number, reply to this e-mail "
                    "with the right reading, the supply code and the customer code."
                )
                % {"reading": look.read.reading}
            )
        if parsed.read_on_defaulted:
            notes.append(
                _("Your e-mail gave no reading date, so we took the day it was sent, %(day)s.")
                % {"day": format_day(reading.read_on)}
            )
        if photo_note:
            notes.append(_("We could not keep the photo: %(why)s") % {"why": photo_note})
        elif photo_kept:
            notes.append(_("The photo of the meter is kept with the reading."))
        return outcome_email_body(reading, outcome.submission.window, extra=notes)
    errors = list(outcome.errors)
    paragraphs = [_("Dear customer,")]
    if look is not None and not (look.read is not None and look.read.actionable):
        # (A reading the photo gave with confidence, refused for another reason: the
        # errors below say why.)
        paragraphs.append(_photo_not_taken(look))
        if look.codes_error is not None and look.codes_error not in errors:
            errors.insert(0, look.codes_error)
    paragraphs.extend(_what_to_fix(errors, parsed))
    paragraphs.append(
        _("%(utility)s, meter reading service") % {"utility": settings.AUTOLETTURA_UTILITY_NAME}
    )
    return "\n\n".join(paragraphs) + "\n"


def _photo_not_taken(look: _PhotoLook) -> str:
    """Why the reading of a photo sent without a number was not taken."""
    if look.supply is None:
        if look.codes_error is not None:
            return _(
                "We have not read your photo: the codes in your e-mail do not match any supply."
            )
        return _(
            "To read the meter from your photo we need to know whose meter it is: reply with "
            "the supply code and the customer code, and attach the photo again (or write "
            "the reading)."
        )
    if look.read is None:
        return meter_photos.too_many_photos_message()
    if look.read.reading is None:
        return meter_photos.unreadable_advice()
    others = meter_photos.unsure_alternatives(look.read)
    if others:
        return _(
            "In your photo we read %(reading)s m³, but we are not sure of every digit (it "
            "could also be %(others)s), so we have not taken it. Look at the black digits on "
            "the meter and write the reading in your reply."
        ) % {"reading": look.read.reading, "others": meter_photos.either(others)}
    return _(
        "In your photo we read %(reading)s m³, but the photo is not sharp enough for us to be "
        "sure, so we have not taken it. Look at the black digits on the meter and write the "
        "reading in your reply."
    ) % {"reading": look.read.reading}


def _what_to_fix(errors: list[FieldError], parsed: freetext.ParsedMessage) -> list[str]:
    paragraphs: list[str] = []
    missing = [item for item in parsed.missing if item in freetext.REQUIRED_FIELDS]
    if missing:
        lead = (
            _("We could not find a meter reading in your e-mail. To take it, we need:")
            if parsed.empty
            else _("We could not take your reading. We did not find in your e-mail:")
        )
        # Exactly the required items that are missing, never the date: without one, the
        # reading is taken as read on the day the mail was sent.
        paragraphs.append(
            lead + "\n" + "\n".join(f"- {_item_description(item)}" for item in missing)
        )
    shown = [
        error_message(error)
        for error in errors
        if not (error.code == "required" and error.field in missing)
    ]
    if shown:
        paragraphs.append(
            _("We could not take your reading:") + "\n" + "\n".join(f"- {s}" for s in shown)
        )
    if missing:
        if freetext.SUPPLY_CODE in missing or freetext.CUSTOMER_CODE in missing:
            paragraphs.append(
                _(
                    "You find the customer code and the supply code at the top right of page 1 "
                    "of your bill, the supply code just below the customer code."
                )
            )
        paragraphs.append(
            _("Reply to this e-mail with the codes and the reading, for example:")
            + "\n"
            + _("supply code 400120734, customer code 1004127, reading 1234")
            + "\n"
            + _("Without a date, the reading counts as read on the day you send your e-mail.")
        )
    else:
        paragraphs.append(_("Reply to this e-mail with the corrections."))
    return paragraphs


def _reply(
    *,
    message: Message,
    message_id: str,
    recipient: str,
    subject: str,
    language: str,
    body: Callable[[], str],
    now: datetime,
) -> OutboundMessage | None:
    """Queue the reply in the customer's thread, once per mail (the outbox key is the
    mail's id: fetched again, it finds the first reply)."""
    if not recipient:
        return None
    with translation.override(language):
        text = body()
        reply_subject = _one_line(subject) or _("Your meter reading")
    if not re.match(r"^\s*(?:re|r|aw|sv)\s*:", reply_subject, re.I):
        reply_subject = f"Re: {reply_subject}"
    headers = {
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
        "Reply-To": settings.AUTOLETTURA_READINGS_EMAIL,
    }
    original_id = _one_line(_header_text(message.get("Message-ID")))
    if original_id and len(original_id) <= 900:
        # The thread so far, then this mail; the oldest ids go first when it grows too long.
        chain = [*_header_text(message.get("References")).split(), original_id]
        while len(chain) > 1 and len(" ".join(chain)) > 900:
            chain.pop(0)
        headers["In-Reply-To"] = original_id
        headers["References"] = " ".join(chain)
    key = hashlib.sha256(message_id.encode()).hexdigest()[:48]
    return outbox_enqueue(
        route=Route.EMAIL,
        recipient=recipient,
        subject=reply_subject[:300],
        body=text,
        language=language,
        headers=headers,
        dedupe_key=f"email-reply:{key}",
        now=now,
    )


def _one_line(text: str) -> str:
    """A header value that cannot smuggle in another header."""
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


# --- The mailbox ------------------------------------------------------------------------------


@dataclass
class FetchSummary:
    """What one poll of the mailbox did."""

    fetched: int = 0
    readings: int = 0
    rejected: int = 0
    ignored: int = 0
    failed: int = 0

    def count(self, outcome: EmailOutcome) -> None:
        self.fetched += 1
        if outcome.ignored is not None:
            self.ignored += 1
        elif outcome.reading is not None:
            self.readings += 1
        else:
            self.rejected += 1


@contextmanager
def _mailbox() -> Iterator[BaseMailBox]:
    host, port = settings.AUTOLETTURA_IMAP_HOST, settings.AUTOLETTURA_IMAP_PORT
    timeout = settings.AUTOLETTURA_PROVIDER_TIMEOUT
    if not host or not settings.AUTOLETTURA_IMAP_USER:
        raise MailboxNotConfigured("set AUTOLETTURA_IMAP_HOST and AUTOLETTURA_IMAP_USER")
    mailbox: BaseMailBox
    try:
        if settings.AUTOLETTURA_IMAP_SSL:
            mailbox = MailBox(host, port, timeout=timeout)
        elif settings.AUTOLETTURA_IMAP_STARTTLS:
            mailbox = MailBoxStartTls(host, port, timeout=timeout)
        else:
            mailbox = MailBoxUnencrypted(host, port, timeout=timeout)
        if settings.AUTOLETTURA_IMAP_AUTH == "xoauth2":
            _xoauth2_login(mailbox, settings.AUTOLETTURA_IMAP_USER)
        else:
            mailbox.login(
                settings.AUTOLETTURA_IMAP_USER,
                settings.AUTOLETTURA_IMAP_PASSWORD,
                initial_folder=settings.AUTOLETTURA_IMAP_FOLDER,
            )
    except (*_IMAP_ERRORS, mail_oauth.TokenUnavailable) as exc:
        raise MailboxUnavailable(f"IMAP {host}:{port}: {exc}") from exc
    try:
        yield mailbox
    finally:
        try:
            mailbox.logout()
        except _IMAP_ERRORS:  # already broken off: nothing left to close
            logger.debug("IMAP logout failed", exc_info=True)


def _xoauth2_login(mailbox: BaseMailBox, user: str) -> None:
    """Log in with an OAuth 2.0 access token (SASL XOAUTH2), then open the folder. A refused
    token is dropped from the cache, so that the next poll asks for a new one."""
    token = mail_oauth.access_token()
    response = mail_oauth.xoauth2_response(user, token).encode()
    try:
        # A refusal comes as a challenge carrying a JSON error, to be answered empty.
        mailbox.client.authenticate("XOAUTH2", lambda challenge: b"" if challenge else response)
    except imaplib.IMAP4.error:
        mail_oauth.forget_access_token()
        raise
    mailbox.folder.set(settings.AUTOLETTURA_IMAP_FOLDER)


_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(
    rb'\bINTERNALDATE " ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})"'
)
_IMAP_MONTHS = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}
# What a broken or refusing IMAP server raises.
_IMAP_ERRORS = (OSError, EOFError, imaplib.IMAP4.error, ImapToolsError)


def internal_date(line: bytes) -> datetime | None:
    """The INTERNALDATE of a FETCH answer ("20-Oct-2026 10:00:00 +0200") as an aware
    datetime, read without the process's locale; None when it has none."""
    stamp = _INTERNALDATE.search(line)
    if stamp is None:
        return None
    day, month, year, hour, minute, second, offset = (part.decode() for part in stamp.groups())
    number = _IMAP_MONTHS.get(month.lower())
    if number is None:
        return None
    try:
        return datetime.strptime(
            f"{year}-{number:02d}-{int(day):02d} {hour}:{minute}:{second} {offset}",
            "%Y-%m-%d %H:%M:%S %z",
        )
    except ValueError:
        return None


def _arrival_times(mailbox: BaseMailBox, uids: list[str]) -> dict[str, datetime]:
    """When each mail reached the mailbox (IMAP INTERNALDATE), by UID."""
    if not uids:
        return {}
    _status, data = mailbox.client.uid("FETCH", ",".join(uids), "(UID INTERNALDATE)")
    found: dict[str, datetime] = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not isinstance(line, bytes):
            continue
        uid, arrived = _UID.search(line), internal_date(line)
        if uid is not None and arrived is not None:
            found[uid.group(1).decode()] = arrived
    return found


def email_fetch(*, now: datetime, limit: int = FETCH_LIMIT) -> FetchSummary:
    """Take in charge the unseen mails of the readings mailbox, oldest first.

    Each mail is marked seen only after it is stored and its reply queued: one that fails
    (a database outage) stays unseen and is tried again at the next poll, where its first
    answer, if it got one, is found again. Raises MailboxNotConfigured, or
    MailboxUnavailable when the server cannot be reached or breaks off.
    """
    summary = FetchSummary()
    with _mailbox() as mailbox:
        try:
            uids = list(mailbox.uids(AND(seen=False)))[:limit]
            arrivals = _arrival_times(mailbox, uids)
            messages = mailbox.fetch(uid_list=uids, mark_seen=False) if uids else iter(())
            for message in messages:
                uid = message.uid or ""
                try:
                    outcome = email_receive(message=message, now=now, arrived_at=arrivals.get(uid))
                except Exception:
                    summary.failed += 1
                    logger.exception("e-mail uid %s not taken in charge; left unseen", uid)
                    continue
                # Seen only now that it is stored: STORE alone, not imap_tools' flag(),
                # which also expunges the folder.
                status, _data = mailbox.client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
                if status != "OK":  # it will be read again, and find its first answer
                    logger.warning("e-mail uid %s not marked seen: %s", uid, status)
                summary.count(outcome)
        except _IMAP_ERRORS as exc:
            raise MailboxUnavailable(f"IMAP: {exc}") from exc
    logger.info(
        "e-mail: %s fetched, %s readings, %s answered with what to fix, %s not answered, %s failed",
        summary.fetched,
        summary.readings,
        summary.rejected,
        summary.ignored,
        summary.failed,
    )
    return summary
