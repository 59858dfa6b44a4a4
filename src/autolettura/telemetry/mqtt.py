"""A small MQTT 5.0 client: what the telemetry consumer needs and nothing else.

Written from the OASIS MQTT Version 5.0 standard for one job, receiving many small PUBLISH
packets fast with acknowledgements sent by the application when it chooses:

- the socket is read in large chunks, and every complete packet in a chunk is split off in
  one tight loop (`Parser.feed`): a PUBLISH costs a few slices, its properties are skipped by
  their length, and the application gets the chunk's telegrams in one call;
- the PUBACKs of a batch are written in one send (`Client.ack`);
- every read and write of the socket happens on the client's one network thread (TLS sockets
  are not to be read and written from two threads at once): other threads hand it bytes and
  wake it through a pipe.

`Client` keeps a session: CONNECT with clean start off, a session expiry and a receive
maximum, SUBSCRIBE at every connection, PINGREQ on the keepalive, and on a lost connection or
a refused CONNECT a new attempt after a backoff (1 s doubling to 30 s). An acknowledgement
belongs to the connection its PUBLISH came on: one asked for after that connection ended is
dropped, and the broker sends the telegram again on the next (MQTT 5.0 section 4.4), rather
than a stale packet id acknowledging another telegram.

`Publisher` is a plain synchronous QoS 1 publisher with many telegrams in flight (the
benchmark's and tests'); `session_forget` ends a persistent session.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Packet types (MQTT 5.0 section 2.1.2), as the high nibble of the first byte.
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"  # reason 0x00, normal disconnection

READ_CHUNK = 1 << 18
BACKOFF_MIN, BACKOFF_MAX = 1.0, 30.0

# Reason codes (MQTT 5.0 section 2.4), for log messages.
REASONS = {
    0x00: "Success",
    0x01: "Granted QoS 1",
    0x02: "Granted QoS 2",
    0x04: "Disconnect with Will Message",
    0x10: "No matching subscribers",
    0x80: "Unspecified error",
    0x81: "Malformed Packet",
    0x82: "Protocol Error",
    0x83: "Implementation specific error",
    0x84: "Unsupported Protocol Version",
    0x85: "Client Identifier not valid",
    0x86: "Bad User Name or Password",
    0x87: "Not authorized",
    0x88: "Server unavailable",
    0x89: "Server busy",
    0x8A: "Banned",
    0x8B: "Server shutting down",
    0x8C: "Bad authentication method",
    0x8D: "Keep Alive timeout",
    0x8E: "Session taken over",
    0x8F: "Topic Filter invalid",
    0x90: "Topic Name invalid",
    0x91: "Packet Identifier in use",
    0x92: "Packet Identifier not found",
    0x93: "Receive Maximum exceeded",
    0x94: "Topic Alias invalid",
    0x95: "Packet too large",
    0x96: "Message rate too high",
    0x97: "Quota exceeded",
    0x98: "Administrative action",
    0x99: "Payload format invalid",
    0x9A: "Retain not supported",
    0x9B: "QoS not supported",
    0x9C: "Use another server",
    0x9D: "Server moved",
    0x9E: "Shared Subscriptions not supported",
    0x9F: "Connection rate exceeded",
    0xA0: "Maximum connect time",
    0xA1: "Subscription Identifiers not supported",
    0xA2: "Wildcard Subscriptions not supported",
}


def reason_text(code: int, reason_string: str | None = None) -> str:
    text = f"{REASONS.get(code, 'reason code')} (0x{code:02X})"
    return f"{text}: {reason_string}" if reason_string else text


class MqttError(Exception):
    """The connection cannot go on (it is closed, and the client connects again)."""


class MalformedPacket(MqttError):
    pass


class Refused(MqttError):
    """The broker refused the CONNECT."""


# --- encoding ---


def varint(n: int) -> bytes:
    """A Variable Byte Integer (section 1.5.5)."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"{n} does not fit a variable byte integer")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (128 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    if len(data) > 65535:
        raise ValueError("a string of MQTT is at most 65,535 bytes")
    return _U16.pack(len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + varint(len(body)) + body


def connect_packet(
    client_id: str,
    *,
    clean_start: bool,
    keepalive: int,
    session_seconds: int = 0,
    receive_maximum: int | None = None,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """CONNECT (section 3.1)."""
    flags = (0x02 if clean_start else 0) | (0x80 if username is not None else 0)
    flags |= 0x40 if password is not None else 0
    properties = b""
    if session_seconds:
        properties += b"\x11" + _U32.pack(min(session_seconds, 0xFFFFFFFF))
    if receive_maximum is not None:
        properties += b"\x21" + _U16.pack(max(1, min(receive_maximum, 65535)))
    body = (
        _string("MQTT")
        + bytes((5, flags))
        + _U16.pack(keepalive)
        + varint(len(properties))
        + properties
        + _string(client_id)
    )
    if username is not None:
        body += _string(username)
    if password is not None:
        body += _string(password.encode())
    return _packet(CONNECT << 4, body)


def subscribe_packet(packet_id: int, filters: Iterable[str], qos: int = 1) -> bytes:
    """SUBSCRIBE (section 3.8); options: the maximum QoS, nothing else (No Local is a protocol
    error on a shared subscription)."""
    body = _U16.pack(packet_id) + b"\x00"
    for topic_filter in filters:
        body += _string(topic_filter) + bytes((qos,))
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def publish_packet(topic: str | bytes, payload: bytes, *, qos: int, packet_id: int = 0) -> bytes:
    """PUBLISH (section 3.3), no properties."""
    head = _string(topic) + (_U16.pack(packet_id) if qos else b"") + b"\x00"
    return _packet((PUBLISH << 4) | (qos << 1), head + payload)


def acks(packet_type: int, packet_ids: Iterable[int]) -> bytes:
    """PUBACKs (or PUBRECs, PUBCOMPs) of success for many packets, as one string of bytes:
    MQTT 5 allows the reason code left out when it is success (section 3.4.2.1)."""
    head = bytes(((packet_type << 4) | (0x02 if packet_type == PUBREL else 0), 2))
    pack = _U16.pack
    return b"".join([head + pack(i) for i in packet_ids])


# --- decoding ---

# A PUBLISH as the parser hands it on: packet id (0 for QoS 0), QoS, topic, payload.
Message = tuple[int, int, bytes, bytes]
# What a read gives: its PUBLISH packets, and the others as (first byte, rest of the packet).
Packets = tuple[list[Message], list[tuple[int, bytes]]]


def _varint_at(data: bytes, i: int, end: int) -> tuple[int, int] | None:
    """The Variable Byte Integer at `i` and the index past it; None when `end` comes first.
    More than four bytes is a malformed packet."""
    value, shift = 0, 0
    while True:
        if i >= end:
            return None
        b = data[i]
        i += 1
        value |= (b & 127) << shift
        if b < 128:
            return value, i
        shift += 7
        if shift >= 28:
            raise MalformedPacket("a variable byte integer longer than four bytes")


def properties_decode(data: bytes) -> dict[int, object]:
    """The properties (section 2.2.2) of a packet other than PUBLISH, as {identifier: value};
    user properties as a list of pairs, subscription identifiers as a list."""
    found = _varint_at(data, 0, len(data))
    if found is None:
        raise MalformedPacket("properties cut short")
    length, i = found
    end = i + length
    if end > len(data):
        raise MalformedPacket("properties longer than their packet")
    out: dict[int, object] = {}
    while i < end:
        ident = data[i]
        i += 1
        if ident in (0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A):
            value: object = data[i]
            i += 1
        elif ident in (0x13, 0x21, 0x22, 0x23):
            value = _U16.unpack_from(data, i)[0]
            i += 2
        elif ident in (0x02, 0x11, 0x18, 0x27):
            value = _U32.unpack_from(data, i)[0]
            i += 4
        elif ident == 0x0B:
            found = _varint_at(data, i, end)
            if found is None:
                raise MalformedPacket("properties cut short")
            number, i = found
            out.setdefault(ident, [])
            out[ident].append(number)  # type: ignore[attr-defined]
            continue
        elif ident in (0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F, 0x09, 0x16):
            n = _U16.unpack_from(data, i)[0]
            raw = data[i + 2 : i + 2 + n]
            i += 2 + n
            value = raw if ident in (0x09, 0x16) else raw.decode(errors="replace")
        elif ident == 0x26:
            n = _U16.unpack_from(data, i)[0]
            key = data[i + 2 : i + 2 + n].decode(errors="replace")
            i += 2 + n
            n = _U16.unpack_from(data, i)[0]
            pair = (key, data[i + 2 : i + 2 + n].decode(errors="replace"))
            i += 2 + n
            out.setdefault(ident, [])
            out[ident].append(pair)  # type: ignore[attr-defined]
            continue
        else:
            raise MalformedPacket(f"unknown property 0x{ident:02X}")
        out[ident] = value
    if i != end:
        raise MalformedPacket("properties overrun their length")
    return out


def properties_skip(data: bytes, i: int) -> int:
    """The index past the properties at `i`."""
    found = _varint_at(data, i, len(data))
    if found is None:
        raise MalformedPacket("properties cut short")
    return found[1] + found[0]


class Parser:
    """Splits the bytes read from the broker into packets. `feed` takes what one read
    returned and gives every complete packet in it (with what was left of the reads before):
    the PUBLISH packets decoded, the others as (first byte, rest of the packet). An incomplete
    packet waits for the next read."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> Packets:
        data = self._rest + chunk if self._rest else chunk
        n = len(data)
        i = 0
        messages: list[Message] = []
        others: list[tuple[int, bytes]] = []
        append = messages.append
        while n - i >= 2:
            first = data[i]
            b = data[i + 1]
            if b < 128:
                length, j = b, i + 2
            else:
                found = _varint_at(data, i + 1, n)
                if found is None:
                    break
                length, j = found
            end = j + length
            if end > n:
                break
            if first >> 4 == PUBLISH:
                qos = (first >> 1) & 3
                if j + 2 > end:
                    raise MalformedPacket("a PUBLISH without its topic")
                k = j + 2 + ((data[j] << 8) | data[j + 1])
                topic = data[j + 2 : k]
                if qos:
                    if qos == 3:
                        raise MalformedPacket("a PUBLISH of QoS 3")
                    if k + 2 > end:
                        raise MalformedPacket("a PUBLISH without its packet id")
                    packet_id = (data[k] << 8) | data[k + 1]
                    if not packet_id:
                        raise MalformedPacket("a PUBLISH of packet id 0")
                    k += 2
                else:
                    packet_id = 0
                if k >= end:
                    raise MalformedPacket("a PUBLISH without its properties")
                p = data[k]
                if p < 128:
                    k += 1 + p
                else:
                    found = _varint_at(data, k, end)
                    if found is None:
                        raise MalformedPacket("a PUBLISH's properties cut short")
                    k = found[1] + found[0]
                if k > end:
                    raise MalformedPacket("a PUBLISH's properties overrun the packet")
                append((packet_id, qos, topic, data[k:end]))
            else:
                others.append((first, data[j:end]))
            i = end
        self._rest = data[i:] if i < n else b""
        return messages, others

    @property
    def buffered(self) -> int:
        return len(self._rest)


# --- connections ---


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ssl_context: ssl.SSLContext | None = None


def _open(endpoint: Endpoint, timeout: float) -> socket.socket:
    sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if endpoint.tls:
            context = endpoint.ssl_context or ssl.create_default_context()
            context.verify_mode = ssl.CERT_REQUIRED
            sock = context.wrap_socket(sock, server_hostname=endpoint.host)
    except BaseException:
        sock.close()
        raise
    return sock


def _connack(
    sock: socket.socket, parser: Parser, timeout: float
) -> tuple[bool, dict[int, object], Packets]:
    """Reads up to the CONNACK: (session present, its properties, and the packets that came
    after it in the same reads). Raises Refused with the broker's reason."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise MqttError("no CONNACK from the broker")
        sock.settimeout(left)
        chunk = sock.recv(READ_CHUNK)
        if not chunk:
            raise MqttError("the broker closed the connection before its CONNACK")
        messages, others = parser.feed(chunk)
        if not others and not messages:
            continue
        # The broker sends nothing before its CONNACK; what follows it in the same read
        # (a resumed session's telegrams) is handed back.
        if not others or others[0][0] >> 4 != CONNACK:
            raise MqttError("the broker sent something other than a CONNACK first")
        body = others[0][1]
        if len(body) < 2:
            raise MalformedPacket("a CONNACK too short")
        properties = properties_decode(body[2:]) if len(body) > 2 else {}
        if body[1] >= 0x80:
            raise Refused(reason_text(body[1], properties.get(0x1F)))  # type: ignore[arg-type]
        sock.settimeout(None)
        return bool(body[0] & 1), properties, (messages, others[1:])


# Called on the network thread with a chunk's telegrams and the connection they came on.
OnMessages = Callable[[int, list[Message]], None]


class Client:
    """A subscriber on a persistent session, reconnecting until `close()`.

    `on_messages(connection, messages)` is called on the network thread with every telegram
    of a read; `ack(connection, messages)` (any thread) acknowledges them: PUBACK for QoS 1,
    PUBREC for QoS 2 (the PUBREL that follows is answered with a PUBCOMP here). QoS 0
    telegrams need nothing."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        client_id: str,
        filters: Sequence[str],
        on_messages: OnMessages,
        session_seconds: int,
        receive_maximum: int,
        keepalive: int = 30,
        clean_start: bool = False,
        on_subscribed: Callable[[bool], None] | None = None,
        on_disconnected: Callable[[], None] | None = None,
        held_back: Callable[[], bool] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.client_id = client_id
        self.filters = list(filters)
        self.on_messages = on_messages
        self.session_seconds = session_seconds
        self.receive_maximum = receive_maximum
        self.keepalive = keepalive
        self.clean_start = clean_start
        self.on_subscribed = on_subscribed
        self.on_disconnected = on_disconnected
        # While it answers True the socket is not read (the broker's telegrams wait in TCP's
        # buffers and then the broker's queue): a bound on what the application holds even
        # when a broker sends more than the Receive Maximum (Mosquitto 2.0 does, resuming a
        # session with telegrams queued).
        self.held_back = held_back
        self.connection = 0  # counts the connections made; a telegram carries its own
        self._lock = threading.Lock()
        self._outbox: list[bytes] = []
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self._closing = threading.Event()
        self._established = False
        self._thread: threading.Thread | None = None

    # --- any thread ---

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._thread.start()

    def ack(self, connection: int, messages: Iterable[tuple[int, int]]) -> bool:
        """Acknowledge (packet id, QoS) pairs received on `connection`, all in one write. False
        (and nothing sent) when that connection is over: the broker sends them again."""
        ones = [packet_id for packet_id, qos in messages if qos == 1]
        twos = [packet_id for packet_id, qos in messages if qos == 2]
        if not ones and not twos:
            return True
        data = acks(PUBACK, ones) + acks(PUBREC, twos)
        with self._lock:
            if connection != self.connection or self._closing.is_set():
                return False
            self._outbox.append(data)
        self._wake()
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued, then DISCONNECT (normal: the session stays), and stop."""
        self._closing.set()
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                return  # its pipe stays open for it
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\x00")

    # --- network thread ---

    def _run(self) -> None:
        delay = BACKOFF_MIN
        while not self._closing.is_set():
            sock = None
            self._established = False
            try:
                sock = _open(self.endpoint, timeout=10)
                self._session(sock)
            except Refused as exc:
                logger.error("broker refused the connection: %s", exc)
            except (OSError, MqttError) as exc:
                if not self._closing.is_set():
                    logger.warning(
                        "connection to the broker %s:%s lost (%s): reconnecting",
                        self.endpoint.host,
                        self.endpoint.port,
                        exc or type(exc).__name__,
                    )
            except Exception:
                # A fault of this client or of the application's callback: the connection
                # goes, and what it delivered unacknowledged comes again on the next one.
                logger.exception("MQTT connection closed on an error: reconnecting")
            finally:
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
                with self._lock:
                    self._outbox.clear()
                if self.on_disconnected is not None:
                    self.on_disconnected()
            if self._established:
                delay = BACKOFF_MIN  # a connection that was up: the first retry comes soon
            if self._closing.wait(delay):
                break
            delay = min(delay * 2, BACKOFF_MAX)

    def _session(self, sock: socket.socket) -> None:
        """One connection, until it ends (raises) or `close()` (returns)."""
        parser = Parser()
        sock.sendall(
            connect_packet(
                self.client_id,
                clean_start=self.clean_start,
                keepalive=self.keepalive,
                session_seconds=self.session_seconds,
                receive_maximum=self.receive_maximum,
                username=self.endpoint.username,
                password=self.endpoint.password,
            )
        )
        present, properties, (messages, others) = _connack(sock, parser, 10)
        keepalive = int(properties.get(0x13, self.keepalive))  # type: ignore[call-overload]
        self._established = True
        with self._lock:
            self.connection += 1
            self._outbox.clear()
            connection = self.connection
        logger.info(
            "connected to %s:%s as %s (session %s)",
            self.endpoint.host,
            self.endpoint.port,
            self.client_id,
            "resumed" if present else "new",
        )
        # Subscribed again at every connection: harmless when the session kept it.
        subscribe_id = 1
        sock.sendall(subscribe_packet(subscribe_id, self.filters, 1))
        last_send = time.monotonic()
        ping_at: float | None = None
        tls = isinstance(sock, ssl.SSLSocket)
        wake = self._wake_r
        while True:
            if messages:
                self.on_messages(connection, messages)
            replies = b""
            for first, body in others:
                kind = first >> 4
                if kind == PINGRESP:
                    ping_at = None
                elif kind == SUBACK:
                    self._suback(body, subscribe_id)
                elif kind == PUBREL:
                    replies += acks(PUBCOMP, [_U16.unpack_from(body)[0]])
                elif kind == DISCONNECT:
                    code = body[0] if body else 0
                    reason = properties_decode(body[1:]).get(0x1F) if len(body) > 1 else None
                    raise MqttError(
                        "the broker disconnected: " + reason_text(code, reason)  # type: ignore[arg-type]
                    )
                elif kind == AUTH:
                    raise MqttError("the broker asked for enhanced authentication (AUTH)")
                # PUBACK/PUBREC/PUBCOMP/UNSUBACK: nothing this client sent asks for them.
            if self._closing.is_set():
                self._flush(sock, replies)
                sock.sendall(DISCONNECT_PACKET)
                return
            now = time.monotonic()
            held = self.held_back is not None and self.held_back()
            if held:
                ping_at = None  # its PINGRESP is behind the telegrams not read
            if ping_at is not None and now - ping_at > max(keepalive, 5):
                raise MqttError("no PINGRESP from the broker")
            if keepalive and ping_at is None and now - last_send >= keepalive * 0.75:
                replies += PINGREQ_PACKET
                ping_at = now
            if self._outbox or replies:
                self._flush(sock, replies)
                last_send = now
            if held:
                readable: Sequence[object] = select.select([wake], [], [], 0.05)[0]
            elif tls and sock.pending():  # type: ignore[attr-defined]
                readable = [sock]
            else:
                readable = select.select([sock, wake], [], [], 1.0)[0]
            if wake in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake, 4096)
            messages, others = [], []
            if sock in readable:
                try:
                    chunk = sock.recv(READ_CHUNK)
                except ssl.SSLWantReadError:
                    continue
                if not chunk:
                    raise MqttError("the broker closed the connection")
                messages, others = parser.feed(chunk)

    def _flush(self, sock: socket.socket, replies: bytes) -> None:
        with self._lock:
            queued, self._outbox = self._outbox, []
        data = b"".join(queued) + replies
        if data:
            sock.sendall(data)

    def _suback(self, body: bytes, subscribe_id: int) -> None:
        if _U16.unpack_from(body)[0] != subscribe_id:
            return
        start = properties_skip(body, 2)
        properties = properties_decode(body[2:])
        codes = body[start:]
        refused = [reason_text(c, properties.get(0x1F)) for c in codes if c >= 0x80]  # type: ignore[arg-type]
        if refused:
            logger.error("the broker refused the subscription: %s", ", ".join(refused))
        elif any(c == 0 for c in codes):
            logger.warning(
                "the broker granted QoS 0 only: telegrams are not redelivered if this "
                "consumer stops before storing them"
            )
        if self.on_subscribed is not None:
            self.on_subscribed(not refused)


class Publisher:
    """Publishes with QoS 1, up to the broker's Receive Maximum in flight, and returns once
    the broker has acknowledged every telegram (a PUBACK of success each)."""

    def __init__(
        self, endpoint: Endpoint, *, client_id: str = "", keepalive: int = 600, window: int = 0
    ) -> None:
        self.sock = _open(endpoint, timeout=10)
        self.parser = Parser()
        self.sock.sendall(
            connect_packet(
                client_id,
                clean_start=True,
                keepalive=keepalive,
                username=endpoint.username,
                password=endpoint.password,
            )
        )
        _present, properties, _packets = _connack(self.sock, self.parser, 10)
        broker_maximum = int(properties.get(0x21, 65535))  # type: ignore[call-overload]
        self.window = min(broker_maximum, window or 65535)
        self._next_id = 0

    def publish(self, messages: Iterable[tuple[str | bytes, bytes]], *, chunk: int = 256) -> int:
        """Publish them all; the number published (and acknowledged)."""
        in_flight: set[int] = set()
        sock, parser = self.sock, self.parser
        published = 0
        pending: list[bytes] = []
        iterator = iter(messages)
        exhausted = False
        while not exhausted or in_flight:
            # Fill the window, a chunk of packets to a send.
            while not exhausted and len(in_flight) < self.window:
                pending.clear()
                room = min(chunk, self.window - len(in_flight))
                for topic, payload in iterator:
                    packet_id = self._next_id % 65535 + 1
                    while packet_id in in_flight:  # fewer than 65,535 are: one is free
                        packet_id = packet_id % 65535 + 1
                    self._next_id = packet_id
                    in_flight.add(packet_id)
                    pending.append(publish_packet(topic, payload, qos=1, packet_id=packet_id))
                    if len(pending) >= room:
                        break
                else:
                    exhausted = True
                if pending:
                    sock.sendall(b"".join(pending))
                    published += len(pending)
                if len(in_flight) >= self.window:
                    break
            if not in_flight:
                break
            chunk_in = sock.recv(READ_CHUNK)
            if not chunk_in:
                raise MqttError("the broker closed the connection")
            _messages, others = parser.feed(chunk_in)
            for first, body in others:
                if first >> 4 == PUBACK:
                    packet_id = _U16.unpack_from(body)[0]
                    if len(body) > 2 and body[2] >= 0x80:
                        raise MqttError(f"PUBACK refused: {reason_text(body[2])}")
                    in_flight.discard(packet_id)
                elif first >> 4 == DISCONNECT:
                    code = body[0] if body else 0
                    raise MqttError(f"the broker disconnected: {reason_text(code)}")
        return published

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(DISCONNECT_PACKET)
        self.sock.close()


def session_forget(endpoint: Endpoint, client_id: str) -> None:
    """End `client_id`'s persistent session on the broker (connect with clean start and no
    session expiry, then disconnect)."""
    sock = _open(endpoint, timeout=10)
    try:
        sock.sendall(
            connect_packet(
                client_id,
                clean_start=True,
                keepalive=10,
                username=endpoint.username,
                password=endpoint.password,
            )
        )
        _connack(sock, Parser(), 10)
        sock.sendall(DISCONNECT_PACKET)
    finally:
        sock.close()
