"""The real Mosquitto for the smart-meter tests: the one on 127.0.0.1:1883 when it answers,
else one started for the test run on a free port. Every test publishes under a topic prefix
of its own, so that runs in parallel never see each other's telegrams."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _answers(port: int) -> bool:
    with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextmanager
def broker() -> Iterator[str]:
    """The URL of a running Mosquitto."""
    if _answers(1883):
        yield "mqtt://127.0.0.1:1883"
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="mosquitto-"))
    (folder / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
    )
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(folder / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start")
            time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def publish(url: str, messages: Sequence[tuple[str, bytes]]) -> None:
    """Publish with QoS 1 and wait until the broker has acknowledged every message."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.connect("127.0.0.1", port_of(url))
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
