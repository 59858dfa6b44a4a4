"""Every parser of what comes from outside, against arbitrary input: it gives a result or
raises its own error, nothing else; and what it gives can be stored (PostgreSQL keeps no NUL
character, in text or in JSON, so none may come out).

- `rules.parsing`, codes, reading and date (FormatError): text and numbers in
  test_parsing.py, any JSON value here;
- `rules.freetext` parse_message and parse_sms (no error): test_freetext.py; clean_text and
  guess_language: here;
- `channels.email`, a mail as fetched, from its bytes (no error), and internal_date (None);
- `channels.whatsapp` messages_from, a webhook's decoded JSON (MalformedWebhook);
- `channels.sms` TwilioSms.parse, the form Twilio posts (MalformedSms);
- `channels.phone`, the keys and recordings Twilio posts, at every step of a call (TwiML
  always: a wrong key is spoken back);
- `rules.hours`, the settings' sessions, weekdays and month-days (ValueError);
- `billing.tariffs` tariffs_load, a tariff file's bytes (TariffFileInvalid);
- `bulk.CsvFile` and the rows of both imports (ImportFileError, or refusals by line).
"""

from __future__ import annotations

import io
import itertools
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.http import QueryDict
from django.test import RequestFactory
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from imap_tools.message import MailMessage

from autolettura.billing.tariffs import TariffFileInvalid, tariffs_load
from autolettura.bulk import CsvFile, CsvRow, ImportFileError
from autolettura.channels import phone
from autolettura.channels.email import (
    _header_text,
    auto_reply_reason,
    internal_date,
    mail_text,
    meter_photo,
    provider_message_id,
    sender_address,
    sent_on,
)
from autolettura.channels.models import CallStep, PhoneCall
from autolettura.channels.sms import MalformedSms, TwilioSms
from autolettura.channels.whatsapp import MalformedWebhook, messages_from
from autolettura.customers.imports import (
    CUSTOMER_COLUMNS,
    CUSTOMER_OPTIONAL_COLUMNS,
    _customer_row,
)
from autolettura.readings.imports import READING_COLUMNS, _RowParser
from autolettura.rules import hours
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.freetext import clean_text, guess_language, parse_message
from autolettura.rules.parsing import normalize_code, parse_read_on, parse_reading_value
from autolettura.rules.window import ROME
from tests.channels.fakes import whatsapp_text

from .support import properties

NOW = datetime(2026, 12, 20, 10, 0, tzinfo=ROME)
TODAY = NOW.date()

# Fewer examples where each one costs a database round trip or a file.
heavier = settings(properties, max_examples=40, suppress_health_check=list(HealthCheck))

# Text with what breaks naive parsers more often than plain random text would: NUL and
# other controls, digits that are not ASCII ("²" is a digit Python's int() refuses), line
# ends of every kind, a lone surrogate escape of a byte that was not UTF-8.
TRICKY = "\x00\x01\x7f\r\n\t \u2028\u00b2\u0661\u0663\u00df\u0130\udcff#*/-.,:;<>@\"'\\=?"
tricky_text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(TRICKY), max_size=60)
texts = st.text(max_size=60) | tricky_text

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: Python's json module reads them
    | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def variants(draw: st.DrawFn, valid: dict[str, Any], other: st.SearchStrategy[Any]) -> Any:
    """`valid` with some of its values replaced by `other` ones, or left out."""
    changed = {}
    for key, value in valid.items():
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue
        changed[key] = draw(other) if choice == 1 else value
    return changed


