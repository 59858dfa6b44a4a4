"""The consumer against the real Mosquitto: telegrams of both formats stored, bad ones
counted, and nothing acknowledged before it is committed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from autolettura.telemetry import consumer as consumer_module
from autolettura.telemetry.consumer import BrokerUrlError, Consumer, broker_parse
from autolettura.telemetry.models import Point, Reject
from autolettura.telemetry.services import MeterDirectory
from tests.telemetry import mqtt
from tests.telemetry.payloads import (
    chirpstack_object,
    chirpstack_protobuf_object,
    chirpstack_protobuf_raw,
    chirpstack_raw,
    wmbus,
)
from tests.telemetry.test_ingest import remote_meter

AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    with mqtt.broker() as url:
        yield url


def make_consumer(
    url: str,
    prefix: str,
    client_id: str,
    *,
    batch: int = 50,
    directory: MeterDirectory | None = None,
) -> Consumer:
    return Consumer(
        url=url,
        topics=[f"{prefix}/wmbusmeters/#", f"{prefix}/application/+/device/+/event/up"],
        group=f"g{prefix}",
        client_id=client_id,
        session_seconds=300,
        batch_size=batch,
        batch_seconds=0.2,
        directory=directory,
    )


def test_broker_url_is_checked() -> None:
    assert broker_parse("mqtt://u%40x:p@broker.example:1884").port == 1884
    assert broker_parse("mqtts://broker.example").port == 8883
    for bad in ("http://broker", "mqtt://", "mqtt://host:port"):
        with pytest.raises(BrokerUrlError):
            broker_parse(bad)


@pytest.mark.django_db
def test_telegrams_of_both_formats_are_stored_and_bad_ones_counted(broker_url: str) -> None:
    wm, lora = remote_meter("61000001"), remote_meter("70b3d5e75e000001")
    prefix = mqtt.prefix()
    consumer = make_consumer(broker_url, prefix, f"c-{prefix}")
    consumer.start()
    assert consumer.wait_connected(10)
    app = f"{prefix}/application/5e7b/device/70b3d5e75e000001/event/up"
    messages = [
        (f"{prefix}/wmbusmeters/kitchen", wmbus("61000001", AT + timedelta(minutes=i), 1 + i / 100))
        for i in range(30)
    ]
    messages += [
        (app, chirpstack_raw("70B3D5E75E000001", AT + timedelta(minutes=i), 5000 + i))
        for i in range(20)
    ]
    messages += [
        (app, chirpstack_object("70b3d5e75e000001", AT + timedelta(hours=1), {"total_m3": 5.5}))
    ]
    messages += [
        (f"{prefix}/wmbusmeters/x", b"\x00not json"),
        (f"{prefix}/wmbusmeters/y", wmbus("00000000", AT, 1.0)),
    ]
    mqtt.publish(broker_url, messages)
    stats = consumer.run(idle_exit=1.5)
    assert (stats.received, stats.stored, stats.rejected) == (53, 51, 2)
    assert Point.objects.filter(meter=wm).count() == 30
    assert Point.objects.filter(meter=lora).count() == 21
    assert dict(Reject.objects.values_list("reason", "count")) == {
        "malformed": 1,
        "unknown_device": 1,
    }
    _forget_session(broker_url, f"c-{prefix}")


@pytest.mark.django_db
def test_chirpstack_events_of_either_marshaler_are_stored_side_by_side(broker_url: str) -> None:
    """One ChirpStack publishing Protobuf (marshaler="protobuf"), another JSON, on the same
    topic pattern: the consumer reads both, told apart by their content."""
    proto, as_json = remote_meter("70b3d5e75e000011"), remote_meter("70b3d5e75e000012")
    prefix = mqtt.prefix()
    consumer = make_consumer(broker_url, prefix, f"c-{prefix}")
    consumer.start()
    assert consumer.wait_connected(10)
    up = f"{prefix}/application/5e7b/device/{{}}/event/up"
    messages = [
        (
            up.format("70b3d5e75e000011"),
            chirpstack_protobuf_raw("70B3D5E75E000011", AT + timedelta(minutes=i), 7000 + i),
        )
        for i in range(25)
    ]
    messages += [
        (
            up.format("70b3d5e75e000011"),
            chirpstack_protobuf_object(
                "70b3d5e75e000011", AT + timedelta(hours=1), {"total_m3": 7.5, "leak": True}
            ),
        ),
        (
            up.format("70b3d5e75e000012"),
            chirpstack_object("70b3d5e75e000012", AT + timedelta(hours=1), {"total_m3": 3.25}),
        ),
        (up.format("70b3d5e75e000011"), b"\x0a\x24half an event"),
    ]
    mqtt.publish(broker_url, messages)
    stats = consumer.run(idle_exit=1.5)
    assert (stats.received, stats.stored, stats.rejected) == (28, 27, 1)
    points = list(
        Point.objects.filter(meter=proto).order_by("at").values_list("register_l", "flags")
    )
    assert len(points) == 26
    assert points[0] == (7000, 0) and points[24] == (7024, 0) and points[25] == (7500, 1)
    assert list(Point.objects.filter(meter=as_json).values_list("register_l", flat=True)) == [3250]
    assert Reject.objects.get(reason="malformed").count == 1
    _forget_session(broker_url, f"c-{prefix}")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("step", "failure", "radio_id"),
    [
        # The process dies while a batch is being stored...
        ("telemetry_store", RuntimeError("the process dies while storing"), "61000002"),
        # ...or the thread reading the next batch fails (an error of the consumer's own,
        # not a bad telegram, which is counted): it reaches whoever runs the consumer.
        ("telemetry_prepare", MemoryError("out of memory while reading"), "61000004"),
    ],
)
def test_a_batch_not_committed_is_not_acknowledged_and_comes_again(
    broker_url: str,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    failure: BaseException,
    radio_id: str,
) -> None:
    meter = remote_meter(radio_id)
    prefix = mqtt.prefix()
    client_id = f"c-{prefix}"
    first = make_consumer(broker_url, prefix, client_id)
    first.start()
    assert first.wait_connected(10)
    mqtt.publish(
        broker_url,
        [
            (f"{prefix}/wmbusmeters/m", wmbus(radio_id, AT + timedelta(minutes=i), 1 + i / 1000))
            for i in range(40)
        ],
    )

    def crash(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(consumer_module, step, crash)
    with pytest.raises(type(failure)):
        first.run(idle_exit=5.0)
    assert not Point.objects.exists()
    monkeypatch.undo()

    # The same consumer back: the broker sends again what was never acknowledged.
    second = make_consumer(broker_url, prefix, client_id)
    second.start()
    stats = second.run(idle_exit=1.5)
    assert stats.stored == 40
    assert Point.objects.filter(meter=meter).count() == 40

    # Acknowledged this time: a third start gets nothing.
    third = make_consumer(broker_url, prefix, client_id)
    third.start()
    assert third.wait_connected(10)
    assert third.run(idle_exit=1.0).received == 0
    # Leave no session behind on the shared broker.
    _forget_session(broker_url, client_id)


@pytest.mark.django_db
def test_a_meter_added_while_the_consumer_runs_is_matched_when_its_batch_is_stored(
    broker_url: str,
) -> None:
    """Batches are read on another thread, which never touches the database: a radio id it
    does not know is looked up again on the storing thread, which reloads the meters."""
    prefix = mqtt.prefix()
    consumer = make_consumer(
        broker_url, prefix, f"c-{prefix}", batch=10, directory=MeterDirectory(refresh_seconds=0)
    )
    consumer.start()  # the meters loaded: 61000003 is not among them yet
    assert consumer.wait_connected(10)
    meter = remote_meter("61000003")
    mqtt.publish(
        broker_url,
        [
            (f"{prefix}/wmbusmeters/m", wmbus("61000003", AT + timedelta(minutes=i), 2 + i / 1000))
            for i in range(25)
        ],
    )
    switch_interval = sys.getswitchinterval()
    stats = consumer.run(idle_exit=1.5)
    # The interpreter's switch interval, shortened while the consumer ran, is given back.
    assert sys.getswitchinterval() == switch_interval
    assert (stats.received, stats.stored, stats.rejected) == (25, 25, 0)
    assert stats.batches >= 3  # read and stored a batch at a time
    registers = list(Point.objects.filter(meter=meter).order_by("at").values_list("register_l"))
    assert registers == [(2000 + i,) for i in range(25)]
    _forget_session(broker_url, f"c-{prefix}")


def _forget_session(url: str, client_id: str) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.connect("127.0.0.1", mqtt.port_of(url), clean_start=True)
    client.disconnect()
