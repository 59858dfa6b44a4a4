"""Benchmark: smart-meter telegrams through the local Mosquitto into PostgreSQL, end to end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/autolettura \\
        .venv/bin/python -m benchmarks.telemetry_ingest --meters 100000 --hours 10

The benchmark works in its own database (`autolettura_bench_telemetry`, or the one
BENCH_TELEMETRY_DATABASE names; created and migrated if missing, emptied at each run). It makes
N remote meters (setup, not measured) and publishes N x H wmbusmeters telegrams (QoS 1) to a
Mosquitto of its own on a free loopback port,
configured as docs/deploy.md says a broker feeding the consumers should be (no limit on the
telegrams queued for a subscriber: with the default 1,000, Mosquitto drops the rest silently
whenever a subscriber falls behind; 1,000 QoS 1 telegrams a publisher may have in flight rather
than 20), or to `--broker URL`, then measures in one run:

(a) a bare subscriber that only counts the telegrams and acknowledges each read's at once
    (MQTT 5, QoS 1, the consumer's own client, `telemetry.mqtt`): the broker's and the client's
    limit on this machine;
(b) the real consumer (`telemetry.consumer.Consumer`: parse, match, COPY, deduplicate,
    hourly and daily totals, acknowledge after commit), end to end from the first telegram
    published to the last one committed, with its memory sampled as it goes;
(c) a raw COPY of the same rows into a bare table: the database's limit;
(d) the daily readings of the N meters (`telemetry_readings`).

The telegrams are published by several processes at once (`--publishers`, each a slice of
the meters), each as fast as the broker takes them, so that the broker and the subscriber
set the rate, not one Python publisher; (a) and (b) are published the same way. Each
publisher is `telemetry.mqtt.Publisher`: every telegram a PUBLISH of QoS 1, as many in flight
as the broker's Receive Maximum allows, written a few hundred at a time, and the publisher
done only once the broker has acknowledged every one (a PUBACK of success each). Each run
ends when the subscriber has the last one (counted, or committed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from benchmarks.support import (
    Breakdown,
    backend_pid,
    database_ensure,
    is_postgres,
    memory_gb,
    own_cpu,
)

# Its own database; BENCH_TELEMETRY_DATABASE names another (two checkouts benchmarking at once).
BENCH_DATABASE = os.environ.get("BENCH_TELEMETRY_DATABASE", "autolettura_bench_telemetry")
MAX_TELEGRAMS = 2_000_000
MAX_PUBLISHERS = 16
AIM_RATE = 20_000  # telegrams a second end to end
AIM_READINGS_S = 10.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _telegrams(meters: range, hours: int, start: datetime) -> list[tuple[str, bytes]]:
    out = []
    for h in range(hours):
        at = (start + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for m in meters:
            document = {
                "media": "water",
                "meter": "multical21",
                "id": str(70_000_000 + m),
                "total_m3": round(100 + m % 97 + h * 0.013, 3),
                "current_status": "OK",
                "timestamp": at,
            }
            out.append((f"wmbusmeters/{m}", json.dumps(document).encode()))
    return out


def _publisher(
    port: int,
    prefix: str,
    meters: range,
    hours: int,
    start: datetime,
    done: Synchronized,
    window: int,
    gates: tuple[Any, Any],
) -> None:
    from autolettura.telemetry.mqtt import Endpoint, Publisher

    telegrams = [
        (f"{prefix}/{topic}".encode(), payload)
        for topic, payload in _telegrams(meters, hours, start)
    ]
    # A long keepalive: a publisher busy publishing sends nothing else.
    publisher = Publisher(Endpoint("127.0.0.1", port), keepalive=600)
    # Generated before the clock starts: only the publishing is timed.
    generated, go = gates
    generated.release()
    go.wait()
    if window:  # paced: a block at a time, no further than `window` ahead of the subscriber
        published = 0
        for at in range(0, len(telegrams), 5000):
            while at - done.value > window:
                time.sleep(0.001)
            published += publisher.publish(telegrams[at : at + 5000])
    else:
        published = publisher.publish(telegrams)
    publisher.close()
    if published != len(telegrams):
        raise RuntimeError(f"published {published} of {len(telegrams)}")


def _bare_subscriber(
    port: int,
    prefix: str,
    total: int,
    done: Synchronized,
    ready: Any,
    resume: bool = False,
    cpu: Any = None,
) -> None:
    import threading

    from autolettura.telemetry.mqtt import Client, Endpoint, Message

    count = 0
    finished = threading.Event()

    def on_messages(connection: int, messages: list[Message]) -> None:
        nonlocal count
        client.ack(connection, [(i, qos) for i, qos, _topic, _payload in messages])
        count += len(messages)
        done.value = count
        if count >= total:
            finished.set()

    def on_subscribed(_granted: bool) -> None:
        ready.set()
        if total == 0:
            finished.set()

    # `resume`: the session that subscribed before the telegrams were published, and that
    # the broker queued them for.
    client = Client(
        Endpoint("127.0.0.1", port),
        client_id=f"bare-{prefix}",
        filters=[f"{prefix}/wmbusmeters/#"],
        on_messages=on_messages,
        session_seconds=600,
        receive_maximum=4000,
        clean_start=not resume,
        on_subscribed=on_subscribed,
    )
    if resume:
        ready.set()
    started = own_cpu()
    client.start()
    finished.wait()
    client.close()
    if cpu is not None:
        cpu.value = own_cpu() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=100_000, help="remote meters")
    parser.add_argument("--hours", type=int, default=1, help="telegrams per meter (one an hour)")
    parser.add_argument("--batch", type=int, default=2000, help="the consumer's batch size")
    parser.add_argument("--publishers", type=int, default=4, help="publishing processes (1 to 16)")
    parser.add_argument(
        "--broker", default="", help="an MQTT 5 broker's URL instead of a Mosquitto of its own"
    )
    args = parser.parse_args(argv)
    total = args.meters * args.hours
    if not 1000 <= total <= MAX_TELEGRAMS or args.hours > 20:
        parser.error(f"meters x hours must be from 1,000 to {MAX_TELEGRAMS:,}, hours at most 20")
    if not 1 <= args.publishers <= MAX_PUBLISHERS or args.publishers > args.meters:
        parser.error(f"--publishers must be from 1 to {MAX_PUBLISHERS}, and at most --meters")

    from autolettura.env import load_dotenv

    load_dotenv(Path(os.environ.get("AUTOLETTURA_HOME", Path.cwd())) / ".env")
    url = os.environ.get("DATABASE_URL", "")
    if not is_postgres(url):
        sys.exit("This benchmark measures PostgreSQL (COPY) and needs DATABASE_URL=postgres://...")
    bench_url = database_ensure(url, BENCH_DATABASE)
    os.environ["DATABASE_URL"] = bench_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "autolettura.settings"
    with contextlib.ExitStack() as stack:
        broker = args.broker or stack.enter_context(_own_mosquitto())
        _run(args, bench_url, broker, total)


@contextlib.contextmanager
def _own_mosquitto() -> Any:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="bench-mosquitto-"))
    (folder / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 1000\n"
    )
    process = subprocess.Popen(
        [binary, "-c", str(folder / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def _run(args: argparse.Namespace, bench_url: str, broker: str, total: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from autolettura import clock
    from autolettura.rules.window import ROME, rome_today
    from autolettura.telemetry.consumer import Consumer, broker_parse
    from autolettura.telemetry.services import telemetry_readings

    call_command("migrate", verbosity=0)
    port = broker_parse(broker).port
    now = clock.now()
    day = rome_today(now) - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 8, tzinfo=ROME).astimezone(UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        server = cursor.fetchone()[0].split(" on ")[0]
    print(
        f"Telemetry benchmark: {total:,} telegrams ({args.meters:,} meters x {args.hours} "
        f"hours), {server}, broker {broker}"
    )
    print(
        f"machine: {os.cpu_count()} cores, {memory_gb():.0f} GB RAM, "
        f"Python {sys.version.split()[0]}"
    )
    print("load average at the start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    print(
        f"publishers: {args.publishers} processes, QoS 1 (telemetry.mqtt.Publisher); "
        f"database {BENCH_DATABASE}"
    )

    started = time.perf_counter()
    _meters_create(args.meters)
    setup_s = time.perf_counter() - started
    print(f"setup (not measured): {args.meters:,} remote meters in {setup_s:.1f} s")
    connection.close()

    context = multiprocessing.get_context("fork")
    window = 0  # no pacing: the broker queues what the subscriber has not taken yet

    # (a) The bare subscriber.
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    done = context.Value("q", 0)
    ready = context.Event()
    bare_cpu = context.Value("d", 0.0)
    subscriber = context.Process(
        target=_bare_subscriber, args=(port, prefix, total, done, ready, False, bare_cpu)
    )
    subscriber.start()
    ready.wait(30)
    publishers, go = _publishers(context, args, port, prefix, start, done, window)
    t0 = time.perf_counter()
    go.set()
    subscriber.join()
    bare_s = time.perf_counter() - t0
    for publisher in publishers:
        publisher.join()
    bare_rate = total / bare_s
    print(f"(a) bare counting subscriber: {bare_s:7.1f} s, {bare_rate:9,.0f} telegrams/s")
    print(f"    CPU a telegram: {bare_cpu.value / total * 1e6:.1f} µs (the subscriber)")

    # (b) The consumer, end to end into PostgreSQL.
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    done = context.Value("q", 0)
    consumer = Consumer(
        url=broker,
        topics=[f"{prefix}/wmbusmeters/#"],
        group=f"g{prefix}",
        client_id=f"c-{prefix}",
        session_seconds=600,
        batch_size=args.batch,
        batch_seconds=0.2,
    )
    memory: list[float] = []

    def on_batch() -> None:
        done.value = consumer.stats.received
        if consumer.stats.batches % 25 == 1:
            memory.append(_rss_mb())
        if consumer.stats.received >= total:
            consumer.stop()

    consumer.start()
    consumer.wait_connected(30)
    publishers, go = _publishers(context, args, port, prefix, start, done, window)
    with connection.cursor() as cursor:  # the consumer's own: it stores on this thread
        breakdown = Breakdown(backend_pid(cursor))
    t0 = time.perf_counter()
    go.set()
    stats = consumer.run(on_batch=on_batch)
    consumer_s = time.perf_counter() - t0
    cpu = breakdown.stop()
    for publisher in publishers:
        publisher.join()
    rate = total / consumer_s
    print(
        f"(b) consumer end to end:      {consumer_s:7.1f} s, {rate:9,.0f} telegrams/s "
        f"(stored {stats.stored:,}, refused {stats.rejected:,}, {stats.batches:,} batches)"
    )
    _cpu_print(cpu, total)
    if memory:
        print(
            "    memory (RSS) along the run: "
            + ", ".join(f"{m:.0f}" for m in memory[:: max(1, len(memory) // 6)])
            + f" MB; last {memory[-1]:.0f} MB"
        )
    _forget_session(port, f"c-{prefix}")

    # (a') and (b') The same two, each draining a queue the broker filled beforehand (each
    # subscribed, then went away while every telegram was published): nothing else runs
    # while they are timed, so the publishers take no share of the cores.
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    done = context.Value("q", 0)
    ready = context.Event()
    subscriber = context.Process(target=_bare_subscriber, args=(port, prefix, 0, done, ready))
    subscriber.start()  # with a total of 0: subscribes and leaves at once
    subscriber.join()
    _publish_all(context, args, port, prefix, start)
    ready = context.Event()
    t0 = time.perf_counter()
    subscriber = context.Process(
        target=_bare_subscriber, args=(port, prefix, total, done, ready, True)
    )
    subscriber.start()
    subscriber.join()
    bare_drain_s = time.perf_counter() - t0
    bare_drain_rate = total / bare_drain_s
    print(
        f"(a') bare subscriber, queued:  {bare_drain_s:7.1f} s, {bare_drain_rate:9,.0f} telegrams/s"
    )
    _forget_session(port, f"bare-{prefix}")

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    arguments = {
        "url": broker,
        "topics": [f"{prefix}/wmbusmeters/#"],
        "group": f"g{prefix}",
        "client_id": f"c-{prefix}",
        "session_seconds": 600,
        "batch_size": args.batch,
        "batch_seconds": 0.2,
    }
    away = Consumer(**arguments)
    away.start()
    away.wait_connected(30)
    away.close()
    _publish_all(context, args, port, prefix, start)
    _points_clear()
    consumer = Consumer(**arguments)
    memory.clear()
    t0 = time.perf_counter()
    consumer.start()
    with connection.cursor() as cursor:
        breakdown = Breakdown(backend_pid(cursor))
    stats = consumer.run(on_batch=on_batch)
    drain_s = time.perf_counter() - t0
    cpu = breakdown.stop()
    drain_rate = total / drain_s
    print(
        f"(b') consumer, queued:         {drain_s:7.1f} s, {drain_rate:9,.0f} telegrams/s "
        f"(stored {stats.stored:,}, refused {stats.rejected:,}, {stats.batches:,} batches)"
    )
    _cpu_print(cpu, total)
    if memory:
        print(
            "    memory (RSS) along the run: "
            + ", ".join(f"{m:.0f}" for m in memory[:: max(1, len(memory) // 6)])
            + f" MB; last {memory[-1]:.0f} MB"
        )
    _forget_session(port, f"c-{prefix}")

    # (c) A raw COPY of the same rows.
    raw_s = _raw_copy(args.meters, args.hours, start)
    raw_rate = total / raw_s
    print(f"(c) raw COPY of the rows:     {raw_s:7.1f} s, {raw_rate:9,.0f} rows/s")

    # (d) The daily readings.
    t0 = time.perf_counter()
    result = telemetry_readings(on=day, now=clock.now())
    readings_s = time.perf_counter() - t0
    print(
        f"(d) daily readings of {args.meters:,} meters: {readings_s:.1f} s "
        f"({result.accepted:,} accepted, {result.refused:,} not taken)"
    )

    print("load average at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    print()
    print(f"end to end / bare subscriber: {rate / bare_rate:.2f} (aim at least 0.5)")
    print(f"queued: consumer / bare:      {drain_rate / bare_drain_rate:.2f}")
    print(f"end to end / raw COPY:        {rate / raw_rate:.2f}")
    print(f"end to end / aim of {AIM_RATE:,}/s: {rate / AIM_RATE:.2f}")
    print(f"daily readings / aim of {AIM_READINGS_S:.0f} s: {readings_s / AIM_READINGS_S:.2f}")


def _cpu_print(cpu: tuple[float, float, float, float, float], total: int) -> None:
    """What a telegram cost the consumer's process (all its threads) and its PostgreSQL
    backend: unlike the rates, these do not move with the machine's other work."""
    _wall, python, postgres, _waits, queued = cpu
    print(
        f"    CPU a telegram: consumer {python / total * 1e6:.1f} µs (its three threads), "
        f"PostgreSQL {postgres / total * 1e6:.1f} µs; queued for a core {queued:.1f} s"
    )


