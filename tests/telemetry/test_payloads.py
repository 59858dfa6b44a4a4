"""Telegrams in both formats read into a register and flags; anything else refused with a
reason, never an exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from chirpstack_api import integration

from autolettura.rules import telemetry as rules
from tests.telemetry.payloads import (
    chirpstack_object,
    chirpstack_protobuf_object,
    chirpstack_protobuf_raw,
    chirpstack_raw,
    wmbus,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
AT = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def parse(payload: bytes) -> rules.Telegram | rules.TelegramError:
    return rules.telegram_parse(payload, now=NOW, oldest=NOW - timedelta(days=90))


def test_wmbusmeters_telegram() -> None:
    got = parse(wmbus("76348799", AT, 6.408))
    assert got == rules.Telegram("76348799", AT, 6408, 0)


def test_wmbusmeters_status_words_and_boolean_fields() -> None:
    got = parse(wmbus("76348799", AT, 6.408, status="LEAK BURST"))
    assert isinstance(got, rules.Telegram)
    assert rules.flag_names(got.flags) == ["leak", "burst"]
    got = parse(wmbus("76348799", AT, 6.408, status="DRY REVERSED", tamper=True))
    assert isinstance(got, rules.Telegram)
    assert rules.flag_names(got.flags) == ["backflow", "dry", "tamper"]


def test_wmbusmeters_offset_timestamp_is_read_in_utc() -> None:
    payload = json.loads(wmbus("1", AT, 1.0))
    payload["timestamp"] = "2026-12-06T11:00:00+01:00"
    got = parse(json.dumps(payload).encode())
    assert isinstance(got, rules.Telegram) and got.at == AT


def test_chirpstack_event_with_decoded_object() -> None:
    got = parse(chirpstack_object("00AABBCCDDEEFF01", AT, {"total_m3": 12.5, "leak": True}))
    assert got == rules.Telegram("00aabbccddeeff01", AT, 12500, rules.LEAK)


def test_chirpstack_event_with_raw_data_decoded_by_our_codec() -> None:
    got = parse(chirpstack_raw("00aabbccddeeff02", AT, 123_456, status=0xB0))
    assert got == rules.Telegram("00aabbccddeeff02", AT, 123_456, rules.BURST)


def test_chirpstack_protobuf_event_with_decoded_object() -> None:
    payload = chirpstack_protobuf_object("00AABBCCDDEEFF03", AT, {"volume_l": 4321, "leak": True})
    assert payload[:1] != b"{"
    got = parse(payload)
    assert got == rules.Telegram("00aabbccddeeff03", AT, 4321, rules.LEAK)


def test_chirpstack_protobuf_event_with_raw_data_decoded_by_our_codec() -> None:
    got = parse(chirpstack_protobuf_raw("00aabbccddeeff04", AT, 98_765, status=0x30))
    assert got == rules.Telegram("00aabbccddeeff04", AT, 98_765, rules.LEAK)
    # Without a time of reception, the meter's own clock.
    meter_at = AT - timedelta(minutes=3)
    got = parse(chirpstack_protobuf_raw("00aabbccddeeff04", None, 98_765, meter_at=meter_at))
    assert isinstance(got, rules.Telegram) and got.at == meter_at


def test_both_marshalers_read_the_same_event_alike() -> None:
    decoded = {"total_m3": 7.25, "burst": True}
    as_json = parse(chirpstack_object("00aabbccddeeff05", AT, decoded))
    as_protobuf = parse(chirpstack_protobuf_object("00aabbccddeeff05", AT, decoded))
    assert as_json == as_protobuf == rules.Telegram("00aabbccddeeff05", AT, 7250, rules.BURST)


def _event_without_device() -> bytes:
    event = integration.UplinkEvent()
    event.f_port = 100
    event.data = b"\x01\x02"
    return event.SerializeToString()


def _other_event() -> bytes:
    # A ChirpStack join event on the uplink topic by mistake: no device's register in it.
    event = integration.JoinEvent()
    event.deduplication_id = "x"
    return event.SerializeToString()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", rules.MALFORMED),
        (b"\x0a\x20truncated", rules.MALFORMED),
        (_event_without_device(), rules.MALFORMED),
        (_other_event(), rules.MALFORMED),
        (chirpstack_protobuf_raw("00aabbccddeeff06", AT, 1)[:-4], rules.MALFORMED),
        (chirpstack_protobuf_object("00aabbccddeeff07", AT, {"total_m3": -2}), rules.IMPOSSIBLE),
        (b"{not json", rules.MALFORMED),
        (b"[1, 2]", rules.MALFORMED),
        (b'{"hello": "world"}', rules.UNKNOWN_FORMAT),
        (wmbus("", AT, 1.0), rules.MALFORMED),
        (wmbus("../../etc", AT, 1.0), rules.MALFORMED),
        (wmbus("1", AT, -1.0), rules.IMPOSSIBLE),
        (wmbus("1", AT, 1e15), rules.IMPOSSIBLE),
        (wmbus("1", AT, 1.0, media="electricity"), rules.IMPOSSIBLE),
        (wmbus("1", NOW + timedelta(days=2), 1.0), rules.IMPOSSIBLE),
        (wmbus("1", NOW - timedelta(days=400), 1.0), rules.TOO_OLD),
        (json.dumps({"id": "1", "meter": "x", "total_m3": "12"}).encode(), rules.MALFORMED),
        (
            json.dumps(
                {"id": "1", "meter": "x", "total_m3": 1, "timestamp": "2026-12-06T10:00:00"}
            ).encode(),
            rules.MALFORMED,
        ),
        (
            b'{"id": "1", "meter": "x", "total_m3": NaN, "timestamp": "2026-12-06T10:00:00Z"}',
            rules.IMPOSSIBLE,
        ),
        (
            json.dumps(
                {"deviceInfo": {"devEui": "01"}, "time": "2026-12-06T10:00:00Z", "data": "!!"}
            ).encode(),
            rules.MALFORMED,
        ),
        (
            json.dumps(
                {"deviceInfo": {"devEui": "01"}, "time": "2026-12-06T10:00:00Z", "data": "AQI="}
            ).encode(),
            rules.MALFORMED,
        ),
        (
            json.dumps(
                {"deviceInfo": {}, "time": "2026-12-06T10:00:00Z", "object": {"total_m3": 1}}
            ).encode(),
            rules.MALFORMED,
        ),
    ],
)
def test_bad_telegrams_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    got = parse(payload)
    assert isinstance(got, rules.TelegramError), got
    assert got.reason == reason
    assert got.detail


def test_continuous_flow_needs_every_night_above_zero() -> None:
    assert rules.continuous_flow([5, 3, 8], needed=3)
    assert not rules.continuous_flow([5, 0, 8], needed=3)
    assert not rules.continuous_flow([5, None, 8], needed=3)
    assert not rules.continuous_flow([5, 8], needed=3)
    assert rules.continuous_flow([0, 5, 3, 8], needed=3)


def test_burst_is_an_hour_at_or_above_the_threshold() -> None:
    assert rules.burst([10, 1500, None], threshold_l=1500)
    assert not rules.burst([10, 1499, None], threshold_l=1500)
