"""The phone line (IVR): Twilio voice webhooks answered in TwiML.

A call is a conversation of turns. Twilio posts the caller's keys (or a recording) to the
action URL of the prompt it played; the call's state (PhoneCall, keyed by CallSid) says
which step the keys answer. Each prompt's URL carries its turn number: a webhook retried for
a turn already answered gets the same TwiML back and changes nothing, so a retry never takes
a second reading nor opens a second ticket.

Menu: 1 communicates a reading (supply code #, customer code #, reading #, date, read back
for confirmation, then `inbound_reading_submit`), 2 reports a fault (the kind by keypad, a
recorded message with the location, the caller's number to call back), 3 the info line
(transferred while it is open, its hours read out otherwise), 9 English (and 9 again,
Italian). Three failed tries of a step end the call politely, offering the info line while
it is open. Every text spoken is the one the other channels write (see `speech`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.http.request import QueryDict
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from autolettura import clock
from autolettura.channels.models import CallOutcome, CallStep, PhoneCall
from autolettura.channels.speech import (
    speakable,
    spell,
    spoken_date,
    spoken_error,
    spoken_fault_error,
    spoken_fault_received,
    spoken_outcome,
)
from autolettura.db import storable
from autolettura.readings.messages import format_day
from autolettura.readings.models import Channel
from autolettura.readings.services import inbound_reading_submit
from autolettura.rules import parsing
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.window import rome_today
from autolettura.service import messages as service_messages
from autolettura.service import policy as service_policy
from autolettura.service.models import Category, FaultChannel
from autolettura.service.selectors import info_line_status
from autolettura.service.services import FaultReportRejected, fault_report_create

logger = logging.getLogger(__name__)

MAX_TRIES = 3
VOICE_LANGUAGES = {"it": "it-IT", "en": "en-GB"}
# The reading flow's steps in order, each with the value it gathers.
READING_STEPS = (
    (CallStep.SUPPLY_CODE, "supply_code"),
    (CallStep.CUSTOMER_CODE, "customer_code"),
    (CallStep.READING, "reading"),
    (CallStep.READ_ON, "read_on"),
)
# Keypad digits of the kinds of fault, in the order the prompt lists them.
FAULT_CATEGORIES = (
    Category.LEAK,
    Category.NO_WATER,
    Category.LOW_PRESSURE,
    Category.WATER_QUALITY,
    Category.DAMAGED_METER,
    Category.OTHER,
)
RECORDING_MAX_SECONDS = 120
# Twilio's final call statuses (the status callback).
_ENDED = {"completed", "busy", "failed", "no-answer", "canceled"}


# --- Webhooks ------------------------------------------------------------------------------


@csrf_exempt
@require_POST
def voice(request: HttpRequest) -> HttpResponse:
    """A call comes in: greet the caller and play the main menu."""
    if not _signed(request):
        return HttpResponseForbidden()
    call_sid = request.POST.get("CallSid", "")
    if not call_sid:
        return HttpResponseBadRequest()
    return _twiml(phone_call_start(call_sid=call_sid, caller=request.POST.get("From", "")))


@csrf_exempt
@require_POST
def step(request: HttpRequest) -> HttpResponse:
    """The caller's answer to a prompt: keys (`Digits`), a recording, or nothing at all."""
    if not _signed(request):
        return HttpResponseForbidden()
    call_sid = request.POST.get("CallSid", "")
    if not call_sid:
        return HttpResponseBadRequest()
    return _twiml(
        phone_call_answer(call_sid=call_sid, turn=request.GET.get("turn", ""), params=request.POST)
    )


@csrf_exempt
@require_POST
def status(request: HttpRequest) -> HttpResponse:
    """Twilio's status callback: a call that ends without an outcome was hung up."""
    if not _signed(request):
        return HttpResponseForbidden()
    if request.POST.get("CallStatus") in _ENDED:
        now = clock.now()
        calls = PhoneCall.objects.filter(call_sid=request.POST.get("CallSid", ""))
        calls.filter(outcome="").update(outcome=CallOutcome.HUNG_UP)
        calls.filter(ended_at__isnull=True).update(ended_at=now, updated_at=now)
    return HttpResponse(status=204)


