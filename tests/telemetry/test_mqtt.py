"""The telemetry consumer's own MQTT 5 client: its packet parser on bytes built by hand, and
the client against the real Mosquitto (publishing, reconnecting, a refused connection, TLS
with a certificate made by the test)."""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autolettura.telemetry import mqtt as client_module
from autolettura.telemetry.consumer import Consumer, broker_parse
from autolettura.telemetry.models import Point
from autolettura.telemetry.mqtt import (
    Client,
    MalformedPacket,
    Parser,
    Publisher,
    connect_packet,
    properties_decode,
    publish_packet,
    session_forget,
    varint,
)
from tests.telemetry import mqtt
from tests.telemetry.payloads import wmbus
from tests.telemetry.test_consumer import make_consumer
from tests.telemetry.test_ingest import remote_meter

AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
# Mosquitto run as root drops to the `mosquitto` user unless told otherwise: the test's own
# files (certificates, persistence) are root's.
AS_ROOT = "user root\n" if os.geteuid() == 0 else ""


def publish_with_properties(topic: bytes, packet_id: int, payload: bytes, qos: int = 1) -> bytes:
    """A PUBLISH as a broker may send it: a message expiry, a content type and a user
    property ahead of the payload."""
    properties = (
        b"\x02" + struct.pack("!I", 3600)
        + b"\x03" + struct.pack("!H", 16) + b"application/json"
        + b"\x26" + struct.pack("!H", 3) + b"key" + struct.pack("!H", 5) + b"value"
    )  # fmt: skip
    body = struct.pack("!H", len(topic)) + topic
    body += struct.pack("!H", packet_id) if qos else b""
    body += varint(len(properties)) + properties + payload
    return bytes((0x30 | qos << 1,)) + varint(len(body)) + body


# --- the parser ---


def test_a_publish_split_across_two_reads_comes_whole_after_the_second() -> None:
    packet = publish_packet("wmbusmeters/1", b'{"id": "1"}' * 20, qos=1, packet_id=7)
    assert len(packet) > 130  # a remaining length of two bytes
    parser = Parser()
    for cut in (1, 2, 3, 10, len(packet) - 1):
        assert parser.feed(packet[:cut]) == ([], [])
        assert parser.feed(packet[cut:]) == (
            [(7, 1, b"wmbusmeters/1", b'{"id": "1"}' * 20)],
            [],
        )
        assert parser.buffered == 0


def test_several_packets_of_one_read_come_at_once_in_order() -> None:
    stream = (
        publish_packet("a", b"one", qos=1, packet_id=1)
        + b"\xd0\x00"  # PINGRESP
        + publish_packet("b", b"two", qos=0)
        + publish_packet("c", b"three", qos=2, packet_id=65535)
        + b"\x40\x02\x00\x09"  # PUBACK of 9
        + publish_packet("d", b"", qos=1, packet_id=3)
        + publish_packet("e", b"half", qos=1, packet_id=4)[:5]
    )
    messages, others = Parser().feed(stream)
    assert messages == [
        (1, 1, b"a", b"one"),
        (0, 0, b"b", b"two"),
        (65535, 2, b"c", b"three"),
        (3, 1, b"d", b""),
    ]
    assert others == [(0xD0, b""), (0x40, b"\x00\x09")]


def test_a_stream_cut_at_every_byte_gives_the_same_packets() -> None:
    packets = [
        publish_with_properties(b"wmbusmeters/%d" % i, i + 1, b"x" * (i * 37)) for i in range(12)
    ]
    stream = b"".join(packets)
    expected = [(i + 1, 1, b"wmbusmeters/%d" % i, b"x" * (i * 37)) for i in range(12)]
    for size in (1, 2, 5, 64, 1000):
        parser = Parser()
        got = []
        for at in range(0, len(stream), size):
            got += parser.feed(stream[at : at + size])[0]
        assert got == expected


