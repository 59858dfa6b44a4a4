"""The restore drill: the machine is gone, the backups bring back everything up to a moment.

On a PostgreSQL cluster of its own, archiving every WAL segment with pgBackRest configured by
deploy/pgbackrest.conf (only the paths and the key of this machine changed), the drill takes a
full backup, submits readings with photos, takes a differential backup, runs a bill run, backs
the files up with restic, each backup with the command line of its systemd unit
(deploy/systemd/autolettura-backup-*), notes the server's clock, then does more of both.
It destroys the cluster and every file, restores the database to the moment noted
(`pgbackrest restore --type=time`) and the files from the last restic snapshot before it, and
checks that every reading and bill of before is there with the same digest, every photo with
the same bytes, the installation's secret key too, and nothing of after; then that
`autolettura check-restore` finds the restore whole, and names a photo that goes missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.ops import drill_steps
from tests.ops.private_postgres import OS_USER, PrivatePostgres, private_postgres
from tests.ops.processes import wait_for
from tests.ops.support import ROOT, production_env

PGBACKREST = shutil.which("pgbackrest")
RESTIC = shutil.which("restic")
STANZA = "autolettura"

pytestmark = [
    pytest.mark.postgres,
    # The drill makes its own cluster; it runs once, in the PostgreSQL pass of the suite.
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="runs in the PostgreSQL pass of the suite"
    ),
    pytest.mark.skipif(PGBACKREST is None, reason="needs pgbackrest (Debian: pgbackrest)"),
    pytest.mark.skipif(RESTIC is None, reason="needs restic (Debian: restic)"),
]


def unit_commands(unit: str, key: str, replace: dict[str, str]) -> list[list[str]]:
    """The command lines of `key` (ExecStart, ExecStartPost) in deploy/systemd/`unit`, with
    this machine's paths in place of production's."""
    text = (ROOT / "deploy" / "systemd" / unit).read_text().replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        if line.startswith(f"{key}="):
            command = line.split("=", 1)[1]
            for old, new in replace.items():
                command = command.replace(old, new)
            commands.append(shlex.split(command))
    assert commands, f"{unit} has no {key}"
    return commands


def drill_config(template: str, values: dict[str, str]) -> str:
    """deploy/pgbackrest.conf with `values` in place of its settings of the same name (the
    paths and the key: pgBackRest takes the key from a file only, never a command line)."""
    lines = []
    for line in template.splitlines():
        name = line.split("=", 1)[0]
        if not line.startswith("#") and "=" in line and name in values:
            line = f"{name}={values[name]}"
        lines.append(line)
    missing = set(values) - {line.split("=", 1)[0] for line in lines}
    assert not missing, f"deploy/pgbackrest.conf has no {sorted(missing)}"
    return "\n".join(lines) + "\n"


@dataclass
class Drill:
    server: PrivatePostgres
    home: Path
    config: Path
    restic_repository: Path

    @property
    def env(self) -> dict[str, str]:
        return production_env(
            self.home,
            DATABASE_URL=self.server.url(STANZA),
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        )

    @property
    def restic_env(self) -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "RESTIC_REPOSITORY": str(self.restic_repository),
            "RESTIC_PASSWORD": "drill restic passphrase",
        }

    def product(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`autolettura ARGS` as production runs it, on the drill's database and home."""
        return subprocess.run(
            [sys.executable, "-m", "autolettura.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def step(self, *names: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "tests.ops.drill_steps", *names],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{names}: {result.stdout[-2000:]}{result.stderr[-3000:]}"

    def pgbackrest(self, *args: str) -> str:
        result = subprocess.run(
            [
                "runuser",
                "-u",
                OS_USER,
                "--",
                str(PGBACKREST),
                f"--config={self.config}",
                f"--stanza={STANZA}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"pgbackrest {args}: {result.stdout}{result.stderr}"
        return result.stdout

    def database_backup(self, kind: str) -> None:
        """What the timers start: autolettura-backup-db@full or @diff."""
        replace = {"%i": kind, "/usr/bin/pgbackrest": f"{PGBACKREST} --config={self.config}"}
        for command in unit_commands("autolettura-backup-db@.service", "ExecStart", replace):
            result = subprocess.run(
                ["runuser", "-u", OS_USER, "--", *command],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"

    def files_backup(self) -> None:
        """What the timer starts: autolettura-backup-files, its backup then its forget."""
        replace = {"/srv/autolettura": str(self.home), "/usr/bin/restic": str(RESTIC)}
        unit = "autolettura-backup-files.service"
        for key in ("ExecStart", "ExecStartPost"):
            for command in unit_commands(unit, key, replace):
                self.restic(*command[1:])

    def restic(self, *args: str) -> str:
        result = subprocess.run(
            [str(RESTIC), "--no-cache", *args],
            env=self.restic_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"restic {args}: {result.stdout}{result.stderr}"
        return result.stdout

    def sql(self, query: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.server.url(STANZA), autocommit=True) as conn:
            return conn.execute(query).fetchall()  # type: ignore[arg-type]


def _owned_by_postgres(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwnam(OS_USER)
    os.chown(path, user.pw_uid, user.pw_gid)
    return path


@pytest.fixture
def drill() -> Iterator[Drill]:
    with private_postgres() as server:
        folder = server.folder
        home = Path(tempfile.mkdtemp(prefix="autolettura-drill-home-"))
        try:
            config = folder / "pgbackrest.conf"
            template = (ROOT / "deploy" / "pgbackrest.conf").read_text()
            config.write_text(
                drill_config(
                    template,
                    {
                        "repo1-path": str(_owned_by_postgres(folder / "repository")),
                        "repo1-cipher-pass": "drill passphrase, not the real one",
                        "spool-path": str(_owned_by_postgres(folder / "spool")),
                        "log-path": str(_owned_by_postgres(folder / "pgbackrest-log")),
                        "lock-path": str(_owned_by_postgres(folder / "lock")),
                        "log-level-file": "off",
                        "log-level-console": "warn",
                        "process-max": "1",
                        "pg1-path": str(server.data),
                        "pg1-port": str(server.port),
                        "pg1-socket-path": str(folder),
                    },
                )
            )
            # Readable by the postgres user only, as on a server: it holds the key.
            user = pwd.getpwnam(OS_USER)
            os.chown(config, user.pw_uid, user.pw_gid)
            config.chmod(0o600)
            # The restic repository in the cluster's folder, which private_postgres removes.
            yield Drill(server, home, config, folder / "restic")
        finally:
            shutil.rmtree(home, ignore_errors=True)


def _digests(drill: Drill) -> tuple[dict[str, str], dict[str, str]]:
    """Each reading (by receipt) and each bill (by number, with its lines, which its row
    keeps) as a digest of every column PostgreSQL stores."""
    readings = drill.sql("SELECT receipt, md5(r::text) FROM readings_reading r")
    bills = drill.sql("SELECT b.year || '/' || b.sequence, md5(b::text) FROM billing_bill b")
    return (
        {str(k): str(v) for k, v in readings},
        {str(k): str(v) for k, v in bills},
    )


def _files(drill: Drill) -> dict[str, str]:
    """Every file under var/media and the secret key, by path, as SHA-256."""
    var = drill.home / "var"
    found = {
        str(path.relative_to(var)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((var / "media").rglob("*"))
        if path.is_file()
    }
    found["secret-key"] = hashlib.sha256((var / "secret-key").read_bytes()).hexdigest()
    return found


def test_a_point_in_time_restore_brings_back_everything_before_it_and_nothing_after(
    drill: Drill,
) -> None:
    server = drill.server
    # Archiving on, as docs/deploy.md sets it: every WAL segment goes to the repository.
    archive = f"pgbackrest --config={drill.config} --stanza={STANZA} archive-push %p"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET archive_mode = 'on'")
        conn.execute(f"ALTER SYSTEM SET archive_command = '{archive}'")  # type: ignore[arg-type]
        conn.execute(f"CREATE DATABASE {STANZA}")  # type: ignore[arg-type]
    server.stop()
    server.start()
    migrated = drill.product("migrate", "--no-input", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    drill.pgbackrest("stanza-create")
    drill.database_backup("full")
    drill.step("seed", "readings-a")
    drill.database_backup("diff")
    drill.step("bills-a")

    var = drill.home / "var"
    drill.restic("init")
    drill.files_backup()
    readings_before, bills_before = _digests(drill)
    files_before = _files(drill)
    (point,) = drill.sql("SELECT clock_timestamp()::text")[0]

    drill.step("phase-b")
    drill.files_backup()
    readings_all, bills_all = _digests(drill)
    # Both phases did their work, and the second one left traces to be rolled back.
    assert len(readings_before) == drill_steps.SUPPLIES
    assert len(readings_all) == 2 * drill_steps.SUPPLIES
    assert len(bills_before) > 0
    assert len(bills_all) == len(bills_before) + drill_steps.SUPPLIES
    # The WAL with phase B in the repository too: a restore must find where to stop.
    drill.pgbackrest("check")
    info = json.loads(drill.pgbackrest("info", "--output=json"))
    kinds = [backup["type"] for backup in info[0]["backup"]]
    assert kinds == ["full", "diff"]
    assert info[0]["cipher"] == "aes-256-cbc"

    # The machine is gone: the cluster, its data, the photos, the secret key.
    server.stop("immediate")
    shutil.rmtree(server.data)
    shutil.rmtree(var)
    assert not server.data.exists() and not var.exists()

    _owned_by_postgres(server.data).chmod(0o700)
    drill.pgbackrest("--type=time", f"--target={point}", "--target-action=promote", "restore")
    server.start()
    wait_for(
        lambda: drill.sql("SELECT pg_is_in_recovery()")[0][0] is False,
        "the restored cluster to finish recovery",
        deadline_s=60,
    )
    # The database alone is not the installation: check-restore says what is still missing.
    halfway = drill.product("check-restore")
    assert halfway.returncode == 1, halfway.stdout + halfway.stderr
    assert f"files referenced but missing from {var / 'media'} ({drill_steps.SUPPLIES})" in (
        halfway.stdout
    )
    assert "was made anew, not restored" in halfway.stdout

    snapshots = json.loads(drill.restic("snapshots", "--json"))
    before_point = [s for s in snapshots if _instant(s["time"]) <= _instant(point)]
    assert len(snapshots) == 2 and len(before_point) == 1
    drill.restic("restore", before_point[-1]["short_id"], "--target", "/")

    readings_after, bills_after = _digests(drill)
    assert readings_after == readings_before
    assert bills_after == bills_before
    assert _files(drill) == files_before
    assert drill.sql("SELECT last_sequence FROM billing_billnumbercounter") == [
        (len(bills_before),)
    ]

    checked = drill.product("check-restore")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"readings: {drill_steps.SUPPLIES}\n" in checked.stdout
    assert f"bills: {len(bills_before)}\n" in checked.stdout
    assert f"files referenced: {drill_steps.SUPPLIES}\n" in checked.stdout
    assert "note: secret key: " in checked.stdout
    assert "the restore is whole" in checked.stdout

    lost = sorted((var / "media").rglob("*.png"))[0]
    lost.unlink()
    checked = drill.product("check-restore")
    assert checked.returncode == 1
    assert "files referenced but missing from" in checked.stdout
    assert "problems found: 1" in checked.stdout
    assert str(lost.relative_to(var / "media")) in checked.stdout


def _instant(text: str) -> datetime:
    """An instant as PostgreSQL (`2026-12-06 09:30:00.123456+00`) or restic (RFC 3339 with
    nanoseconds) writes it."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace(" ", "T")).replace("Z", "+00:00")
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    return datetime.fromisoformat(text)
