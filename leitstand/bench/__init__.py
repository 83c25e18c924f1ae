"""Every benchmark: `leitstand bench query|ingest|command|portal|alarms|export`, a module each.

Shared here: a throw-away Mosquitto, the throw-away database (the one `bench query`
uses), process figures from /proc and the machine line printed with every result.
These print figures to read; they are not timed tests.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import socket
import subprocess
from typing import Any
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from leitstand.telemetry.store import forget_known_partitions

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
SERVICE_USER = "leitstand-bench"

__all__ = ["MosquittoProcess", "ProcStats", "free_port", "machine_line", "percentile", "postgres_cpu_seconds", "proc_stats",
           "start_mosquitto", "throwaway_database"]


@contextmanager
def throwaway_database(configured_url: str) -> Iterator[str]:
    """A new database beside the configured one (a new PostgreSQL database on its server,
    or a temporary SQLite file), dropped afterwards."""
    if configured_url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="leitstand-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    server = make_url(configured_url).set(drivername="postgresql+psycopg")
    name = f"leitstand_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(configured_url).set(database=name).render_as_string(hide_password=False)
        finally:
            forget_known_partitions()
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-int(len(ordered) * percent) // 100))
    return ordered[min(rank, len(ordered)) - 1]


def machine_line() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return f"machine: {os.cpu_count()} CPUs ({model}), {ram} RAM, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


@dataclass(frozen=True)
class ProcStats:
    cpu_seconds: float  # user + system
    peak_rss_mb: float  # VmHWM


def proc_stats(pid: int) -> ProcStats:
    """CPU seconds and peak RSS of a live process, from /proc (zeros if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        hwm = 0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
        return ProcStats(ticks / os.sysconf("SC_CLK_TCK"), hwm / 1024)
    except (OSError, ValueError, IndexError):
        return ProcStats(0.0, 0.0)


def postgres_cpu_seconds() -> float:
    """utime+stime of every process named postgres on this machine (the database server,
    when it runs here); 0 where there is none."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        total += proc_stats(int(entry.name)).cpu_seconds
    return total


# --- a throw-away Mosquitto -------------------------------------------------------------


@dataclass
class MosquittoProcess:
    port: int
    service_user: str
    service_password: str
    process: subprocess.Popen[str]
    log: list[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        wait_or_kill(self.process, 10)


def wait_or_kill(process: subprocess.Popen[Any], grace: float) -> None:
    """Wait for a terminated process; kill it if it outlives the grace period."""
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextmanager
def start_mosquitto(extra_users: dict[str, str] | None = None) -> Iterator[MosquittoProcess]:
    """Mosquitto on a free 127.0.0.1 port: one plain listener, a password file with the
    Leitstand service user (and `extra_users`), no ACL file (every user may use every
    topic), in-memory sessions and the production queue limits of deploy/mosquitto."""
    if not Path(MOSQUITTO).exists() or not Path(MOSQUITTO_PASSWD).exists():
        raise RuntimeError("mosquitto and mosquitto_passwd are needed for --broker mosquitto")
    with tempfile.TemporaryDirectory(prefix="leitstand-bench-mosquitto-") as folder:
        password = secrets.token_urlsafe(16)
        password_file = Path(folder) / "passwords"
        users = {SERVICE_USER: password, **(extra_users or {})}
        password_file.write_text("".join(f"{user}:{secret}\n" for user, secret in users.items()))
        subprocess.run([MOSQUITTO_PASSWD, "-U", str(password_file)], check=True, capture_output=True)
        port = free_port()
        config = Path(folder) / "mosquitto.conf"
        config.write_text("\n".join([
            *(["user root"] if os.geteuid() == 0 else []),
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {password_file}",
            "persistence false",
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",
            "max_packet_size 1048576",
            f"listener {port} 127.0.0.1",
            "log_dest stderr",
            "",
        ]))
        process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        log: list[str] = []
        running = threading.Event()

        def read_log() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                if len(log) < 10_000:
                    log.append(line.rstrip())
                if " running" in line:
                    running.set()
            running.set()

        threading.Thread(target=read_log, daemon=True).start()
        broker = MosquittoProcess(port, SERVICE_USER, password, process, log)
        try:
            if not running.wait(10) or process.poll() is not None:
                raise RuntimeError("Mosquitto did not start:\n" + "\n".join(log))
            yield broker
        finally:
            broker.stop()


def bench_tenants(db: Any, customer_name: str, time_zone: str = "Europe/Berlin") -> tuple[Any, Any]:
    """A partner under the root tenant and a customer under it: where every bench puts its fleet."""
    from leitstand.bootstrap import root_tenant
    from leitstand.tenancy.models import Tenant, TenantKind, new_path_segment

    root = root_tenant(db)
    assert root is not None
    partner = Tenant(parent_id=root.id, kind=TenantKind.partner, name="Bench Partner",
                     path=f"{root.path}{new_path_segment()}/", time_zone=time_zone)
    db.add(partner)
    db.flush()
    customer = Tenant(parent_id=partner.id, kind=TenantKind.customer, name=customer_name,
                      path=f"{partner.path}{new_path_segment()}/", time_zone=time_zone)
    db.add(customer)
    db.flush()
    return partner, customer