def _publishers(
    context: Any,
    args: argparse.Namespace,
    port: int,
    prefix: str,
    start: datetime,
    done: Synchronized,
    window: int,
) -> tuple[list[Any], Any]:
    """`--publishers` processes, each with its slice of the meters, started and holding their
    telegrams ready; they publish once the returned event is set."""
    generated, go = context.Semaphore(0), context.Event()
    step = -(-args.meters // args.publishers)
    processes = [
        context.Process(
            target=_publisher,
            args=(
                port,
                prefix,
                range(lo, min(lo + step, args.meters)),
                args.hours,
                start,
                done,
                window,
                (generated, go),
            ),
        )
        for lo in range(0, args.meters, step)
    ]
    for process in processes:
        process.start()
    for _process in processes:
        generated.acquire()
    return processes, go


def _publish_all(
    context: Any, args: argparse.Namespace, port: int, prefix: str, start: datetime
) -> None:
    """Every telegram published (and taken by the broker) before anything is timed."""
    done = context.Value("q", 0)
    publishers, go = _publishers(context, args, port, prefix, start, done, 0)
    go.set()
    for publisher in publishers:
        publisher.join()


def _points_clear() -> None:
    """The points and totals of the run before: the queued run stores them all again."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE telemetry_point, telemetry_hour, telemetry_day")


def _meters_create(meters: int) -> None:
    from django.db import connection

    from autolettura.customers.models import Customer, Meter, Supply

    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {Customer._meta.db_table}, {Supply._meta.db_table}, "
            f"{Meter._meta.db_table}, telemetry_point, telemetry_hour, telemetry_day, "
            "telemetry_reject RESTART IDENTITY CASCADE"
        )
        cursor.execute(
            f"INSERT INTO {Customer._meta.db_table} "
            "(customer_code, name, email, phone, language, created_at) "
            "SELECT 'TU' || lpad(i::text, 9, '0'), 'Cliente ' || i, '', '', 'it', now() "
            "FROM generate_series(1, %s) i",
            [meters],
        )
        cursor.execute(
            f"INSERT INTO {Supply._meta.db_table} (supply_code, holder_id, address, usage, "
            "household_members, activated_on, created_at) "
            "SELECT 'TS' || lpad(i::text, 9, '0'), i, 'Via Roma ' || i, 'DOMESTIC_RESIDENT', "
            "3, current_date - 400, now() FROM generate_series(1, %s) i",
            [meters],
        )
        cursor.execute(
            f"INSERT INTO {Meter._meta.db_table} (supply_id, serial, digits, q4_m3h, "
            "installed_on, initial_reading, radio_id) "
            "SELECT i, 'TM' || lpad(i::text, 9, '0'), 5, 3.125, current_date - 400, 50, "
            "(70000000 + i - 1)::text FROM generate_series(1, %s) i",
            [meters],
        )
        cursor.execute("ANALYZE")


def _raw_copy(meters: int, hours: int, start: datetime) -> float:
    from django.db import connection, transaction

    rows = io.StringIO()
    for h in range(hours):
        at = (start + timedelta(hours=h)).isoformat()
        for m in range(meters):
            rows.write(f"{m + 1}\t{at}\t{100_000 + h * 13}\t0\n")
    text = rows.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw_point")
        cursor.execute(
            "CREATE TABLE bench_raw_point (meter_id bigint, at timestamptz, register_l bigint, "
            "flags smallint)"
        )
    t0 = time.perf_counter()
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy("COPY bench_raw_point FROM STDIN") as copy,
    ):
        copy.write(text)
    seconds = time.perf_counter() - t0
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_raw_point")
    return seconds


def _forget_session(port: int, client_id: str) -> None:
    from autolettura.telemetry.mqtt import Endpoint, session_forget

    session_forget(Endpoint("127.0.0.1", port), client_id)


if __name__ == "__main__":
    main()
