"""The MQTT consumer behind `autolettura telemetry`.

MQTT 5, QoS 1, a persistent session (clean start off, a session expiry) and manual
acknowledgements: a telegram is acknowledged to the broker only once the batch that holds it
has committed, so a consumer killed at any moment loses nothing the broker delivered: the
broker sends the unacknowledged telegrams again when the consumer (same client id) comes
back, and the points' primary key makes the second copy change nothing. Several consumers
subscribe to `$share/GROUP/topic` and the broker splits the stream between them.

The broker may send at most `receive_maximum` telegrams not yet acknowledged: that bounds
the memory a consumer holds, whatever the rate of the stream.

The MQTT client is our own (`telemetry.mqtt`): it reads the socket in large chunks and hands
on every telegram of a read at once, and writes a batch's acknowledgements in one send.
"""

from __future__ import annotations

import logging
import queue
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from django.db import DatabaseError, close_old_connections

from autolettura import clock
from autolettura.telemetry import mqtt
from autolettura.telemetry.services import (
    MeterDirectory,
    TelegramBatch,
    telemetry_prepare,
    telemetry_store,
)

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

    def endpoint(self) -> mqtt.Endpoint:
        """TLS verifies the broker's certificate against the system's CAs (or `SSL_CERT_FILE`)
        and its host name."""
        return mqtt.Endpoint(self.host, self.port, self.tls, self.username, self.password)


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


# How long a thread may hold the interpreter while another waits for it (Python: 5 ms).
SWITCH_INTERVAL_S = 0.0005

# A telegram as the network thread hands it on: (the connection it came on, packet id,
# QoS, payload).
Received = tuple[int, int, int, bytes]
# A batch as the preparing thread hands it to the storing thread, or what stopped it.
Prepared = tuple[list[Received], TelegramBatch] | BaseException