def test_properties_are_skipped_by_their_length_and_decoded_elsewhere() -> None:
    packet = publish_with_properties(b"t/1", 42, b'{"total_m3": 1.5}')
    assert Parser().feed(packet)[0] == [(42, 1, b"t/1", b'{"total_m3": 1.5}')]
    # A CONNACK's properties: server keep alive, receive maximum, a reason string.
    properties = b"\x13\x00\x3c" + b"\x21\x00\x14" + b"\x1f\x00\x02ok"
    assert properties_decode(varint(len(properties)) + properties) == {
        0x13: 60,
        0x21: 20,
        0x1F: "ok",
    }


def test_a_large_payload_has_a_remaining_length_of_three_bytes() -> None:
    payload = bytes(range(256)) * 400  # 102,400 bytes
    packet = publish_packet("big", payload, qos=1, packet_id=1)
    assert packet[1] & 0x80 and packet[2] & 0x80 and not packet[3] & 0x80
    assert Parser().feed(packet)[0] == [(1, 1, b"big", payload)]


def test_a_malformed_remaining_length_is_refused() -> None:
    # Five bytes of remaining length: at most four are allowed.
    with pytest.raises(MalformedPacket):
        Parser().feed(b"\x32\xff\xff\xff\xff\x01" + b"\x00" * 10)
    with pytest.raises(MalformedPacket):  # QoS 3
        Parser().feed(b"\x36\x05\x00\x01a\x00\x01")
    with pytest.raises(MalformedPacket):  # the properties run past the packet
        Parser().feed(b"\x32\x06\x00\x01a\x00\x01\x09")
    with pytest.raises(MalformedPacket):  # packet id 0
        Parser().feed(b"\x32\x06\x00\x01a\x00\x00\x00")
    with pytest.raises(ValueError):
        varint(268_435_456)


def test_connect_packet_as_the_standard_spells_it() -> None:
    packet = connect_packet(
        "c1",
        clean_start=False,
        keepalive=30,
        session_seconds=3600,
        receive_maximum=4000,
        username="u",
        password="p",
    )
    assert packet == (
        b"\x10\x1d"  # CONNECT, 29 bytes
        + b"\x00\x04MQTT\x05"  # protocol name, version 5
        + b"\xc0"  # user name and password, clean start off
        + b"\x00\x1e"  # keepalive 30
        + b"\x08\x11\x00\x00\x0e\x10\x21\x0f\xa0"  # session expiry 3600, receive maximum 4000
        + b"\x00\x02c1"
        + b"\x00\x01u"
        + b"\x00\x01p"
    )


# --- against Mosquitto ---


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    with mqtt.broker() as url:
        yield url


