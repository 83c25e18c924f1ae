"""Every command of the README's "Command line" section, each in a fresh process, on a
fresh SQLite data dir and on a fresh PostgreSQL database.

A fresh process matters: a command that imports only the models it names itself fails
there (a foreign key to a table whose model was never loaded), while in-process tests
pass because the suite has loaded everything. Each command runs as `leitstand …` does
(`leitstand.cli:app` in a new interpreter), with argon2 at its cheapest cost, which
keeps the demo's 69 hashes from dominating the run and loads no model.

Run for real: init, user create (also on the demo's data), db upgrade, license renew,
devices import, devices qr (one label and in bulk), backup, backup verify, restore, demo
(which serves: role all) with simulate against it, export and import of a demo tenant.
Only `--help`: the six bench commands (each takes from seconds to minutes; tests/bench
runs them small, in-process). `broker setup` touches no database; it runs against
Mosquitto in tests/transports/test_mosquitto_operations.py.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.conftest import BACKENDS, PG_SERVER_URL, _pg_admin_engine, service_unavailable

REPO = Path(__file__).resolve().parents[1]
WAIT = 120  # one command, on a busy 2-core machine
LAUNCHER = ("import sys; from leitstand.auth.secrets import use_cheap_hashing_for_tests as cheap; cheap(); "
            "from leitstand.cli import app; sys.argv[0] = 'leitstand'; app()")


@dataclass
class Installation:
    """A data dir, and a database of its own (PostgreSQL) or in the data dir (SQLite)."""

    data_dir: Path
    env: dict[str, str]

    def run(self, *args: str, expect: int = 0, **extra_env: str) -> str:
        done = subprocess.run([sys.executable, "-c", LAUNCHER, *args], cwd=REPO, env={**self.env, **extra_env},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=WAIT)
        assert done.returncode == expect, f"leitstand {' '.join(args)} -> {done.returncode}:\n{done.stdout[-4000:]}"
        return " ".join(done.stdout.split())  # rich wraps long lines

    def start(self, *args: str) -> Running:
        process = subprocess.Popen([sys.executable, "-c", LAUNCHER, *args], cwd=REPO, env=self.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return Running(process)


class Running:
    """A command that serves until stopped; its output lines can be awaited."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, marker: str) -> None:
        while True:
            line = self.lines.get(timeout=WAIT)
            assert line is not None, "ended before " + repr(marker) + ":\n" + "".join(self.seen)[-4000:]
            self.seen.append(line)
            if marker in line:
                return

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(WAIT)


