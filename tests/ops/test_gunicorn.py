"""The production server really serves the app: gunicorn with deploy/gunicorn.conf.py."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from benchmarks.support import child_pids
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.support import BIN, ROOT, Gunicorn, get, gunicorn, production_env


@pytest.fixture(scope="module")
def migrated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A production home on SQLite (its own var/), migrated as `autolettura migrate` does."""
    home = tmp_path_factory.mktemp("home")
    subprocess.run(
        [str(BIN / "autolettura"), "migrate", "--no-input"],
        cwd=ROOT,
        env=production_env(home),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return home


class TestGunicorn:
    def test_serves_the_health_check_and_adds_up_every_workers_metrics(
        self, migrated_home: Path, tmp_path: Path
    ) -> None:
        env = production_env(
            migrated_home,
            WEB_CONCURRENCY="2",
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        )
        with gunicorn(env) as base:
            answers = [get(f"{base}/healthz") for _ in range(6)]
            status, text = get(f"{base}/metrics")

        assert answers[0] == (
            200,
            json.dumps({"status": "ok", "database": "ok", "broker": "not configured"}).encode(),
        )
        assert {code for code, _ in answers} == {200}
        assert status == 200
        # Each request went to one of two workers; the scrape counts them all.
        counts = {
            sample.labels["route"]: sample.value
            for family in text_string_to_metric_families(text.decode())
            for sample in family.samples
            if sample.name == "autolettura_http_request_duration_seconds_count"
        }
        assert counts["healthz"] == 6

    def test_answers_503_naming_the_database_when_it_is_down(self, tmp_path: Path) -> None:
        env = production_env(tmp_path, DATABASE_URL="postgres://autolettura@127.0.0.1:1/nothing")
        with gunicorn(env) as base:
            status, body = get(f"{base}/healthz")

        assert status == 503
        assert json.loads(body) == {
            "status": "unavailable",
            "database": "unavailable",
            "broker": "not configured",
        }

    @pytest.mark.parametrize("chosen", [False, True], ids=["in memory", "where the setting says"])
    def test_each_workers_heartbeat_file_is_in_memory_unless_set_elsewhere(
        self, migrated_home: Path, tmp_path: Path, chosen: bool
    ) -> None:
        folder = tmp_path / "heartbeats"
        folder.mkdir()
        variables = {"WEB_CONCURRENCY": "1"}
        if chosen:
            variables["GUNICORN_WORKER_TMP_DIR"] = str(folder)
        with tempfile.TemporaryDirectory() as logs:
            server = Gunicorn(production_env(migrated_home, **variables), Path(logs) / "log")
            server.start()
            try:
                assert get(f"{server.url}/livez")[0] == 200
                workers = child_pids(server.process.pid)
                files = [_heartbeat_file(worker) for worker in workers]
            finally:
                server.stop()

        assert len(workers) == 1
        expected = str(folder) if chosen else "/dev/shm"
        # gunicorn removes the file's name at once and keeps it open: "... (deleted)".
        assert all(Path(name).parent == Path(expected) for name in files), files


def _heartbeat_file(worker: int) -> str:
    """The path of the worker's open heartbeat file (gunicorn's wgunicorn-*)."""
    for fd in Path(f"/proc/{worker}/fd").iterdir():
        target = os.readlink(fd)
        if "/wgunicorn-" in target:
            return target.removesuffix(" (deleted)")
    raise AssertionError(f"worker {worker} holds no heartbeat file")
