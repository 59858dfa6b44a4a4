"""The pure parts of benchmarks/pg_settings.py: the settings it gives its private cluster
and the figures it reads from the benchmarks' output. Nothing here starts PostgreSQL."""

import re
from pathlib import Path

import pytest
from benchmarks import pg_settings

DEPLOY = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"


def _deploy_settings() -> dict[str, str]:
    """The ini block of docs/deploy.md section 2.1, as name -> value."""
    text = DEPLOY.read_text()
    section = text[text.index("### 2.1 ") :]
    block = re.search(r"```ini\n(.*?)```", section, re.DOTALL)
    assert block, "docs/deploy.md section 2.1 has no ini block"
    settings = {}
    for line in block.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, value = line.partition("=")
            settings[name.strip()] = value.strip()
    return settings


def test_at_8_gb_the_settings_are_those_of_deploy_md():
    """The section's sizes are for 8 GB: there the script uses them exactly, and every
    setting the section names."""
    ours = pg_settings.production_settings(8 * 1024)
    ours.pop("dynamic_shared_memory_type")
    assert ours == _deploy_settings()


def test_scaled_to_24_gb():
    ours = pg_settings.production_settings(24 * 1024)
    assert ours["shared_buffers"] == "6GB"
    assert ours["effective_cache_size"] == "18GB"
    assert ours["work_mem"] == "48MB"
    assert ours["maintenance_work_mem"] == "1536MB"
    # The WAL's sizes depend on the disk and on the writes, not on the memory.
    assert (ours["max_wal_size"], ours["min_wal_size"]) == ("8GB", "1GB")
    assert ours["synchronous_commit"] == "on"


def test_sizes_round_down_and_stay_above_postgresqls_defaults():
    ours = pg_settings.production_settings(23_500)  # 23.5 GB, as /proc counts this machine
    assert ours["shared_buffers"] == "5872MB"  # 23,500 / 4 = 5,875, down to 16 MB
    assert ours["work_mem"] == "45MB"
    small = pg_settings.production_settings(1024)
    assert small["work_mem"] == "4MB"
    assert small["maintenance_work_mem"] == "64MB"
    with pytest.raises(ValueError):
        pg_settings.production_settings(512)


def test_defaults_are_debians():
    defaults = pg_settings.settings_for(pg_settings.DEFAULTS, 24 * 1024)
    assert defaults["shared_buffers"] == "128MB"
    assert defaults["max_wal_size"] == "1GB"
    assert "work_mem" not in defaults  # PostgreSQL's own 4MB
    with pytest.raises(ValueError):
        pg_settings.settings_for("fast", 1024)


def test_the_cluster_listens_on_loopback_and_its_own_port_only():
    text = pg_settings.conf_text({"shared_buffers": "6GB", "wal_compression": "on"}, 54321, "/t")
    assert "listen_addresses = '127.0.0.1'\n" in text
    assert "port = 54321\n" in text
    assert "unix_socket_directories = '/t'\n" in text
    assert "shared_buffers = '6GB'\n" in text
    assert "wal_compression = on\n" in text


def _figures(name: str, output: str) -> dict[str, float | None]:
    benchmark = pg_settings.BENCHMARKS[name]
    return {f.label: pg_settings.figure_value(output, f) for f in benchmark.figures}


def test_figures_read_from_the_api_load_table():
    output = (
        f"{'':<50} {'requests':>9} {'rate/s':>8}\n"
        "(a1) GET /livez, closed loop                           1,899      188    73.8   "
        "148.5   385.2   517.8      0            2.8   0.1   0.3  19.4\n"
        "(a2) POST /api/v1/readings, closed loop                  281       28   467.0   "
        "757.1   900.8   922.5      0            3.3   0.9   0.6  21.2\n"
        "(b) POST /api/v1/readings, open loop at 14/s             139       14    84.3   "
        "133.9   249.1   264.5      0            1.6   0.5   0.2  19.6\n"
        "ratio submissions / livez: 28 / 188 = 0.148 (aim: at least 0.25): NOT met\n"
    )
    figures = _figures("api-load", output)
    assert figures["GET /livez, closed loop, rate"] == 188
    assert figures["POST /api/v1/readings, closed loop, rate"] == 28
    assert figures["POST, open loop at half rate, p99"] == 249.1
    assert figures["CPU s of other work on the machine (a2)"] == 21.2
    assert figures["ratio submissions / livez (aim >= 0.25)"] == 0.148


def test_figures_read_from_the_import_and_a_missing_one():
    output = (
        "(a) raw COPY of the file into a bare table: 0.38 s, 2,632,196 readings/s\n"
        "(b) import (readings_import): 27.34 s, 36,574 readings/s\n"
        "ratio import / raw COPY: 0.014 (aim: at least 0.25)\n"
    )
    figures = _figures("import", output)
    assert figures["(b) import (readings_import)"] == 27.34
    assert figures["(b) import, rate"] == 36574
    assert figures["ratio import / raw COPY (aim >= 0.25)"] == 0.014
    assert figures["(c) the schema's floor"] is None


def test_report_puts_the_two_settings_side_by_side():
    runs = [
        pg_settings.Run("reminders", pg_settings.DEFAULTS, 1.0, 60.0, 0),
        pg_settings.Run("reminders", pg_settings.PRODUCTION, 2.0, 50.0, 1),
    ]
    runs[0].values = {"(b) first run (reminders_send)": 10.0}
    runs[1].values = {"(b) first run (reminders_send)": 8.0}
    text = pg_settings.report(runs, [pg_settings.DEFAULTS, pg_settings.PRODUCTION])
    line = next(x for x in text.splitlines() if "(b) first run (reminders_send) s" in x)
    assert line.split()[-3:] == ["10.00", "8.00", "0.80"]
    assert "FAILED: deploy.md 2.1 exited with status 1" in text


def test_checkpoints_counted_from_the_server_log():
    log = (
        "2026-12-06 18:40:01.000 UTC [10] LOG:  checkpoint starting: immediate force wait\n"
        "2026-12-06 18:40:05.000 UTC [10] LOG:  checkpoint starting: wal\n"
        "2026-12-06 18:40:09.000 UTC [10] LOG:  checkpoints are occurring too frequently "
        "(4 seconds apart)\n"
        "2026-12-06 18:40:09.000 UTC [10] LOG:  checkpoint starting: wal\n"
        "2026-12-06 18:41:00.000 UTC [10] LOG:  checkpoint starting: time\n"
        "2026-12-06 18:42:00.000 UTC [10] LOG:  checkpoint starting: shutdown immediate\n"
    )
    assert pg_settings.checkpoints(log) == (2, 5)
    assert pg_settings.checkpoints("") == (0, 0)


def test_production_settings_changed_one_by_one():
    changes = pg_settings.setting_changes(["random_page_cost=4", " wal_compression = off"])
    assert changes == {"random_page_cost": "4", "wal_compression": "off"}
    ours = pg_settings.settings_for(pg_settings.PRODUCTION, 8 * 1024, changes)
    assert (ours["random_page_cost"], ours["wal_compression"], ours["work_mem"]) == (
        "4",
        "off",
        "16MB",
    )
    assert "random_page_cost" not in pg_settings.settings_for(pg_settings.DEFAULTS, 8192, changes)
    for bad in ("random_page_cost", "=4", "a;b=1", "work_mem="):
        with pytest.raises(ValueError):
            pg_settings.setting_changes([bad])
