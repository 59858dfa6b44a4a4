"""The MQTT consumer behind `autolettura telemetry`.

MQTT 5, QoS 1, a persistent session (clean start off, a session expiry) and manual
acknowledgements: a telegram is acknowledged to the broker only once the batch that holds it
has committed, so a consumer killed at any moment loses nothing the broker delivered: the
broker sends the unacknowledged telegrams again when the consumer (same client id) comes
back, and the points' primary key makes the second copy change nothing. Several consumers
subscribe to `$share/GROUP/topic` and the broker splits the stream between them.

The broker may send at most `receive_maximum` telegrams not yet acknowledged: that bounds
the memory a consumer holds, whatever the rate of the stream.
"""

from __future__ import annotations

import logging
import signal
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.db import DatabaseError, close_old_connections
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from autolettura import clock
from autolettura.telemetry.services import MeterDirectory, telemetry_ingest

logger = logging.getLogger(__name__)


class BrokerUrlError(ValueError):
    pass


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def broker_parse(url: str) -> Broker:
    """mqtt://[user:password@]host[:port] or mqtts://... (TLS, default port 8883)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise BrokerUrlError(f"{url!r}: expected mqtt://host[:port] or mqtts://host[:port]")
    if not parts.hostname:
        raise BrokerUrlError(f"{url!r}: the broker's host is missing")
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise BrokerUrlError(f"{url!r}: the port is not a number") from exc
    return Broker(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def subscription(topic: str, group: str) -> str:
    return f"$share/{group}/{topic}" if group else topic


@dataclass
class ConsumerStats:
    received: int = 0
    stored: int = 0
    rejected: int = 0
    batches: int = 0


class Consumer:
    """Receives telegrams on the network thread, stores them in batches on the calling
    thread, and acknowledges each batch after its commit."""

    def __init__(
        self,
        *,
        url: str,
        topics: list[str],
        group: str,
        client_id: str,
        session_seconds: int,
        batch_size: int,
        batch_seconds: float,
        directory: MeterDirectory | None = None,
    ) -> None:
        self.broker = broker_parse(url)
        self.topics = topics
        self.group = group
        self.client_id = client_id or f"autolettura-{socket.gethostname()}"
        self.session_seconds = session_seconds
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.directory = directory or MeterDirectory()
        self.stats = ConsumerStats()
        # Filled by the network thread, emptied by the storing thread: a deque's append and
        # popleft are atomic, so a telegram costs no lock on its way in.
        self._pending: deque[tuple[int, int, bytes]] = deque()
        self._full = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self.client = self._client()

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if self.broker.tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        return client

    # --- network thread ---

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            logger.error("broker refused the connection: %s", reason)
            return
        logger.info(
            "connected to %s:%s as %s (session %s)",
            self.broker.host,
            self.broker.port,
            self.client_id,
            "resumed" if flags.session_present else "new",
        )
        # Subscribed again at every connection: harmless when the session kept it.
        client.subscribe(
            [(subscription(t, self.group), SubscribeOptions(qos=1)) for t in self.topics]
        )

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            logger.error("the broker refused the subscription: %s", ", ".join(refused))
            return
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            logger.warning("disconnected from the broker (%s): reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._pending.append((message.mid, message.qos, message.payload))
        if len(self._pending) >= self.batch_size:
            self._full.set()

    # --- storing thread ---

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.session_seconds
        # Twice a batch in flight: one being stored while the next arrives.
        properties.ReceiveMaximum = min(65535, max(20, 2 * self.batch_size))
        self.directory.load()
        self.client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        """Whether the consumer is connected and subscribed within `timeout` seconds."""
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._full.set()

    def run(
        self, *, idle_exit: float | None = None, on_batch: Callable[[], None] | None = None
    ) -> ConsumerStats:
        """Store batches until `stop()` (or SIGTERM/SIGINT when installed), or, with
        `idle_exit`, once nothing has come for that many seconds."""
        last_activity = time.monotonic()
        try:
            while not self._stopping.is_set():
                batch = self._take()
                if not batch:
                    if idle_exit is not None and time.monotonic() - last_activity > idle_exit:
                        break
                    continue
                last_activity = time.monotonic()
                self._store(batch)
                if on_batch is not None:
                    on_batch()
            # What arrived before the stop is stored and acknowledged, not left to the broker.
            batch = self._take(wait=False)
            if batch:
                self._store(batch)
        finally:
            self.client.disconnect()
            self.client.loop_stop()
        return self.stats

    def _take(self, *, wait: bool = True) -> list[tuple[int, int, bytes]]:
        pending = self._pending
        if wait and len(pending) < self.batch_size and not self._stopping.is_set():
            self._full.wait(self.batch_seconds)
        self._full.clear()
        popleft = pending.popleft
        batch = [popleft() for _ in range(min(len(pending), self.batch_size))]
        if len(pending) >= self.batch_size:
            self._full.set()  # the next batch is already in
        return batch

    def _store(self, batch: list[tuple[int, int, bytes]]) -> None:
        payloads = [payload for _mid, _qos, payload in batch]
        delay = 1.0
        while True:
            try:
                result = telemetry_ingest(payloads, now=clock.now(), directory=self.directory)
                break
            except DatabaseError:
                # The database is away: keep the batch (unacknowledged) and try again.
                logger.exception("telegrams not stored, retrying in %.0f s", delay)
                close_old_connections()
                if self._stopping.wait(delay):
                    raise
                delay = min(delay * 2, 30.0)
        # After the commit, and only then: the broker forgets these telegrams.
        self._ack(batch)
        self.stats.received += result.received
        self.stats.stored += result.stored
        self.stats.rejected += result.rejected_total
        self.stats.batches += 1

    def _ack(self, batch: list[tuple[int, int, bytes]]) -> None:
        """Acknowledge the batch's QoS 1 telegrams with their PUBACKs written at once: one
        packet of them all for paho's network thread, one write to the socket, rather
        than a queued packet, a wake-up and a write each. The PUBACKs are those paho's own
        `ack()` makes (MQTT 5 allows the reason code left out when it is success)."""
        mids = [mid for mid, qos, _payload in batch if qos == 1]
        queue = getattr(self.client, "_packet_queue", None)
        if mids and queue is not None:
            queue(_PUBACK, b"".join([_PUBACK_HEAD + _MID.pack(mid) for mid in mids]), 0, 1)
        elif mids:
            for mid in mids:
                self.client.ack(mid, 1)
        for mid, qos, _payload in batch:
            if qos == 2:
                self.client.ack(mid, 2)


# A PUBACK: its type, a remaining length of 2, the packet id.
_PUBACK = 0x40
_PUBACK_HEAD = bytes((_PUBACK, 2))
_MID = struct.Struct("!H")


def stop_on_signals(consumer: Consumer) -> None:
    def handler(signum: int, _frame: Any) -> None:
        logger.info("signal %s: finishing the current batch", signum)
        consumer.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