def _signed(request: HttpRequest) -> bool:
    """Whether X-Twilio-Signature is Twilio's over the URL it called and the form it sent.

    The URL is the public one (AUTOLETTURA_PUBLIC_BASE_URL): behind a proxy the app never
    sees the address Twilio signed. With no auth token configured nothing is accepted.
    """
    token = settings.AUTOLETTURA_TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        logger.warning("phone webhook %s refused: unsigned or no token", request.path)
        return False
    url = settings.AUTOLETTURA_PUBLIC_BASE_URL + request.get_full_path()
    if not RequestValidator(token).validate(url, request.POST, signature):
        logger.warning("phone webhook %s refused: bad signature", request.path)
        return False
    return True


def _twiml(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="text/xml; charset=utf-8")


# --- The conversation ----------------------------------------------------------------------


def phone_call_start(*, call_sid: str, caller: str) -> str:
    """The TwiML that answers a new call: the welcome and the main menu. A retried
    webhook for a call already started gets its last answer again."""
    now = clock.now()
    with transaction.atomic():
        call, created = PhoneCall.objects.select_for_update().get_or_create(
            call_sid=call_sid,
            defaults={
                "caller": storable(caller)[:32],
                "started_at": now,
                "updated_at": now,
            },
        )
        if not created:
            return call.last_response
        call.turn = 1
        with translation.override(call.language):
            reply = _Reply(call)
            reply.say(
                _("Welcome to %(utility)s's customer line.")
                % {"utility": settings.AUTOLETTURA_UTILITY_NAME}
            )
            _ask(call, reply)
        return _save(call, reply, now)


def phone_call_answer(*, call_sid: str, turn: str, params: QueryDict) -> str:
    """The TwiML that answers the caller's keys (or recording, or silence) for `turn`.

    An answer for a turn other than the current one (a retried webhook) gets the last
    TwiML again. A call never seen before starts as a new one.
    """
    now = clock.now()
    with transaction.atomic():
        call = PhoneCall.objects.select_for_update().filter(call_sid=call_sid).first()
        if call is None:
            return phone_call_start(call_sid=call_sid, caller=params.get("From", ""))
        if turn != str(call.turn):
            logger.info("phone %s: turn %s repeated (now %s)", call_sid, turn, call.turn)
            return call.last_response
        call.turn += 1
        with translation.override(call.language):
            reply = _Reply(call)
            _HANDLERS[CallStep(call.step)](call, params, reply, now)
        return _save(call, reply, now)


def _save(call: PhoneCall, reply: _Reply, now: datetime) -> str:
    call.last_response = str(reply.twiml)
    call.updated_at = now
    if call.step == CallStep.DONE and call.ended_at is None:
        call.ended_at = now
    call.save()
    return call.last_response


class _Reply:
    """The TwiML being written for one turn, in the active language."""

    def __init__(self, call: PhoneCall) -> None:
        self.call = call
        self.twiml = VoiceResponse()

    @property
    def action(self) -> str:
        path = reverse("channels:phone-step")
        return f"{settings.AUTOLETTURA_PUBLIC_BASE_URL}{path}?turn={self.call.turn}"

    def say(self, text: str, *, into: Any = None) -> None:
        language = translation.get_language() or settings.LANGUAGE_CODE
        voice = (
            settings.AUTOLETTURA_PHONE_VOICE_EN
            if language == "en"
            else settings.AUTOLETTURA_PHONE_VOICE_IT
        )
        target = self.twiml if into is None else into
        target.say(text, language=VOICE_LANGUAGES.get(language, "it-IT"), voice=voice)

    def gather(
        self,
        texts: Iterable[str | Callable[[Any], None]],
        *,
        num_digits: int | None = None,
        timeout: int = 8,
        again_on_silence: bool = True,
    ) -> None:
        """Prompt for keys, ended by # (or after `num_digits`); on silence, the same action
        is called with no Digits, which counts as a failed try."""
        gather = self.twiml.gather(
            input="dtmf",
            action=self.action,
            method="POST",
            finish_on_key="#",
            num_digits=num_digits,
            timeout=timeout,
        )
        for text in texts:
            if callable(text):
                text(gather)
            else:
                self.say(text, into=gather)
        if again_on_silence:
            self.twiml.redirect(self.action, method="POST")

    def record(self, text: str) -> None:
        self.say(text)
        self.twiml.record(
            action=self.action,
            method="POST",
            max_length=RECORDING_MAX_SECONDS,
            finish_on_key="#",
            play_beep=True,
            timeout=5,
        )
        # No recording (silence): the same action without RecordingUrl, a failed try.
        self.twiml.redirect(self.action, method="POST")

    def goodbye(self) -> None:
        self.say(_("Thank you for calling. Goodbye."))
        self.twiml.hangup()