def _shell_env(data_dir: Path) -> dict[str, str]:
    """An operator's shell: nothing of the test run's own LEITSTAND_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEITSTAND_")}
    return {**env, "LEITSTAND_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
            "COLUMNS": "300", "NO_COLOR": "1"}


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        Callable[[str], Installation]]:
    """Makes fresh installations of the backend: a new data dir, and on PostgreSQL a new database."""
    databases: list[str] = []
    admin = None

    def make(label: str) -> Installation:
        nonlocal admin
        data_dir = tmp_path_factory.mktemp(label)
        env = _shell_env(data_dir)
        if request.param == "postgresql":
            name = f"leitstand_cli_{os.getpid()}_{secrets.token_hex(3)}"
            try:
                admin = admin or _pg_admin_engine()
                with admin.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
            except Exception as error:  # noqa: BLE001 - any connection failure means "not available"
                service_unavailable(f"PostgreSQL at {PG_SERVER_URL}: {error}")
            databases.append(name)
            env["LEITSTAND_DATABASE_URL"] = make_url(PG_SERVER_URL).set(database=name).render_as_string(
                hide_password=False)
        return Installation(data_dir, env)

    yield make
    if admin is not None:
        with admin.connect() as connection:
            for name in databases:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

IMPORT_CSV = "serial_number,type_key,name\nSMOKE-BAR-0001,barrier,Smoke barrier\nSMOKE-THM-0001,thermostat,Smoke thermostat\n"


def test_the_operator_commands_on_a_fresh_installation(fresh: Callable[[str], Installation]) -> None:
    site = fresh("operator")
    work = site.data_dir.parent / f"{site.data_dir.name}-files"
    work.mkdir()

    assert "Initialised" in site.run("init")
    assert "Created user ops@example.com" in site.run(
        "user", "create", "ops@example.com", "--name", "Operations", "--password", "a long enough secret")
    assert "Database at revision head" in site.run("db", "upgrade")
    assert "Renewed 0 license(s) as of 2026-06-01" in site.run("license", "renew", "--today", "2026-06-01")
    (work / "batch.csv").write_text(IMPORT_CSV)
    imported = site.run("devices", "import", str(work / "batch.csv"), "--tenant-id", "1",
                        "--secrets-out", str(work / "secrets.csv"))
    assert "Imported 2 device(s)" in imported
    backup = site.run("backup", "--out", str(work / "backups"))
    archive = re.search(r"Wrote (\S+\.tar\.gz)", backup)
    assert archive is not None, backup
    assert "is OK" in site.run("backup", "verify", archive.group(1))
    assert "Restored" in site.run("restore", archive.group(1), "--yes")
    assert "exists already" in site.run(  # the restored installation has the user
        "user", "create", "ops@example.com", "--password", "a long enough secret", expect=1)

    if site.env.get("LEITSTAND_DATABASE_URL"):
        return  # the rest does not touch the database
    assert "Wrote" in site.run("devices", "qr", "--serial", "SMOKE-BAR-0001", "--secret", "Xk3v9QpLm2Rt8WzYa7Bc",
                               "--out", str(work / "label.png"))
    assert "Wrote 2 label(s)" in site.run("devices", "qr", "--csv", str(work / "secrets.csv"),
                                          "--out-dir", str(work / "labels"), "--format", "svg")
    assert (work / "label.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(path.name for path in (work / "labels").iterdir()) == ["SMOKE-BAR-0001.svg", "SMOKE-THM-0001.svg"]
    for bench in ("query", "ingest", "command", "portal", "alarms", "export"):
        assert "Usage: leitstand bench" in site.run("bench", bench, "--help")


def test_the_demo_serves_is_simulated_and_exports_and_imports_a_tenant(fresh: Callable[[str], Installation]) -> None:
    demo = fresh("demo")
    work = demo.data_dir.parent / f"{demo.data_dir.name}-files"
    work.mkdir()

    # Port 0: any free one, taken at bind time. The embedded broker moves off a taken port by
    # itself and leaves its address in the data dir, where `simulate` finds it. The demo's own
    # fleet stays off: its devices would log in under the same client ids as simulate's.
    running = demo.start("demo", "--port", "0", "--no-simulate")
    try:
        running.wait_for("Application startup complete")
        simulated = demo.run("simulate", "--devices", "3", "--every", "0.2", "--minutes", "0.01")
        acknowledged = re.search(r"Acknowledged by the broker: (\d+) publishes", simulated)
        assert acknowledged is not None and int(acknowledged.group(1)) > 0, simulated
        assert "; 0 failures." in simulated
    finally:
        running.stop()
    assert "62 of 62 demo devices have credentials" in " ".join("".join(running.seen).split())

    assert "Created user ops@example.com" in demo.run(  # a grant's device and site tables must be loaded
        "user", "create", "ops@example.com", "--name", "Operations", "--password", "a long enough secret")
    exported = demo.run("export", "--tenant", "3", "--out", str(work / "parkhaus.zip"))  # Parkhaus Hanse GmbH
    assert "Wrote" in exported and (work / "parkhaus.zip").stat().st_size > 0
    imported = demo.run("import", str(work / "parkhaus.zip"), "--parent-tenant", "2", "--on-conflict", "suffix")
    assert "Imported into tenant" in imported, imported
    assert "renamed: device BAR-2026-0001 → BAR-2026-0001-imported1" in imported, imported