class Consumer:
    """Receives telegrams on the MQTT client's network thread, reads each batch on a
    preparing thread while the one before is being stored, stores batches on the calling
    thread, and acknowledges each after its commit.

    Three threads, because each waits on something else: the network thread on the broker,
    the storing thread on the database (psycopg lets the others run meanwhile), and the
    preparing thread on neither, so the Python work of the next batch (reading its JSON
    or Protobuf, matching its meters) is done while the database works on this one."""

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
        # Filled by the network thread, emptied by the preparing thread: a deque's extend
        # and popleft are atomic, so a telegram costs no lock on its way in.
        self._pending: deque[Received] = deque()
        # One batch prepared ahead, handed to the storing thread (or what stopped the
        # preparing thread, raised again on the storing thread).
        self._prepared: queue.Queue[Prepared] = queue.Queue(maxsize=1)
        self._in_hand: Prepared | None = None
        self._full = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self.client = mqtt.Client(
            self.broker.endpoint(),
            client_id=self.client_id,
            filters=[subscription(t, self.group) for t in self.topics],
            on_messages=self._on_messages,
            session_seconds=session_seconds,
            # Three batches in flight: one being stored, the next prepared, one arriving.
            receive_maximum=min(65535, max(30, 3 * batch_size)),
            keepalive=30,
            on_subscribed=self._on_subscribed,
            on_disconnected=self._connected.clear,
            held_back=self._held_back,
        )

    # --- network thread ---

    def _on_messages(self, connection: int, messages: list[mqtt.Message]) -> None:
        pending = self._pending
        pending.extend([(connection, i, qos, payload) for i, qos, _topic, payload in messages])
        if len(pending) >= self.batch_size:
            self._full.set()

    def _held_back(self) -> bool:
        # Past the receive maximum: a broker that keeps to it never meets this.
        return len(self._pending) >= 4 * self.batch_size

    def _on_subscribed(self, granted: bool) -> None:
        if granted:
            self._connected.set()

    # --- storing thread ---

    def start(self) -> None:
        self.directory.load()
        self.client.start()

    def wait_connected(self, timeout: float) -> bool:
        """Whether the consumer is connected and subscribed within `timeout` seconds."""
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._full.set()

    def close(self) -> None:
        """Disconnect without storing what is pending (the broker keeps it for the session)."""
        self.stop()
        self.client.close()

    def run(
        self, *, idle_exit: float | None = None, on_batch: Callable[[], None] | None = None
    ) -> ConsumerStats:
        """Store batches until `stop()` (or SIGTERM/SIGINT when installed), or, with
        `idle_exit`, once nothing has come for that many seconds."""
        preparing = threading.Thread(target=self._prepare_all, name="telemetry-prepare")
        # The storing thread gets the interpreter back at once when PostgreSQL answers: with
        # Python's default of 5 ms, it waited behind the reading thread after each of a
        # batch's statements, and the two halves of the work hardly overlapped (measured:
        # 29,500 against 35,100 telegrams/s, benchmarks/RESULTS.md).
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        preparing.start()
        last_activity = time.monotonic()
        try:
            while not self._stopping.is_set():
                try:
                    item = self._prepared.get(timeout=self.batch_seconds)
                except queue.Empty:
                    if idle_exit is not None and time.monotonic() - last_activity > idle_exit:
                        break
                    continue
                last_activity = time.monotonic()
                self._store(item)
                if on_batch is not None:
                    on_batch()
            # What arrived before the stop is stored and acknowledged, not left to the broker:
            # the batch handed on, the one the preparing thread had in hand, the rest.
            self._stopping.set()
            preparing.join()
            while not self._prepared.empty():
                self._store(self._prepared.get())
            if self._in_hand is not None:
                self._store(self._in_hand)
            batch = self._take(wait=False)
            if batch:
                self._store((batch, self._prepare(batch)))
        finally:
            self._stopping.set()
            preparing.join()
            self.client.close()
            sys.setswitchinterval(switch_interval)
        return self.stats

    def _prepare_all(self) -> None:
        """The preparing thread: each batch read and matched, then handed on (at most one
        waits), until the stop."""
        try:
            while not self._stopping.is_set():
                batch = self._take()
                if batch:
                    self._hand_on((batch, self._prepare(batch)))
        except BaseException as exc:  # raised again on the storing thread
            logger.exception("telegrams not prepared")
            self._hand_on(exc)

    def _hand_on(self, item: Prepared) -> None:
        while True:
            try:
                self._prepared.put(item, timeout=0.1)
                return
            except queue.Full:
                if self._stopping.is_set():
                    # The storing thread takes it once this thread has ended.
                    self._in_hand = item
                    return

    def _prepare(self, batch: list[Received]) -> TelegramBatch:
        return telemetry_prepare(
            [payload for _c, _i, _qos, payload in batch], now=clock.now(), directory=self.directory
        )

    def _take(self, *, wait: bool = True) -> list[Received]:
        pending = self._pending
        if wait and len(pending) < self.batch_size and not self._stopping.is_set():
            self._full.wait(self.batch_seconds)
        self._full.clear()
        popleft = pending.popleft
        batch = [popleft() for _ in range(min(len(pending), self.batch_size))]
        if len(pending) >= self.batch_size:
            self._full.set()  # the next batch is already in
        return batch

    def _store(self, item: Prepared) -> None:
        if isinstance(item, BaseException):
            raise item
        batch, prepared = item
        delay = 1.0
        while True:
            try:
                result = telemetry_store(prepared, self.directory)
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

    def _ack(self, batch: list[Received]) -> None:
        """The batch's acknowledgements, written at once (a PUBACK for QoS 1, a PUBREC for
        QoS 2). Those of telegrams that came on a connection since lost are not sent: the
        broker sends those telegrams again, and their second copy changes nothing."""
        connection = batch[0][0]
        if all(c == connection for c, _i, _q, _p in batch):
            groups = {connection: [(i, qos) for _c, i, qos, _p in batch]}
        else:
            groups = {}
            for c, i, qos, _p in batch:
                groups.setdefault(c, []).append((i, qos))
        for c, pairs in groups.items():
            if not self.client.ack(c, pairs):
                logger.info(
                    "%d telegrams stored after their connection was lost: the broker sends "
                    "them again",
                    len(pairs),
                )


def stop_on_signals(consumer: Consumer) -> None:
    def handler(signum: int, _frame: Any) -> None:
        logger.info("signal %s: finishing the current batch", signum)
        consumer.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
