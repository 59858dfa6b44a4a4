"""Two `autolettura telemetry` processes on one shared subscription of the real Mosquitto:
every telegram stored once, both did part of the work, and a consumer killed with SIGKILL
in the middle loses nothing the broker delivered (it comes back with the same client id and
the broker sends again what it never acknowledged)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from autolettura.customers.models import Meter
from autolettura.telemetry.models import Point
from tests.conftest import make_supply
from tests.ops.processes import database_url_for_processes, wait_for
from tests.ops.support import BIN, ROOT, production_env
from tests.telemetry import mqtt
from tests.telemetry.payloads import wmbus

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: the consumers are other processes on the test database",
    ),
    pytest.mark.django_db(transaction=True),
]

METERS = 100
PER_METER = 40  # 4,000 telegrams
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    with mqtt.broker() as url:
        yield url


class ConsumerProcess:
    def __init__(self, env: dict[str, str], client_id: str, log: Path) -> None:
        self.env, self.client_id, self.log = env, client_id, log
        self.runs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.runs.append(
                subprocess.Popen(
                    [str(BIN / "autolettura"), "telemetry", "--client-id", self.client_id],
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def stored(self) -> int:
        """What this consumer stored, over all its runs (a line a committed batch)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        total, last = 0, 0
        for line in text.splitlines():
            found = re.match(r"batch (\d+): stored (\d+) of", line)
            if found:
                if int(found.group(1)) == 1:
                    total += last
                last = int(found.group(2))
        return total + last

    def kill(self) -> None:
        os.killpg(self.runs[-1].pid, signal.SIGKILL)
        self.runs[-1].wait(timeout=10)

    def stop(self) -> None:
        for run in self.runs:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGTERM)
                try:
                    run.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(run.pid, signal.SIGKILL)
                    run.wait(timeout=10)


def test_two_consumers_share_the_stream_and_a_killed_one_loses_nothing(
    broker_url: str, tmp_path: Path
) -> None:
    for n in range(METERS):
        meter = make_supply().meters.get()
        Meter.objects.filter(pk=meter.pk).update(radio_id=f"{62_000_000 + n}")
    prefix = mqtt.prefix()
    env = production_env(
        tmp_path / "home",
        DATABASE_URL=database_url_for_processes("telemetry"),
        AUTOLETTURA_MQTT_URL=broker_url,
        AUTOLETTURA_MQTT_TOPICS=f"{prefix}/wmbusmeters/#",
        AUTOLETTURA_MQTT_SHARE_GROUP=f"g{prefix}",
        AUTOLETTURA_TELEMETRY_BATCH="100",
        AUTOLETTURA_TELEMETRY_BATCH_MS="100",
        # This checkout's code, wherever the virtualenv's editable install points.
        PYTHONPATH=str(ROOT / "src"),
    )
    a = ConsumerProcess(env, f"a-{prefix}", tmp_path / "a.log")
    b = ConsumerProcess(env, f"b-{prefix}", tmp_path / "b.log")
    telegrams = [
        (
            f"{prefix}/wmbusmeters/{n}",
            wmbus(f"{62_000_000 + n}", START + timedelta(minutes=4 * i), 10 + i / 100),
        )
        for i in range(PER_METER)
        for n in range(METERS)
    ]
    try:
        a.start()
        b.start()
        logs = [a.log, b.log]
        wait_for(
            lambda: (
                "session new" in a.log.read_text() and "session new" in b.log.read_text()
                if a.log.exists() and b.log.exists()
                else False
            ),
            "both consumers connected",
            logs=logs,
        )
        half = len(telegrams) // 2
        mqtt.publish(broker_url, telegrams[:half])
        wait_for(lambda: a.stored() > 0, "consumer a storing", logs=logs)
        a.kill()  # SIGKILL: whatever it held unacknowledged is the broker's to send again
        a.start()
        wait_for(lambda: "session resumed" in a.log.read_text(), "consumer a back", logs=logs)
        # Published once a is back: Mosquitto holds at most max_queued_messages (1,000 by
        # default) for a consumer that is away, a limit of the broker's configuration
        # (docs/deploy.md), not what this test is about.
        mqtt.publish(broker_url, telegrams[half:])
        wait_for(
            lambda: Point.objects.count() >= len(telegrams),
            "every telegram stored",
            logs=logs,
            deadline_s=120,
        )
    finally:
        a.stop()
        b.stop()
        _forget(broker_url, a.client_id, b.client_id)
    assert Point.objects.count() == len(telegrams)
    assert b.stored() > 0 and a.stored() > 0, (a.stored(), b.stored())
    # Every telegram stored exactly once: the points' primary key is (meter, time).
    assert Point.objects.values("meter_id", "at").distinct().count() == len(telegrams)


def _forget(url: str, *client_ids: str) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    for client_id in client_ids:
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.connect("127.0.0.1", mqtt.port_of(url), clean_start=True)
        client.disconnect()