def _ask(call: PhoneCall, reply: _Reply) -> None:
    """The prompt of the call's current step."""
    _PROMPTS[CallStep(call.step)](call, reply)


def _go(call: PhoneCall, step: CallStep, reply: _Reply) -> None:
    call.step = step
    call.tries = 0
    _ask(call, reply)


def _failed(call: PhoneCall, reply: _Reply, now: datetime, *why: str) -> None:
    """A failed try of the current step: say why and ask again, or end after the third."""
    call.tries += 1
    for text in why:
        reply.say(text)
    if call.tries >= MAX_TRIES:
        _give_up(call, reply, now)
    else:
        _ask(call, reply)


def _digits(params: QueryDict) -> str:
    return params.get("Digits", "").strip()


def _no_keys() -> str:
    return _("I did not receive any key.")


def _wrong_key() -> str:
    return _("That key is not one of the choices.")


# --- Main menu, language, info line --------------------------------------------------------


def _prompt_menu(call: PhoneCall, reply: _Reply) -> None:
    other = "en" if call.language == "it" else "it"

    def other_language(gather: Any) -> None:
        # Said in the other language: a caller who does not understand this one must.
        with translation.override(other):
            offer = _("For English, press 9.") if other == "en" else _("For Italian, press 9.")
            reply.say(offer, into=gather)

    reply.gather(
        [
            _("To communicate the reading of your water meter, press 1."),
            _("To report a fault, at any hour, press 2."),
            _("For the info line, press 3."),
            other_language,
        ],
        num_digits=1,
    )


