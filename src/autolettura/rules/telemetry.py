"""Smart-meter telegrams and leak rules: pure functions, no database.

Two payload formats, as their projects document them:

- wmbusmeters JSON (https://wmbusmeters.org): `id` (the meter's radio id), `meter` (the
  driver), `media`, `total_m3`, `timestamp` (ISO 8601 with its offset), and the driver's
  status: `current_status` or `status` ("OK", or words such as "LEAK", "BURST",
  "BACKFLOW"/"REVERSED", "DRY", "TAMPER"), or boolean fields of those names.
- ChirpStack v4 uplink events (`deviceInfo.devEui`, `time`, and either `object`, what the
  device profile's codec decoded, or `data`, the raw payload, read here by
  `qalcosonic_decode`), as either of ChirpStack's MQTT marshalers publishes them: JSON
  (`data` in base64), or Protobuf (`integration.UplinkEvent` of ChirpStack's own
  `chirpstack-api` package). Told apart by their content: a JSON event is an object, so
  it starts with `{`; a Protobuf one never does (that byte would open field 15 as a group,
  which UplinkEvent does not have).

A telegram becomes a `Telegram` (radio id, time, register in litres, alarm flags) or a
`TelegramError` whose `reason` is one of REASONS, for the counters and the log.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import orjson
from chirpstack_api.integration import integration_pb2
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError

# Alarm flags, as bits: stored in one small integer per point, OR-ed into the aggregates.
LEAK = 1
BURST = 2
BACKFLOW = 4
DRY = 8
TAMPER = 16
FLAG_NAMES = {"leak": LEAK, "burst": BURST, "backflow": BACKFLOW, "dry": DRY, "tamper": TAMPER}
# Status words of wmbusmeters drivers, to the flags above ("REVERSED" is a backflow).
_STATUS_WORDS = {
    "LEAK": LEAK,
    "LEAKING": LEAK,
    "BURST": BURST,
    "BURSTING": BURST,
    "BACKFLOW": BACKFLOW,
    "REVERSED": BACKFLOW,
    "REVERSE_FLOW": BACKFLOW,
    "DRY": DRY,
    "TAMPER": TAMPER,
    "MANIPULATION": TAMPER,
}

# The largest register a meter shows: nine digits of m³, in litres.
MAX_REGISTER_L = 999_999_999_000
# A radio id: wM-Bus ids are 8 decimal digits, LoRaWAN DevEUIs 16 hex digits.
MAX_RADIO_ID = 32
# A clock may be a little ahead; a telegram from further in the future is impossible.
FUTURE_TOLERANCE = timedelta(hours=1)

MALFORMED = "malformed"
UNKNOWN_FORMAT = "unknown_format"
IMPOSSIBLE = "impossible_value"
TOO_OLD = "too_old"
UNKNOWN_DEVICE = "unknown_device"
REASONS = (MALFORMED, UNKNOWN_FORMAT, IMPOSSIBLE, TOO_OLD, UNKNOWN_DEVICE)


class Telegram(NamedTuple):
    # A tuple, not a dataclass: one is made per telegram, and a tuple is the cheapest.
    radio_id: str
    at: datetime  # aware, UTC
    register_l: int
    flags: int


@dataclass(frozen=True, slots=True)
class TelegramError:
    reason: str  # one of REASONS
    detail: str


def telegram_parse(
    payload: bytes, *, now: datetime, oldest: datetime | None = None
) -> Telegram | TelegramError:
    """One MQTT payload, in either format, checked: never raises."""
    parsed = _parse(payload)
    if isinstance(parsed, TelegramError):
        return parsed
    if parsed.at > now + FUTURE_TOLERANCE:
        return TelegramError(IMPOSSIBLE, f"time {parsed.at.isoformat()} is in the future")
    if oldest is not None and parsed.at < oldest:
        return TelegramError(TOO_OLD, f"time {parsed.at.isoformat()} is past the raw retention")
    return parsed


def _parse(payload: bytes) -> Telegram | TelegramError:
    if payload[:1] in _JSON_STARTS:
        return _json(payload)
    if payload.lstrip()[:1] in _JSON_STARTS:
        # JSON after white space; a Protobuf event may begin with such bytes too.
        parsed = _json(payload)
        if isinstance(parsed, TelegramError):
            other = _chirpstack_protobuf(payload)
            return parsed if isinstance(other, TelegramError) else other
        return parsed
    return _chirpstack_protobuf(payload)


_JSON_STARTS = (b"{", b"[")


def _json(payload: bytes) -> Telegram | TelegramError:
    try:
        # orjson reads a telegram in a fifth of the standard library's time.
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        # What it refuses, read again as before: the standard library also takes the NaN
        # and Infinity some decoders print (refused below as impossible values), and its
        # errors say what was wrong.
        try:
            document = json.loads(payload.decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError too
            return TelegramError(MALFORMED, f"not JSON: {str(exc)[:80]}")
    if not isinstance(document, dict):
        return TelegramError(MALFORMED, "not a JSON object")
    if isinstance(document.get("deviceInfo"), dict):
        return _chirpstack_json(document)
    if "total_m3" in document or "meter" in document:
        return _wmbusmeters(document)
    return TelegramError(UNKNOWN_FORMAT, "neither wmbusmeters JSON nor a ChirpStack event")


def _wmbusmeters(document: dict[str, object]) -> Telegram | TelegramError:
    radio_id = _radio_id(document.get("id"))
    if radio_id is None:
        return TelegramError(MALFORMED, "`id` missing or not a meter id")
    media = document.get("media")
    if media is not None and not (isinstance(media, str) and "water" in media.lower()):
        return TelegramError(IMPOSSIBLE, f"media {str(media)[:40]!r} is not water")
    register = _register_l(document.get("total_m3"))
    if isinstance(register, TelegramError):
        return register
    at = _time(document.get("timestamp"))
    if at is None:
        return TelegramError(MALFORMED, "`timestamp` missing or without its UTC offset")
    flags = 0
    for key in ("current_status", "status"):
        status = document.get(key)
        if isinstance(status, str) and status != "OK":
            for word in status.replace(",", " ").upper().split():
                flags |= _STATUS_WORDS.get(word, 0)
    return Telegram(radio_id, at, register, flags | _bool_flags(document))


def _chirpstack_json(document: dict[str, object]) -> Telegram | TelegramError:
    info = document["deviceInfo"]
    assert isinstance(info, dict)
    data: bytes | None = None
    if isinstance(document.get("data"), str):
        try:
            data = base64.b64decode(str(document["data"]), validate=True)
        except (binascii.Error, ValueError):
            return TelegramError(MALFORMED, "`data` is not base64")
    decoded = document.get("object")
    return _chirpstack(
        info.get("devEui"),
        _time(document.get("time")),
        decoded if isinstance(decoded, dict) else None,
        data,
    )


def _chirpstack_protobuf(payload: bytes) -> Telegram | TelegramError:
    event = integration_pb2.UplinkEvent()
    try:
        event.ParseFromString(payload)
    except DecodeError:
        return TelegramError(MALFORMED, "neither JSON nor a ChirpStack Protobuf event")
    if not event.HasField("device_info") or not event.device_info.dev_eui:
        # Protobuf reads almost any bytes as some message: without a device, it was none.
        return TelegramError(MALFORMED, "not JSON, nor a ChirpStack Protobuf uplink event")
    at = event.time.ToDatetime(tzinfo=UTC) if event.HasField("time") else None
    decoded = MessageToDict(event.object) if event.HasField("object") else None
    return _chirpstack(event.device_info.dev_eui, at, decoded, event.data or None)


def _chirpstack(
    dev_eui: object, at: datetime | None, decoded: dict[str, object] | None, data: bytes | None
) -> Telegram | TelegramError:
    """An uplink event, whichever marshaler: the codec's `object` when it has the register,
    else the raw `data` read by our codec."""
    radio_id = _radio_id(dev_eui)
    if radio_id is None:
        return TelegramError(MALFORMED, "`deviceInfo.devEui` missing or not a DevEUI")
    if decoded is not None and ("total_m3" in decoded or "volume_l" in decoded):
        if "total_m3" in decoded:
            register = _register_l(decoded.get("total_m3"))
        else:
            register = _register_l(decoded.get("volume_l"), litres=True)
        if isinstance(register, TelegramError):
            return register
        flags = _bool_flags(decoded)
    elif data is not None:
        frame = qalcosonic_decode(data)
        if isinstance(frame, TelegramError):
            return frame
        register, flags = frame.register_l, frame.flags
        # The meter's own clock when the event carries no time of reception.
        at = at or frame.at
    else:
        return TelegramError(MALFORMED, "neither a decoded `object` with total_m3 nor `data`")
    if at is None:
        return TelegramError(MALFORMED, "`time` missing or without its UTC offset")
    return Telegram(radio_id, at, register, flags)


# --- Axioma Qalcosonic W1 short frame -------------------------------------------------------
# The common LoRaWAN water-meter payload this codec reads (fPort 100, little endian):
#   bytes 0-3  meter time, Unix seconds       byte 4   status code
#   bytes 5-8  register, litres               bytes 9- the log (ignored here)
# Status codes as the vendor documents them: 0x00 no error, 0x04 low battery, 0x08 permanent
# error, 0x10 dry, 0x30 leak, 0x70 backflow, 0x90 low temperature, 0xB0 burst, 0xD0 tamper.
_QALCOSONIC_STATUS = {0x10: DRY, 0x30: LEAK, 0x70: BACKFLOW, 0xB0: BURST, 0xD0: TAMPER}


def qalcosonic_decode(raw: bytes) -> Telegram | TelegramError:
    """The meter time, register and flags of a Qalcosonic W1 frame (radio id left empty)."""
    if len(raw) < 9:
        return TelegramError(MALFORMED, f"frame of {len(raw)} bytes, at least 9 expected")
    seconds, status, litres = struct.unpack_from("<IBI", raw)
    flags = _QALCOSONIC_STATUS.get(status & 0xF0, 0)
    return Telegram("", datetime.fromtimestamp(seconds, UTC), litres, flags)


def qalcosonic_encode(*, at: datetime, register_l: int, status: int = 0) -> bytes:
    """A frame as the meter sends it (for tests, the benchmark and the demo)."""
    return struct.pack("<IBI", int(at.timestamp()), status, register_l) + bytes(6)


def _radio_id(value: object) -> str | None:
    if type(value) is str and value.isalnum() and value.isascii() and len(value) <= MAX_RADIO_ID:
        return value.lower()  # the common case, at once (isalnum: no blanks to trim)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not text or len(text) > MAX_RADIO_ID or not text.isalnum() or not text.isascii():
        return None
    return text


def radio_id_normalize(value: str) -> str:
    """A radio id as stored and matched: trimmed, lower case (DevEUIs come either way)."""
    return value.strip().lower()


def _register_l(value: object, *, litres: bool = False) -> int | TelegramError:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return TelegramError(MALFORMED, "the register (`total_m3`) is missing or not a number")
    if not math.isfinite(value) or value < 0:
        return TelegramError(IMPOSSIBLE, f"register {value!r}")
    register = round(value if litres else value * 1000)
    if register > MAX_REGISTER_L:
        return TelegramError(IMPOSSIBLE, f"register {value!r} beyond nine digits of m³")
    return register


# Times already read: many meters report in the same second, and reading one costs more
# than looking it up. Bounded: emptied when full.
_TIMES: dict[str, datetime | None] = {}
_TIMES_MAX = 4096


def _time(value: object) -> datetime | None:
    if type(value) is str and len(value) <= 40:
        found = _TIMES.get(value, _TIMES)
        if found is not _TIMES:
            return found  # type: ignore[return-value]
        at = _time_read(value)
        if len(_TIMES) >= _TIMES_MAX:
            _TIMES.clear()
        _TIMES[value] = at
        return at
    return None


def _time_read(value: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return at.astimezone(UTC)


_FLAG_KEYS = frozenset(FLAG_NAMES)


def _bool_flags(document: dict[str, object]) -> int:
    if _FLAG_KEYS.isdisjoint(document):
        return 0
    flags = 0
    for name, bit in FLAG_NAMES.items():
        if document.get(name) is True:
            flags |= bit
    return flags


def flag_names(flags: int) -> list[str]:
    return [name for name, bit in FLAG_NAMES.items() if flags & bit]


# --- Leaks ----------------------------------------------------------------------------------

CONTINUOUS_FLOW = "continuous_flow"
# Alerts the customer hears about; the others (backflow, dry, tamper) are the utility's own.
CUSTOMER_KINDS = ("leak", "burst", CONTINUOUS_FLOW)


def continuous_flow(nights: Sequence[int | None], *, needed: int) -> bool:
    """Whether water ran all night for the last `needed` nights: each night's lowest hourly
    consumption (litres; None for a night without data) above zero, every one of them."""
    if needed <= 0 or len(nights) < needed:
        return False
    return all(low is not None and low > 0 for low in nights[-needed:])


def burst(hourly_litres: Sequence[int | None], *, threshold_l: int) -> bool:
    """Whether some hour's consumption reached the burst threshold."""
    return any(litres is not None and litres >= threshold_l for litres in hourly_litres)
