"""Telegrams as the field sends them: wmbusmeters JSON, and ChirpStack v4 uplink events
built with ChirpStack's own protobuf messages (chirpstack-api) and marshalled to JSON as
ChirpStack's MQTT integration does."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from chirpstack_api import integration
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from autolettura.rules.telemetry import qalcosonic_encode


def wmbus(radio_id: str, at: datetime, total_m3: float, status: str = "OK", **extra: Any) -> bytes:
    document = {
        "_": "telegram",
        "media": "water",
        "meter": "multical21",
        "name": "",
        "id": radio_id,
        "total_m3": total_m3,
        "target_m3": total_m3,
        "current_status": status,
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        **extra,
    }
    return json.dumps(document).encode()


def chirpstack_object(dev_eui: str, at: datetime, decoded: dict[str, Any]) -> bytes:
    event = integration.UplinkEvent()
    event.deduplication_id = "5d7b3d5e-2a0f-4a2b-9f0b-2f1b8d1e0c11"
    event.device_info.tenant_id = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
    event.device_info.application_name = "water"
    event.device_info.device_name = f"meter-{dev_eui}"
    event.device_info.dev_eui = dev_eui
    event.time.FromDatetime(at)
    event.f_port = 100
    event.f_cnt = 7
    body = Struct()
    body.update(decoded)
    event.object.CopyFrom(body)
    return json_format.MessageToJson(event).encode()


def chirpstack_raw(dev_eui: str, at: datetime, register_l: int, status: int = 0) -> bytes:
    event = integration.UplinkEvent()
    event.device_info.dev_eui = dev_eui
    event.device_info.device_name = f"meter-{dev_eui}"
    event.time.FromDatetime(at)
    event.f_port = 100
    event.data = qalcosonic_encode(at=at, register_l=register_l, status=status)
    return json_format.MessageToJson(event).encode()


def chirpstack_protobuf_object(dev_eui: str, at: datetime, decoded: dict[str, Any]) -> bytes:
    """The same event as `chirpstack_object`, as ChirpStack's Protobuf marshaler sends it."""
    event = integration.UplinkEvent()
    json_format.Parse(chirpstack_object(dev_eui, at, decoded), event)
    return event.SerializeToString()


def chirpstack_protobuf_raw(
    dev_eui: str,
    at: datetime | None,
    register_l: int,
    status: int = 0,
    meter_at: datetime | None = None,
) -> bytes:
    """A raw-payload event as ChirpStack's Protobuf marshaler sends it; without `at`, no
    time of reception (the meter's own clock, `meter_at`, counts)."""
    event = integration.UplinkEvent()
    event.deduplication_id = "0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8"
    event.device_info.dev_eui = dev_eui
    event.device_info.device_name = f"meter-{dev_eui}"
    if at is not None:
        event.time.FromDatetime(at)
    event.f_port = 100
    frame_at = meter_at or at
    assert frame_at is not None
    event.data = qalcosonic_encode(at=frame_at, register_l=register_l, status=status)
    return event.SerializeToString()