def wait_until(condition: Callable[[], bool], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Collector:
    """A Client that acknowledges every telegram as it comes."""

    def __init__(self, url: str, client_id: str, filters: list[str], **kwargs: object) -> None:
        self.received: list[bytes] = []
        self.subscribed = threading.Event()
        self.client = Client(
            broker_parse(url).endpoint(),
            client_id=client_id,
            filters=filters,
            on_messages=self._on_messages,
            session_seconds=300,
            receive_maximum=100,
            on_subscribed=lambda ok: self.subscribed.set(),
            **kwargs,  # type: ignore[arg-type]
        )

    def _on_messages(self, connection: int, messages: list[client_module.Message]) -> None:
        self.received += [payload for _i, _q, _t, payload in messages]
        self.client.ack(connection, [(i, qos) for i, qos, _t, _p in messages])


def test_the_publisher_has_every_telegram_acknowledged_and_a_subscriber_gets_them(
    broker_url: str,
) -> None:
    prefix = mqtt.prefix()
    collector = Collector(broker_url, f"c-{prefix}", [f"{prefix}/#"])
    collector.client.start()
    try:
        assert collector.subscribed.wait(10)
        publisher = Publisher(broker_parse(broker_url).endpoint(), window=50)
        payloads = [b"telegram %d" % i for i in range(3000)]
        assert publisher.publish((f"{prefix}/m/{i % 7}", p) for i, p in enumerate(payloads)) == 3000
        publisher.close()
        assert wait_until(lambda: len(collector.received) >= 3000)
        assert sorted(collector.received) == sorted(payloads)
    finally:
        collector.client.close()
        session_forget(broker_parse(broker_url).endpoint(), f"c-{prefix}")


def test_pings_keep_the_connection(broker_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Keepalive of 1 s: Mosquitto closes a client silent for 1.5 s, so the PINGREQs are what
    keeps it."""
    prefix = mqtt.prefix()
    collector = Collector(broker_url, f"c-{prefix}", [f"{prefix}/#"], keepalive=1)
    caplog.set_level(logging.INFO, logger="autolettura.telemetry.mqtt")
    collector.client.start()
    try:
        assert collector.subscribed.wait(10)
        time.sleep(3.5)
        assert collector.client.connection == 1
        assert "lost" not in caplog.text
    finally:
        collector.client.close()
        session_forget(broker_parse(broker_url).endpoint(), f"c-{prefix}")


def test_against_a_broker_played_by_the_test(caplog: pytest.LogCaptureFixture) -> None:
    """A broker played byte by byte: the CONNECT and SUBSCRIBE the client sends, two PUBLISH
    packets in one write answered by their PUBACKs in one write, PINGREQ answered, then a
    DISCONNECT with a reason, logged, and the client connecting again."""
    caplog.set_level(logging.INFO, logger="autolettura.telemetry.mqtt")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    seen: list[bytes] = []

    def read(conn: socket.socket) -> bytes:
        data = conn.recv(65536)
        seen.append(data)
        return data

    def play() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(10)
            read(conn)  # CONNECT
            # CONNACK: no session, a server keep alive of 2 s.
            conn.sendall(b"\x20\x06\x00\x00\x03\x13\x00\x02")
            read(conn)  # SUBSCRIBE
            conn.sendall(b"\x90\x04\x00\x01\x00\x01")  # SUBACK, granted QoS 1
            conn.sendall(
                publish_with_properties(b"t/1", 5, b"first")
                + publish_with_properties(b"t/2", 6, b"second")
            )
            read(conn)  # the PUBACKs
            read(conn)  # PINGREQ, within the keep alive of 2 s
            conn.sendall(b"\xd0\x00")
            reason = b"\x1f\x00\x03bye"
            conn.sendall(
                b"\xe0" + bytes((2 + len(reason),)) + b"\x98" + varint(len(reason)) + reason
            )
        again, _ = server.accept()  # the client connects again
        with again:
            again.settimeout(10)
            read(again)

    player = threading.Thread(target=play, daemon=True)
    player.start()
    collector = Collector(f"mqtt://127.0.0.1:{port}", "played", ["$share/g/t/#"], keepalive=30)
    collector.client.start()
    try:
        player.join(20)
        assert not player.is_alive()
    finally:
        collector.client.close()
        server.close()
    connect, subscribe, pubacks, ping, connect_again = seen
    assert connect == connect_packet(
        "played", clean_start=False, keepalive=30, session_seconds=300, receive_maximum=100
    )
    assert subscribe == b"\x82\x12\x00\x01\x00\x00\x0c$share/g/t/#\x01"
    assert pubacks == b"\x40\x02\x00\x05\x40\x02\x00\x06"
    assert ping == b"\xc0\x00"
    assert connect_again == connect
    assert collector.received == [b"first", b"second"]
    assert "the broker disconnected: Administrative action (0x98): bye" in caplog.text


def test_a_refused_connection_is_logged_and_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="autolettura.telemetry.mqtt")
    with mqtt.own_broker(f"allow_anonymous false\npersistence false\n{AS_ROOT}") as (url, _):
        collector = Collector(url.replace("mqtt://", "mqtt://someone:secret@"), "c-refused", ["#"])
        collector.client.start()
        try:
            # Refused at once, then again after the backoff's first second.
            assert wait_until(lambda: caplog.text.count("Not authorized (0x87)") >= 2, 10)
            assert not collector.subscribed.is_set()
        finally:
            collector.client.close()
    assert "broker refused the connection: Not authorized (0x87)" in caplog.text


@pytest.mark.django_db
def test_the_consumer_reconnects_to_a_restarted_broker_and_resumes_its_session(
    tmp_path: Path,
) -> None:
    """The broker goes away (with its persistence) and comes back on the same port: the
    consumer connects again on its own, its session resumed, and stores what comes next,
    including what was delivered but not acknowledged before the broker went."""
    meter = remote_meter("61000031")
    config = f"allow_anonymous true\npersistence true\npersistence_location {{folder}}/\n{AS_ROOT}"
    port = mqtt.free_port()
    prefix = mqtt.prefix()
    consumer = make_consumer(f"mqtt://127.0.0.1:{port}", prefix, f"c-{prefix}")
    telegrams = [
        (f"{prefix}/wmbusmeters/m", wmbus("61000031", AT + timedelta(minutes=i), 1 + i / 1000))
        for i in range(60)
    ]
    with mqtt.own_broker(config, port=port, folder=tmp_path) as (url, _):
        consumer.start()
        assert consumer.wait_connected(10)
        first = consumer.client.connection
        mqtt.publish(url, telegrams[:30])
    # The broker is gone: the consumer tries again, with a backoff, until it is back.
    assert wait_until(lambda: not consumer.wait_connected(0), 5)
    with mqtt.own_broker(config, port=port, folder=tmp_path) as (url, _):
        assert consumer.wait_connected(15)
        assert consumer.client.connection > first
        mqtt.publish(url, telegrams[30:])
        stats = consumer.run(idle_exit=1.5)
        session_forget(broker_parse(url).endpoint(), f"c-{prefix}")
    assert Point.objects.filter(meter=meter).count() == 60
    assert stats.stored >= 30


def _certificates(folder: Path) -> None:
    """A CA, and a certificate it signed for 127.0.0.1 (the broker's)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Autolettura test CA"))
        .issuer_name(name("Autolettura test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    server = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


@pytest.mark.django_db
def test_the_consumer_stores_telegrams_over_tls_and_refuses_an_unknown_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("cryptography", reason="cryptography makes the test's certificates")
    _certificates(tmp_path)
    config = (
        "allow_anonymous true\npersistence false\n"
        f"certfile {{folder}}/server.pem\nkeyfile {{folder}}/server.key\n{AS_ROOT}"
    )
    meter = remote_meter("61000041")
    prefix = mqtt.prefix()
    caplog.set_level(logging.INFO, logger="autolettura.telemetry.mqtt")
    with mqtt.own_broker(config, folder=tmp_path, scheme="mqtts") as (url, _):

        def consumer() -> Consumer:
            return make_consumer(url, prefix, f"c-{prefix}")

        # The system's CAs do not know the test's: no connection.
        stranger = consumer()
        stranger.start()
        assert not stranger.wait_connected(2)
        stranger.close()
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text

        # The test's CA trusted (as SSL_CERT_FILE does for a private CA in production).
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        trusting = consumer()
        trusting.start()
        assert trusting.wait_connected(10)
        publisher = Publisher(broker_parse(url).endpoint())
        published = publisher.publish(
            (f"{prefix}/wmbusmeters/m", wmbus("61000041", AT + timedelta(minutes=i), 2 + i / 100))
            for i in range(40)
        )
        publisher.close()
        assert published == 40
        stats = trusting.run(idle_exit=1.5)
        assert stats.stored == 40
        assert Point.objects.filter(meter=meter).count() == 40