def _on_menu(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    digits = _digits(params)
    if digits == "1":
        _go(call, CallStep.SUPPLY_CODE, reply)
    elif digits == "2":
        _go(call, CallStep.FAULT_CATEGORY, reply)
    elif digits == "3":
        _info_line(call, reply, now)
    elif digits == "9":
        call.language = "en" if call.language == "it" else "it"
        with translation.override(call.language):
            _go(call, CallStep.MENU, reply)
    else:
        _failed(call, reply, now, _wrong_key() if digits else _no_keys())


def _info_line_transferable(now: datetime) -> bool:
    return bool(settings.AUTOLETTURA_INFO_LINE_NUMBER) and info_line_status(now).open_now


def _info_line_hours(reply: _Reply, now: datetime) -> None:
    opening = info_line_status(now)
    reply.say(
        speakable(
            _("The info line's operators answer: %(hours)s")
            % {"hours": service_messages.office_hours_text(service_policy.info_line_hours())}
        )
    )
    reply.say(
        speakable(
            service_messages.opening_text(
                open_now=opening.open_now, opens_at=opening.opens_at, closes_at=opening.closes_at
            )
        )
    )


def _info_line(call: PhoneCall, reply: _Reply, now: datetime) -> None:
    """Transfer the caller to the info line while it is open; otherwise say its hours and
    go back to the menu."""
    if _info_line_transferable(now):
        reply.say(_("Please hold: we are putting you through to the info line."))
        reply.twiml.dial(settings.AUTOLETTURA_INFO_LINE_NUMBER, timeout=30)
        reply.goodbye()  # when the operator hangs up, or nobody answers
        call.step = CallStep.DONE
        call.outcome = CallOutcome.TRANSFERRED
        return
    _info_line_hours(reply, now)
    _go(call, CallStep.MENU, reply)


def _give_up(call: PhoneCall, reply: _Reply, now: datetime) -> None:
    """Three failed tries: end politely, offering the info line while it is open."""
    call.outcome = CallOutcome.GAVE_UP
    call.tries = 0
    reply.say(_("Sorry, we could not complete your request."))
    if _info_line_transferable(now):
        call.step = CallStep.OFFER_INFO_LINE
        reply.gather(
            [_("To speak with an operator of the info line, press 3; otherwise hang up.")],
            num_digits=1,
            again_on_silence=False,
        )
    else:
        call.step = CallStep.DONE
        _info_line_hours(reply, now)
    reply.goodbye()


def _prompt_offer(call: PhoneCall, reply: _Reply) -> None:
    reply.goodbye()


def _on_offer(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    if _digits(params) == "3":
        _info_line(call, reply, now)
    else:
        call.step = CallStep.DONE
        reply.goodbye()


def _prompt_done(call: PhoneCall, reply: _Reply) -> None:
    reply.goodbye()


def _on_done(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    reply.goodbye()


# --- The reading ---------------------------------------------------------------------------


def _prompt_supply_code(call: PhoneCall, reply: _Reply) -> None:
    reply.gather(
        [
            _(
                "Key in the supply code, printed on the first page of your bill, followed by "
                "the hash key."
            )
        ]
    )


def _prompt_customer_code(call: PhoneCall, reply: _Reply) -> None:
    reply.gather(
        [
            _(
                "Key in the customer code, printed on the first page of your bill, followed "
                "by the hash key."
            )
        ]
    )


def _prompt_reading(call: PhoneCall, reply: _Reply) -> None:
    reply.gather(
        [
            _(
                "Key in the reading of the meter: only the black digits, without the "
                "decimals, followed by the hash key."
            )
        ]
    )


def _prompt_read_on(call: PhoneCall, reply: _Reply) -> None:
    reply.gather(
        [
            _(
                "If you read the meter today, press 1 and the hash key. Otherwise key in the "
                "date of the reading in eight digits: two for the day, two for the month and "
                "four for the year."
            )
        ],
        num_digits=8,
    )


def _prompt_confirm(call: PhoneCall, reply: _Reply) -> None:
    values = call.gathered
    read_on = parsing.parse_read_on(values["read_on"], allow_iso=False)
    reply.gather(
        [
            _(
                "You keyed in: supply code %(supply_code)s. Customer code %(customer_code)s. "
                "Reading %(reading)s. Date %(read_on)s."
            )
            % {
                "supply_code": spell(values["supply_code"]),
                "customer_code": spell(values["customer_code"]),
                "reading": spell(values["reading"]),
                "read_on": spoken_date(read_on),
            },
            _("Press 1 to confirm, 2 to correct."),
        ],
        num_digits=1,
    )


def _prompt_correct(call: PhoneCall, reply: _Reply) -> None:
    reply.gather(
        [
            _(
                "What do you want to correct? The supply code, press 1. The customer code, "
                "press 2. The reading, press 3. The date, press 4."
            )
        ],
        num_digits=1,
    )


def _next_reading_step(call: PhoneCall, reply: _Reply) -> None:
    """On to the first value still missing, or to the read-back once all are there."""
    for step_, field in READING_STEPS:
        if field not in call.gathered:
            _go(call, step_, reply)
            return
    _go(call, CallStep.CONFIRM, reply)


def _keyed(
    call: PhoneCall,
    params: QueryDict,
    reply: _Reply,
    now: datetime,
    field: str,
    check: Callable[[str], str],
) -> None:
    """Keep the value keyed in for `field` when `check` takes it (it returns what to keep);
    a format error is spoken, with the step asked again."""
    digits = _digits(params)
    if not digits:
        _failed(call, reply, now, _no_keys())
        return
    try:
        value = check(digits)
    except FormatError as exc:
        _failed(call, reply, now, *(spoken_error(e) for e in exc.errors))
        return
    call.gathered = {**call.gathered, field: value}
    _next_reading_step(call, reply)


def _check_code(field: str) -> Callable[[str], str]:
    def check(digits: str) -> str:
        parsing.normalize_code(digits, field=field)
        return digits

    return check


def _check_reading(digits: str) -> str:
    # The star is where a caller keys a decimal point: the rules then say "no decimals".
    parsing.parse_reading_value(digits.replace("*", ","))
    return digits


def _on_supply_code(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    _keyed(call, params, reply, now, "supply_code", _check_code("supply_code"))


def _on_customer_code(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    _keyed(call, params, reply, now, "customer_code", _check_code("customer_code"))


def _on_reading(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    _keyed(call, params, reply, now, "reading", _check_reading)


def _on_read_on(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    today = rome_today(now)

    def check(digits: str) -> str:
        if digits == "1":
            return format_day(today)
        if len(digits) != 8 or not digits.isdigit():
            raise FormatError(FieldError("read_on", "date_invalid"))
        day = parsing.parse_read_on(f"{digits[:2]}/{digits[2:4]}/{digits[4:]}", allow_iso=False)
        parsing.check_read_on(day, today=today, meter_installed_on=None)
        return format_day(day)

    _keyed(call, params, reply, now, "read_on", check)


def _on_confirm(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    digits = _digits(params)
    if digits == "1":
        _submit(call, reply, now)
    elif digits == "2":
        _go(call, CallStep.CORRECT, reply)
    else:
        _failed(call, reply, now, _wrong_key() if digits else _no_keys())


def _on_correct(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    digits = _digits(params)
    if digits in {"1", "2", "3", "4"}:
        step_, field = READING_STEPS[int(digits) - 1]
        call.gathered = {k: v for k, v in call.gathered.items() if k != field}
        _go(call, step_, reply)
    else:
        _failed(call, reply, now, _wrong_key() if digits else _no_keys())


# The values to key in again after a format error found on submission.
_FIELDS_OF_ERROR = {
    "codes": ("supply_code", "customer_code"),
    "supply_code": ("supply_code",),
    "customer_code": ("customer_code",),
    "reading": ("reading",),
    "read_on": ("read_on",),
}


def _submit(call: PhoneCall, reply: _Reply, now: datetime) -> None:
    """Take the reading in charge, and say its outcome and receipt; a format error (codes
    that do not match, too many digits for this meter, ...) is spoken and its values asked
    again, up to three submissions."""
    call.submissions += 1
    values = call.gathered
    outcome = inbound_reading_submit(
        channel=Channel.PHONE,
        provider_message_id=f"{call.call_sid}:reading:{call.submissions}",
        payload={field: values[field] for _step, field in READING_STEPS},
        now=now,
        sender=call.caller,
    )
    if outcome.submission is None:
        for error in outcome.errors:
            reply.say(spoken_error(error))
        if call.submissions >= MAX_TRIES:
            _give_up(call, reply, now)
            return
        wrong = {
            field
            for error in outcome.errors
            for field in _FIELDS_OF_ERROR.get(error.field, tuple(values))
        }
        call.gathered = {k: v for k, v in values.items() if k not in wrong}
        _next_reading_step(call, reply)
        return
    reading = outcome.submission.reading
    reply.say(spoken_outcome(reading, outcome.submission.window))
    reply.say(
        _("Once more, the receipt number: %(receipt)s.") % {"receipt": spell(reading.receipt or "")}
    )
    reply.goodbye()
    call.step = CallStep.DONE
    call.outcome = CallOutcome.READING
    call.reading = reading


# --- Fault reports -------------------------------------------------------------------------


def _prompt_fault_category(call: PhoneCall, reply: _Reply) -> None:
    reply.gather(
        [
            _("What kind of fault do you want to report?"),
            *(
                _("For %(category)s, press %(digit)s.")
                % {"category": category.label, "digit": digit}
                for digit, category in enumerate(FAULT_CATEGORIES, start=1)
            ),
        ],
        num_digits=1,
    )


def _on_fault_category(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    digits = _digits(params)
    # Compared as text: int() refuses some of what isdigit() takes ("²"), and very long keys.
    keys = [str(digit) for digit in range(1, len(FAULT_CATEGORIES) + 1)]
    if digits in keys:
        call.gathered = {**call.gathered, "category": FAULT_CATEGORIES[int(digits) - 1].value}
        _go(call, CallStep.FAULT_RECORDING, reply)
    else:
        _failed(call, reply, now, _wrong_key() if digits else _no_keys())


def _prompt_fault_recording(call: PhoneCall, reply: _Reply) -> None:
    reply.record(
        _(
            "After the tone, say where the fault is: street, house number and town. Then say "
            "what you see. When you have finished, press the hash key."
        )
    )


def _on_fault_recording(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    url = params.get("RecordingUrl", "").strip()
    seconds = params.get("RecordingDuration", "0").strip()
    # Kept in the call's JSON and the report: a URL with a NUL (PostgreSQL stores none) or a
    # duration int() cannot read ("²", thousands of digits) is no recording.
    if (
        not url.startswith(("https://", "http://"))
        or not url.isprintable()
        or not re.fullmatch(r"[0-9]{1,6}", seconds)
        or int(seconds) <= 0
    ):
        _failed(call, reply, now, _("I did not hear any message."))
        return
    call.gathered = {**call.gathered, "recording_url": url, "recording_seconds": int(seconds)}
    _fault_report(call, reply, now, callback=call.caller)


def _prompt_fault_callback(call: PhoneCall, reply: _Reply) -> None:
    reply.gather(
        [_("Key in a phone number on which we can call you back, followed by the hash key.")]
    )


def _on_fault_callback(call: PhoneCall, params: QueryDict, reply: _Reply, now: datetime) -> None:
    digits = _digits(params)
    if not digits:
        _failed(call, reply, now, _no_keys())
        return
    _fault_report(call, reply, now, callback=digits)


def _fault_report(call: PhoneCall, reply: _Reply, now: datetime, *, callback: str) -> None:
    """Open the ticket with the recording, and say its number. A number the service cannot
    call back (a withheld caller id, a number keyed wrong) is asked for instead."""
    url = call.gathered["recording_url"]
    # For the crew, in the utility's language whatever the caller's.
    with translation.override(settings.LANGUAGE_CODE):
        address = _("In the voice recording: %(url)s") % {"url": url}
        description = _(
            "Reported on the phone line. The caller's recorded message, with the location: "
            "%(url)s (%(seconds)s seconds)."
        ) % {"url": url, "seconds": call.gathered["recording_seconds"]}
    try:
        report = fault_report_create(
            category=call.gathered["category"],
            description=description,
            address=address[:300],
            latitude=None,
            longitude=None,
            contact_name="",
            contact_phone=callback,
            contact_email="",
            channel=FaultChannel.PHONE,
            now=now,
            language=call.language,
        )
    except FaultReportRejected as exc:
        unreachable = all(e.field in {"contact", "contact_phone"} for e in exc.errors)
        if not unreachable:
            logger.error("phone %s: fault report refused: %s", call.call_sid, exc)
            _give_up(call, reply, now)
        elif call.step == CallStep.FAULT_CALLBACK:
            _failed(call, reply, now, *(spoken_fault_error(e) for e in exc.errors))
        else:
            reply.say(_("We cannot see your phone number."))
            _go(call, CallStep.FAULT_CALLBACK, reply)
        return
    reply.say(spoken_fault_received(report))
    reply.say(_("Once more, the ticket number: %(ticket)s.") % {"ticket": spell(report.ticket)})
    reply.goodbye()
    call.step = CallStep.DONE
    call.outcome = CallOutcome.FAULT
    call.fault_report = report


_Handler = Callable[[PhoneCall, QueryDict, _Reply, datetime], None]
_HANDLERS: dict[CallStep, _Handler] = {
    CallStep.MENU: _on_menu,
    CallStep.SUPPLY_CODE: _on_supply_code,
    CallStep.CUSTOMER_CODE: _on_customer_code,
    CallStep.READING: _on_reading,
    CallStep.READ_ON: _on_read_on,
    CallStep.CONFIRM: _on_confirm,
    CallStep.CORRECT: _on_correct,
    CallStep.FAULT_CATEGORY: _on_fault_category,
    CallStep.FAULT_RECORDING: _on_fault_recording,
    CallStep.FAULT_CALLBACK: _on_fault_callback,
    CallStep.OFFER_INFO_LINE: _on_offer,
    CallStep.DONE: _on_done,
}
_PROMPTS: dict[CallStep, Callable[[PhoneCall, _Reply], None]] = {
    CallStep.MENU: _prompt_menu,
    CallStep.SUPPLY_CODE: _prompt_supply_code,
    CallStep.CUSTOMER_CODE: _prompt_customer_code,
    CallStep.READING: _prompt_reading,
    CallStep.READ_ON: _prompt_read_on,
    CallStep.CONFIRM: _prompt_confirm,
    CallStep.CORRECT: _prompt_correct,
    CallStep.FAULT_CATEGORY: _prompt_fault_category,
    CallStep.FAULT_RECORDING: _prompt_fault_recording,
    CallStep.FAULT_CALLBACK: _prompt_fault_callback,
    CallStep.OFFER_INFO_LINE: _prompt_offer,
    CallStep.DONE: _prompt_done,
}