def has_nul(value: object) -> bool:
    """Whether a NUL character is anywhere in `value`, a string or decoded JSON."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


# --- rules.parsing: any JSON value, as a channel may hand one over ----------------------------


class TestRulesParsers:
    @properties
    @given(json_values)
    def test_a_code_is_a_code_or_a_format_error(self, raw: object) -> None:
        try:
            code = normalize_code(raw, field="supply_code")
        except FormatError as exc:
            assert {e.code for e in exc.errors} <= {"required", "code_invalid"}
        else:
            assert code.isascii() and code == code.upper() and not has_nul(code)

    @properties
    @given(json_values, st.none() | st.integers(min_value=1, max_value=9))
    def test_a_reading_is_a_value_or_a_format_error(self, raw: object, digits: int | None) -> None:
        try:
            value = parse_reading_value(raw, digits=digits)
        except FormatError as exc:
            assert {e.code for e in exc.errors} <= {
                "required",
                "reading_invalid",
                "decimals_not_allowed",
                "too_many_digits",
            }
        else:
            assert 0 <= value < 10 ** (digits or 9)

    @properties
    @given(json_values)
    def test_a_date_is_a_date_or_a_format_error(self, raw: object) -> None:
        try:
            day = parse_read_on(raw)
        except FormatError as exc:
            assert {e.code for e in exc.errors} <= {"required", "date_invalid"}
        else:
            assert type(day) is date


# --- rules.freetext: the parts parse_message and parse_sms are made of ------------------------


class TestFreeText:
    @properties
    @given(st.text(max_size=2000) | tricky_text)
    def test_clean_text_gives_lines_of_the_text(self, text: str) -> None:
        cleaned = clean_text(text)

        kept = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        assert all(line in kept for line in cleaned.split("\n") if line)

    @properties
    @given(st.text(max_size=2000) | tricky_text)
    def test_guess_language_is_italian_or_english(self, text: str) -> None:
        assert guess_language(text) in {"it", "en"}


# --- channels.email: a mail, from its raw bytes to what is logged and parsed ------------------

JPEG_BASE64 = b"/9j/4AAQSkZJRgABAQAAAQABAAD/"
MAIL_HEADERS = {
    "From": "Mario Rossi <mario@example.org>",
    "To": "letture@example.org",
    "Subject": "=?utf-8?b?TGV0dHVyYQ==?=",
    "Message-ID": "<m1@example.org>",
    "Date": "Sun, 20 Dec 2026 10:00:00 +0100",
    "Auto-Submitted": "no",
    "Return-Path": "<mario@example.org>",
    "X-Loop": "letture@example.org",
}
HEADER_VALUES = (
    st.sampled_from(
        [
            "a\x00b@example.org",
            "=?x-unknown?q?abc?=",
            "=?utf-8?b?!!!?=",
            "Mon, 99 Foo 2026 25:61:61 +9999",
            "<>",
            "auto-replied",
        ]
    )
    | texts
)
PART_TYPES = (
    st.sampled_from(
        [
            "image/jpeg",
            "image/png",
            "image/svg+xml",
            "application/pdf",
            "text/plain; charset=x-bogus",
            "text/html; charset=utf-7",
            "multipart/report",
        ]
    )
    | texts
)
ENCODINGS = st.sampled_from(["base64", "quoted-printable", "7bit", "x-unknown", ""])


def _line(name: str, value: str) -> bytes:
    return f"{name}: {value}".encode("utf-8", "surrogateescape")


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    """Mails with the headers and parts this channel reads, their values often broken."""
    headers = draw(variants(MAIL_HEADERS, HEADER_VALUES))
    lines = [_line(name, value) for name, value in headers.items()]
    text = draw(st.sampled_from([b"lettura 00350 utenza 400120734 utente 1004127"]) | st.binary())
    if not draw(st.booleans()):
        return b"\r\n".join([*lines, b"", text])
    parts = [b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text]
    for _ in range(draw(st.integers(1, 2))):
        filename = draw(st.sampled_from(["contatore.jpg", "c\x00.jpg"]) | texts)
        payload = draw(st.sampled_from([JPEG_BASE64, b"=ZZ=\xff\x00"]) | st.binary(max_size=80))
        part = [
            _line("Content-Type", draw(PART_TYPES)),
            _line("Content-Disposition", f'attachment; filename="{filename}"'),
            _line("Content-Transfer-Encoding", draw(ENCODINGS)),
        ]
        parts.append(b"\r\n".join([*part, b"", payload]))
    body = b"".join(b"--b\r\n" + part + b"\r\n" for part in parts) + b"--b--\r\n"
    lines.append(b'Content-Type: multipart/mixed; boundary="b"')
    return b"\r\n".join([*lines, b"", body])


# Found by these properties: a NUL in the sender's address and in a photo's name reached
# the inbound log, which PostgreSQL refused.
NUL_IN_MAIL = (
    b'From: a\x00b@example.org\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nlettura 12\r\n--b\r\nContent-Type: image/jpeg\r\n"
    b'Content-Disposition: attachment; filename="a\x00.jpg"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--b--\r\n"
)


class TestEmail:
    @properties
    @given(mails() | st.binary(max_size=600))
    @example(NUL_IN_MAIL)
    def test_any_mail_is_read_into_values_that_can_be_stored(self, raw: bytes) -> None:
        # What email_receive reads from a mail before anything is written.
        message = MailMessage.from_bytes(raw)
        obj = message.obj
        sender = sender_address(obj)
        logged = {
            "provider_message_id": provider_message_id(obj),
            "message_id": _header_text(obj.get("Message-ID")),
            "from": _header_text(obj.get("From")),
            "subject": _header_text(obj.get("Subject")),
            "text": mail_text(message),
            "sender": sender,
        }
        photo = meter_photo(message)
        if photo is not None:
            logged["photo"] = photo[1]

        assert auto_reply_reason(obj, own_addresses={"letture@example.org"}) in {
            None,
            "auto_submitted",
            "bulk",
            "mailing_list",
            "bounce",
            "no_sender",
            "system_sender",
            "own_address",
        }
        assert not has_nul(logged), logged
        assert sender == "" or sender.count("@") == 1
        parse_message(logged["text"], subject=logged["subject"])
        assert sent_on(obj, arrived_at=NOW) <= TODAY

    @properties
    @given(st.binary(max_size=120) | st.builds(lambda s: s.encode(), tricky_text))
    def test_an_imap_internaldate_is_an_instant_or_none(self, line: bytes) -> None:
        for candidate in (line, b'1 (UID 7 INTERNALDATE "' + line + b'")'):
            stamp = internal_date(candidate)
            assert stamp is None or stamp.utcoffset() is not None


# --- channels.whatsapp: a webhook's decoded JSON ----------------------------------------------


@st.composite
def webhooks(draw: st.DrawFn) -> Any:
    """Cloud API webhooks with any part replaced by another JSON value."""

    def maybe(value: Any) -> Any:
        return draw(st.just(value) | json_values) if draw(st.integers(0, 9)) == 0 else value

    kind = draw(st.sampled_from(["text", "image", "audio", ""]) | texts)
    content = {"body": draw(texts), "id": draw(texts), "caption": draw(texts)}
    message = {
        "id": maybe(draw(texts)),
        "from": maybe(draw(st.from_regex(r"\d{6,15}", fullmatch=True) | texts)),
        "type": maybe(kind),
        kind: maybe(content),
    }
    value = {"messages": maybe([message]), "statuses": maybe([])}
    return maybe({"entry": maybe([maybe({"changes": maybe([maybe({"value": maybe(value)})])})])})


class TestWhatsApp:
    @properties
    @given(webhooks() | json_values)
    # Found by this property: the NUL reached the inbound log, which PostgreSQL refused.
    @example(whatsapp_text("wamid.1", "393471234567", "lettura\x00 350"))
    def test_a_webhook_gives_messages_or_malformed(self, payload: Any) -> None:
        try:
            messages = messages_from(payload)
        except MalformedWebhook:
            return
        for message in messages:
            assert message.message_id and len(message.message_id) <= 200
            assert message.phone.startswith("+") and message.phone[1:].isdigit()
            # The message is logged whole (InboundMessage.payload).
            assert not has_nul([message.message_id, message.text, message.media_id, message.raw])
            json.dumps(message.raw)


# --- channels.sms: the form Twilio posts ------------------------------------------------------


SMS_FORM = {
    "MessageSid": "SM" + "0" * 32,
    "From": "+393471234567",
    "To": "+393200000333",
    "Body": "400120734#1004127#350",
}


class TestSms:
    @properties
    @given(variants(SMS_FORM, texts))
    # Found by this property: the NUL reached the inbound log, which PostgreSQL refused.
    @example({**SMS_FORM, "Body": "400120734#1004127#350\x00", "From": "+39\x00347"})
    def test_a_webhook_form_gives_a_message_or_malformed(self, form: dict[str, str]) -> None:
        request = RequestFactory().post("/channels/sms/webhook", form)
        try:
            sms = TwilioSms(auth_token="t", public_base_url="https://example.org").parse(request)
        except MalformedSms:
            return
        assert not has_nul([sms.message_id, sms.sender, sms.text])
        assert sms.sender and len(sms.sender) <= 200


# --- channels.phone: the keys (and recordings) Twilio posts, at every step of a call ----------

_calls = itertools.count(1)
# What a call has gathered when it reaches each step (a correction goes back to a step with
# the others kept: the step's own value is then asked again, as here).
_CODES = {"supply_code": "400120734", "customer_code": "1004127"}
_READING = {**_CODES, "reading": "00350", "read_on": "20/12/2026"}
_RECORDED = {"category": "LEAK", "recording_url": "https://api.twilio.com/rec/RE1"}
GATHERED_AT: dict[CallStep, dict[str, Any]] = {
    CallStep.MENU: {},
    CallStep.SUPPLY_CODE: {},
    CallStep.CUSTOMER_CODE: {"supply_code": "400120734"},
    CallStep.READING: _CODES,
    CallStep.READ_ON: {**_CODES, "reading": "00350"},
    CallStep.CONFIRM: _READING,
    CallStep.CORRECT: _READING,
    CallStep.FAULT_CATEGORY: {},
    CallStep.FAULT_RECORDING: {"category": "LEAK"},
    CallStep.FAULT_CALLBACK: {**_RECORDED, "recording_seconds": 12},
    CallStep.OFFER_INFO_LINE: {},
}
PHONE_PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "Digits": st.sampled_from(
            ["1", "2", "3", "9", "*", "#", "20122026", "12*5", "\u00b2", "\u0661"]
        )
        | st.from_regex(r"[0-9*#]{0,12}", fullmatch=True)
        | texts,
        "RecordingUrl": st.sampled_from(["https://api.twilio.com/rec/RE1", ""]) | texts,
        "RecordingDuration": st.sampled_from(["12", "0", "\u00b2", "9" * 5000]) | texts,
        "From": st.sampled_from(["+393471234567", "anonymous"]) | texts,
    },
)


# Found by this property: int() refused a duration or a key isdigit() took ("²", thousands
# of digits), and a NUL in the recording's address or the caller reached the database.
BROKEN_KEYS = {
    "Digits": "\u00b2",
    "RecordingUrl": "https://api.twilio.com/rec/RE1",
    "RecordingDuration": "\u00b2",
}
HUGE_KEYS = {
    "Digits": "9" * 5000,
    "RecordingUrl": "https://api.twilio.com/rec/\x00",
    "RecordingDuration": "9" * 5000,
    "From": "+39\x00347",
}


@pytest.mark.django_db
class TestPhone:
    @pytest.mark.parametrize("step", [None, *GATHERED_AT], ids=str)
    @settings(heavier, max_examples=15)
    @given(language=st.sampled_from(["it", "en"]), params=PHONE_PARAMS)
    @example(language="it", params=BROKEN_KEYS)
    @example(language="en", params=HUGE_KEYS)
    def test_any_answer_at_any_step_gets_twiml_and_stores_no_nul(
        self, step: CallStep | None, language: str, params: dict[str, str]
    ) -> None:
        sid = f"CA{next(_calls):032d}"
        form = QueryDict(mutable=True)
        form.update(params)
        with transaction.atomic():
            if step is not None:  # else a call the line has not seen yet
                PhoneCall.objects.create(
                    call_sid=sid,
                    caller="+393471234567",
                    started_at=NOW,
                    updated_at=NOW,
                    language=language,
                    step=step,
                    turn=1,
                    gathered=GATHERED_AT[step],
                )

            twiml = phone.phone_call_answer(call_sid=sid, turn="1", params=form)

            assert twiml.startswith("<?xml") and "<Response>" in twiml
            call = PhoneCall.objects.get(call_sid=sid)
            assert not has_nul([call.caller, call.gathered])
            transaction.set_rollback(True)  # the next example starts from the same data


# --- rules.hours: the settings' parsers ---------------------------------------------------------


class TestHoursSettings:
    @properties
    @given(
        st.from_regex(r"\d{1,2}:\d{2}-\d{1,2}:\d{2}(,\d{1,2}:\d{2}-\d{1,2}:\d{2})?", fullmatch=True)
        | texts
    )
    def test_sessions_or_value_error(self, text: str) -> None:
        try:
            sessions = hours.parse_sessions(text)
        except ValueError:
            return
        assert all(opens < closes for opens, closes in sessions)

    @properties
    @given(st.from_regex(r"[0-9]{1,2}(-[0-9]{1,2})?(,[0-9]{1,2})?", fullmatch=True) | texts)
    def test_weekdays_or_value_error(self, text: str) -> None:
        try:
            days = hours.parse_weekdays(text)
        except ValueError:
            return
        assert days and days <= set(range(1, 8))

    @properties
    @given(st.from_regex(r"[0-9]{2}-[0-9]{2}|none|NONE", fullmatch=True) | texts)
    def test_a_month_day_or_value_error(self, text: str) -> None:
        try:
            found = hours.parse_month_day(text)
        except ValueError:
            return
        assert found is None or date(2000, *found)


# --- billing.tariffs: a tariff file -------------------------------------------------------------

NUMBERS = st.sampled_from(["0.5", "1e9", "-1", "NaN", "Infinity", "1" * 30, "0.1234567"])
tariff_numbers = NUMBERS | st.integers() | st.floats() | st.booleans() | texts | st.none()


@st.composite
def tariff_files(draw: st.DrawFn) -> Any:
    """Tariff files shaped like the example, any value or part replaced."""

    def maybe(value: Any) -> Any:
        return draw(json_values) if draw(st.integers(0, 9)) == 0 else value

    def band(last: bool) -> Any:
        upper = None if last else draw(tariff_numbers)
        name = draw(st.sampled_from(["base", "x" * 61]) | texts)
        return maybe({"name": name, "upper_m3_year": upper, "price_eur_m3": draw(tariff_numbers)})

    def tariff() -> Any:
        count = draw(st.integers(0, 3))
        return maybe(
            {
                "usage": draw(st.sampled_from(["domestic_resident", "business"]) | texts),
                "fixed_quota_eur_year": draw(tariff_numbers),
                "sewerage_eur_m3": draw(tariff_numbers),
                "treatment_eur_m3": draw(tariff_numbers),
                "vat_rate": draw(tariff_numbers),
                "agevolata_m3_per_member": draw(tariff_numbers),
                "bands": maybe([band(i == count - 1) for i in range(count)]),
            }
        )

    year = draw(st.sampled_from([2026, 0, -1, 10**12, True]) | json_values)
    return maybe(
        {"year": year, "tariffs": maybe([tariff() for _ in range(draw(st.integers(0, 2)))])}
    )


@pytest.mark.django_db
class TestTariffFile:
    @heavier
    @given(tariff_files().map(lambda d: json.dumps(d).encode()) | st.binary(max_size=80))
    def test_a_file_is_loaded_or_refused_as_invalid(self, tmp_path: Path, raw: bytes) -> None:
        path = tmp_path / "tariff.json"
        path.write_bytes(raw)
        with transaction.atomic():
            try:
                tariffs = tariffs_load(path=path)
            except TariffFileInvalid as exc:
                assert str(exc)
            else:
                for tariff in tariffs:
                    tariff.refresh_from_db()  # stored as given, within its columns
                    assert tariff.bands.exists()
            transaction.set_rollback(True)


# --- Imports: the CSV file and each row ---------------------------------------------------------


class Refusals:
    """Where a parser reports refused rows (the import's RefusalLog, without its table)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, list[FieldError]]] = []

    def add(self, line: int, errors: list[FieldError]) -> None:
        self.rows.append((line, list(errors)))


VALID_CUSTOMER = {
    "customer_code": "1004127",
    "supply_code": "400120734",
    "name": "Giulia Ferrari",
    "email": "giulia@example.org",
    "phone": "+39 347 1234567",
    "address": "Via Roma 12, Valmora",
    "usage": "domestic_resident",
    "household_members": "3",
    "meter_serial": "VM0001",
    "meter_digits": "5",
    "meter_installed_on": "01/01/2024",
    "initial_reading": "00012",
    "condominium": "COND-VIA-ROMA-12",
}
VALID_READING = {
    "supply_code": "400120734",
    "read_on": "20/12/2026",
    "value": "00350",
    "source": "operator",
}


def row(columns: tuple[str, ...], values: dict[str, str]) -> CsvRow:
    return CsvRow(2, tuple(values.get(column, "") for column in columns))


class TestImports:
    @properties
    @given(
        st.sampled_from([b"", b"supply_code,read_on,value,source\n", b"a;b;c\n", b"\xff\xfe\n"]),
        st.binary(max_size=300) | st.builds(lambda s: s.encode("utf-8", "surrogatepass"), texts),
    )
    def test_a_file_gives_rows_of_the_columns_or_an_import_error(
        self, header: bytes, rest: bytes
    ) -> None:
        refusals = Refusals()
        try:
            rows = list(CsvFile(io.BytesIO(header + rest), READING_COLUMNS, refusals))  # type: ignore[arg-type]
        except ImportFileError as exc:
            assert str(exc)
            return
        assert all(len(row.fields) == len(READING_COLUMNS) for row in rows)
        lines = [row.line for row in rows] + [line for line, _ in refusals.rows]
        assert len(lines) == len(set(lines))

    @properties
    @given(variants(VALID_CUSTOMER, texts))
    # Found by this property: a NUL in a name was staged, and stopped the import at the COPY.
    @example({**VALID_CUSTOMER, "name": "Giulia\x00 Ferrari", "meter_serial": "VM\x00"})
    def test_a_customer_row_is_staged_storable_or_refused(self, values: dict[str, str]) -> None:
        refusals = Refusals()

        columns = CUSTOMER_COLUMNS + CUSTOMER_OPTIONAL_COLUMNS
        staged = _customer_row(row(columns, values), TODAY, 5, refusals)  # type: ignore[arg-type]

        if staged is None:
            ((line, errors),) = refusals.rows
            assert line == 2 and errors
        else:
            assert not refusals.rows
            assert not has_nul([v for v in staged if isinstance(v, str)]), staged

    @properties
    @given(variants(VALID_READING, texts))
    def test_a_reading_row_is_staged_storable_or_refused(self, values: dict[str, str]) -> None:
        parsed = _RowParser(TODAY).parse(row(READING_COLUMNS, values))

        if isinstance(parsed, list):
            assert parsed and all(isinstance(e, FieldError) for e in parsed)
        else:
            assert not has_nul([v for v in parsed if isinstance(v, str)]), parsed
