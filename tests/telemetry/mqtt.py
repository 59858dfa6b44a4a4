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
    with own_broker() as (url, _folder):
        yield url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def own_broker(
    config: str = "allow_anonymous true\npersistence false\n",
    *,
    port: int = 0,
    folder: Path | None = None,
    scheme: str = "mqtt",
) -> Iterator[tuple[str, Path]]:
    """A Mosquitto of the test's own on a free port (or `port`), with `config` after its
    listener line (`{folder}` in it: the broker's folder), and its URL and folder."""
    port = port or free_port()
    own_folder = folder is None
    folder = folder or Path(tempfile.mkdtemp(prefix="mosquitto-"))
    (folder / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\n" + config.replace("{folder}", str(folder))
    )
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(folder / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("mosquitto did not start")
            time.sleep(0.05)
        yield f"{scheme}://127.0.0.1:{port}", folder
    finally:
        process.terminate()
        process.wait(timeout=10)
        if own_folder:
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
