"""The web process collects the static files before it serves, however it is started.

Pages name the static files by the hashed names `collectstatic` gives them (WhiteNoise's
manifest): a deployment that skipped it failed every page. The Procfile's `web` line and the
systemd unit of the web service (deploy/systemd/autolettura-web.service) now run
`autolettura collectstatic --no-input` first, and do not start gunicorn when it fails; the
unit runs it again on a reload (an upgrade), before gunicorn loads the new code's pages.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

from tests.ops.support import ROOT

WEB_UNIT = ROOT / "deploy" / "systemd" / "autolettura-web.service"


def procfile() -> dict[str, str]:
    """The Procfile's process types and their command lines."""
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


def unit(path: Path) -> dict[str, list[str]]:
    """A systemd unit's settings, each with its values in order."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def fake_command(folder: Path, name: str, log: Path, status: int = 0) -> None:
    """An executable `name` that notes its arguments in `log` and exits with `status`."""
    script = folder / name
    script.write_text(f'#!/bin/sh\necho "{name} $*" >> {shlex.quote(str(log))}\nexit {status}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def run_web_line(tmp_path: Path, *, collectstatic_status: int) -> tuple[int, list[str]]:
    """The Procfile's web line as honcho or foreman runs it (`sh -c`), with stand-ins for
    `autolettura` and `gunicorn` on PATH; its exit status and the commands it ran."""
    folder, log = tmp_path / "bin", tmp_path / "ran.log"
    folder.mkdir()
    fake_command(folder, "autolettura", log, collectstatic_status)
    fake_command(folder, "gunicorn", log)
    env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["/bin/sh", "-c", procfile()["web"]], cwd=ROOT, env=env, timeout=60, check=False
    )
    return done.returncode, log.read_text().splitlines() if log.exists() else []


class TestProcfile:
    def test_the_web_process_collects_the_static_files_then_starts_gunicorn(
        self, tmp_path: Path
    ) -> None:
        status, ran = run_web_line(tmp_path, collectstatic_status=0)

        assert status == 0
        assert [line.split()[:3] for line in ran] == [
            ["autolettura", "collectstatic", "--no-input"],
            ["gunicorn", "-c", "deploy/gunicorn.conf.py"],
        ]

    def test_gunicorn_does_not_start_when_collecting_fails(self, tmp_path: Path) -> None:
        status, ran = run_web_line(tmp_path, collectstatic_status=1)

        assert status != 0
        assert [line.split()[0] for line in ran] == ["autolettura"]

    def test_no_other_process_type_ends_at_once(self) -> None:
        # honcho and foreman stop every process when one ends: a one-off step such as a
        # `release:` line would take the whole application down.
        assert set(procfile()) == {"web", "worker", "beat", "telemetry"}


class TestWebUnit:
    def test_collects_the_static_files_before_gunicorn_starts(self) -> None:
        settings = unit(WEB_UNIT)

        [before] = settings["ExecStartPre"]
        [start] = settings["ExecStart"]
        command = shlex.split(before)
        assert command[1:3] == ["collectstatic", "--no-input"]
        # The same installation's commands.
        assert Path(command[0]).parent == Path(shlex.split(start)[0]).parent
        assert Path(command[0]).name == "autolettura"
        assert Path(shlex.split(start)[0]).name == "gunicorn"

    def test_a_reload_collects_the_static_files_before_gunicorn_loads_the_new_code(
        self,
    ) -> None:
        settings = unit(WEB_UNIT)

        collect, hangup = settings["ExecReload"]
        assert collect == settings["ExecStartPre"][0]
        assert hangup == "/bin/kill -s HUP $MAINPID"

    def test_may_write_the_static_files_and_has_the_time_to(self) -> None:
        settings = unit(WEB_UNIT)

        [home] = [
            v.split("=", 1)[1] for v in settings["Environment"] if v.startswith("AUTOLETTURA_HOME=")
        ]
        static_root = Path(home) / "var" / "static"  # settings.STATIC_ROOT under it
        writable = [Path(p) for v in settings["ReadWritePaths"] for p in v.split()]
        assert any(static_root.is_relative_to(path) for path in writable)
        # Collecting compresses every file twice: longer than systemd's default 90 s.
        [timeout] = settings["TimeoutStartSec"]
        assert int(timeout) >= 180
