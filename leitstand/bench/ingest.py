"""`leitstand bench ingest`: sustained MQTT ingest, publish → committed, end to end.

What runs, all on this machine:

    database   a throw-away one (temporary SQLite file, or a new PostgreSQL database
               on the server, dropped afterwards), initialised like `leitstand init`,
               with one tenant and N licensed thermostats (5 numeric telemetry keys)
               plus one probe thermostat;
    broker     the embedded broker (amqtt, in this process's thread) or a Mosquitto
               subprocess on a free port (password file with the service user);
    platform   W ingest worker processes, `python -m leitstand.worker`,
               exactly as deployed (a shared subscription when W > 1 on Mosquitto);
    load       P publisher processes (MQTT 3.1.1, QoS 1, prepared packets written straight
               to the socket), each paced by a token bucket to rate/P messages/s, `--values` keys per message, devices round
               robin, `ts` = publish time in epoch ms. Before the measured window every
               device reports once (a warm-up: a running fleet's devices have live state).

Figures:

    sustained rate   messages stored per second under load: the rows of the load's messages
                     are counted every 5 s while it runs, and the rate is taken between the
                     first and the last count (both lag publishing by the same latency);
    caught up        how long after the last publish every message was stored: counted
                     every 0.5 s after the load, so exact to 0.5 s;
    latency          a probe: every 100 ms this process publishes one message for the probe
                     device (ts = now) and polls the database every 10 ms until its row is
                     visible; p50/p99 over all probes (includes up to 10 ms polling);
    lost             published − stored, after waiting up to 30 s for the queue to drain;
    CPU / RSS        utime+stime during the run and VmHWM from /proc of every worker, the
                     Mosquitto process, the publishers and this process.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from leitstand.bench import (
    wait_or_kill,
    free_port,
    machine_line,
    percentile,
    postgres_cpu_seconds,
    proc_stats,
    start_mosquitto,
    throwaway_database,
)

TYPE_KEY = "thermostat"  # five numeric telemetry keys
KEYS = ("temperature", "target_temperature", "valve_opening", "battery", "rssi")
PROBE_SERIAL = "BENCH-PROBE"
PROBE_EVERY = 0.1
# count(*) over the growing telemetry table is the bench's own largest cost on PostgreSQL,
# and it is paid by the database being measured: while the load runs, the database is
# counted every LOAD_POLL_EVERY seconds; afterwards, when the last commit is looked for,
# every POLL_EVERY seconds.
LOAD_POLL_EVERY = 5.0
POLL_EVERY = 0.5
DRAIN_SECONDS = 30.0
DEFAULT_PG_URL = "postgresql://postgres:leitstand-ci@127.0.0.1:5432/postgres"


@dataclass
class ProcessFigure:
    role: str
    cpu_seconds: float
    peak_rss_mb: float


@dataclass
class IngestBenchReport:
    backend: str
    broker: str
    devices: int
    workers: int
    publishers: int
    values: int
    target_rate: int
    duration: float
    published: int  # messages the load generator sent
    acknowledged: int  # ... and the broker acknowledged (PUBACK)
    publish_seconds: float  # how long publishing took
    stored: int  # messages found in the database
    points: int  # rows found in the database
    rejected: int  # refused by ingest (counted per device)
    commit_window: float  # start of publishing → last commit
    # Rows counted while the load ran: (seconds since the start of publishing, messages stored).
    load_counts: list[tuple[float, int]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    probes_lost: int = 0
    processes: list[ProcessFigure] = field(default_factory=list)
    cpu_window: float = 0.0  # seconds over which CPU was measured
    machine: str = ""

    @property
    def lost(self) -> int:
        """Published but never stored: not taken by the broker in time, or lost after."""
        return self.published - self.stored

    @property
    def not_accepted(self) -> int:
        """Never acknowledged by the broker: still queued in the load generator at the end."""
        return self.published - self.acknowledged

    @property
    def lost_after_ack(self) -> int:
        """Acknowledged by the broker but not stored: lost by the platform."""
        return max(0, self.acknowledged - self.stored)

    @property
    def offered_rate(self) -> float:
        return self.published / self.publish_seconds if self.publish_seconds else 0.0

    @property
    def messages_per_second(self) -> float:
        """Stored per second while the load ran, between the first and last count under load:
        both counts lag publishing by the same latency, so this is the platform's pace. With
        fewer than two counts, everything stored over start of publishing → last commit."""
        if len(self.load_counts) >= 2:
            (first_at, first), (last_at, last) = self.load_counts[0], self.load_counts[-1]
            return (last - first) / (last_at - first_at)
        return self.stored / self.commit_window if self.commit_window else 0.0

    @property
    def points_per_second(self) -> float:
        return self.messages_per_second * self.values

    @property
    def caught_up_after(self) -> float:
        """Seconds from the last publish until everything was stored (to the after-load poll)."""
        return max(0.0, self.commit_window - self.publish_seconds)

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)


def resolve_database(backend: str, configured_url: str) -> str:
    """The server (or SQLite marker) to make the throw-away database on."""
    if backend == "sqlite":
        return "sqlite:///bench.db"
    if configured_url.startswith("postgres"):
        return configured_url
    return os.environ.get("LEITSTAND_BENCH_PG_URL", DEFAULT_PG_URL)


# --- the load generator (its own processes) ---------------------------------------------


def _payload(n: int, ts: int, keys: tuple[str, ...]) -> bytes:
    sample = {"temperature": 18 + n % 70 / 10, "target_temperature": 20.5, "valve_opening": n % 101,
              "battery": 80 + n % 20, "rssi": -60 - n % 40}
    values = ",".join(f'"{key}":{sample[key]}' for key in keys)
    return f'{{"ts":{ts},"values":{{{values}}}}}'.encode()


def _publisher(index: int, port: int, user: str, password: str, serials: list[str], rate: float, total: int,
               keys: tuple[str, ...], start: Any, go: Any, results: Any) -> None:
    """One load generator process: MQTT 3.1.1, QoS 1, paced to `rate`.

    First every device of its share reports once (the warm-up: a running fleet's devices
    are known and have live state); then, once `go` is set, it publishes from the
    epoch second in `start`.

    It writes prepared PUBLISH packets straight to the socket and counts PUBACKs on a
    reader thread, so that it costs a few µs per message: paho's ~150 µs would make the
    load generator the largest consumer of the machine it is measuring.
    """
    import socket

    from leitstand.transports.mqtt.stream import CONNACK, StreamSettings, connect_packet, disconnect_packet, publish_packet

    settings = StreamSettings(host="127.0.0.1", port=port, client_id=f"bench-publisher-{index}-{os.getpid()}",
                              username=user, password=password, subscription="", mqtt5=False, clean_start=True)
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection.sendall(connect_packet(settings))
    acked = [0]
    connected = threading.Event()

    def read_acks() -> None:
        # The broker sends this client nothing but its CONNACK and PUBACKs, four bytes each,
        # so counting bytes counts acknowledgements.
        received, head = 0, b""
        connection.settimeout(None)
        while True:
            try:
                chunk = connection.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            if len(head) < 4:
                head += chunk[:4 - len(head)]
                if len(head) == 4 and head[0] >> 4 == CONNACK and head[3] == 0:  # accepted
                    connected.set()
            received += len(chunk)
            acked[0] = max(0, (received - 4) // 4 - len(serials))  # the warm-up's acknowledgements first

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    if not connected.wait(10):
        results.put((index, 0, 0, 0.0, "no connection"))
        return
    topics = [f"ls/v1/{serial}/up/telemetry" for serial in serials]
    warm_ts = int(time.time() * 1000)
    connection.sendall(b"".join(publish_packet(topic, _payload(0, warm_ts, keys), mid % 65535 + 1, mqtt5=False)
                                for mid, topic in enumerate(topics)))
    last = [warm_ts] * len(serials)
    if not go.wait(120):
        results.put((index, 0, 0, 0.0, "no start signal"))
        return
    start_at = start.value
    while time.time() < start_at:
        time.sleep(0.001)
    started = time.monotonic()
    sent, turn, mid = 0, 0, len(topics) % 65535
    while sent < total:
        due = min(total, int((time.monotonic() - started) * rate) + 1)
        if sent >= due:
            time.sleep(0.002)  # a write every 2 ms: the rate, without a system call per message
            continue
        packets = []
        while sent < due:
            slot = turn % len(serials)
            turn += 1
            ts = int(time.time() * 1000)
            if ts <= last[slot]:  # one message per device and millisecond: (device, key, ts) is unique
                ts = last[slot] + 1
            last[slot] = ts
            mid = mid % 65535 + 1
            packets.append(publish_packet(topics[slot], _payload(sent, ts, keys), mid, mqtt5=False))
            sent += 1
        connection.sendall(b"".join(packets))
    publish_seconds = time.monotonic() - started
    deadline = time.monotonic() + 60
    while acked[0] < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    connection.sendall(disconnect_packet(mqtt5=False))
    connection.close()
    results.put((index, sent, acked[0], publish_seconds, ""))


# --- the platform ---------------------------------------------------------------------


def _seed(url: str, data_dir: Path, devices: int) -> tuple[int, list[str]]:
    """Initialise the database; a tenant, `devices` licensed thermostats and the probe."""
    from leitstand.bootstrap import initialise, root_tenant
    from leitstand.config import Settings
    from leitstand.db.engine import make_engine
    from leitstand.db.models import make_session_factory
    from leitstand.devices.models import Device
    from leitstand.licenses.models import License
    from leitstand.tenancy.models import Tenant, TenantKind, new_path_segment
    from leitstand.tenancy.scope import system_session

    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        initialise(Settings(database_url=url, data_dir=data_dir, secret_key="bench"), factory)
        with system_session(factory, reason="bench ingest seeds its fleet") as db:
            root = root_tenant(db)
            assert root is not None
            tenant = Tenant(parent_id=root.id, kind=TenantKind.customer, name="Bench Ingest",
                            path=f"{root.path}{new_path_segment()}/", time_zone="Europe/Berlin")
            db.add(tenant)
            db.flush()
            serials = [f"BENCH-{n:06d}" for n in range(devices)]
            now = datetime.now(UTC)
            fleet = [Device(tenant_id=tenant.id, type_key=TYPE_KEY, serial_number=serial, name=serial, claimed_at=now)
                     for serial in [*serials, PROBE_SERIAL]]
            db.add_all(fleet)
            db.flush()
            starts = date.today() - timedelta(days=10)
            db.add_all([License(device_id=device.id, tenant_id=tenant.id, starts_on=starts,
                                ends_on=starts + timedelta(days=365), term_months=12, auto_renew=False)
                        for device in fleet])
            db.commit()
            return fleet[-1].id, serials
    finally:
        engine.dispose()


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[str]
    log_file: Path


def _start_workers(count: int, env: dict[str, str], folder: Path, timeout: float = 60.0) -> list[Worker]:
    workers = []
    for i in range(count):
        log_file = folder / f"worker-{i}.log"
        with log_file.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "leitstand.worker", "--name", f"bench-{i}"],
                env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        workers.append(Worker(f"bench-{i}", process, log_file))
    for worker in workers:
        ready = threading.Event()

        def wait_ready(process: subprocess.Popen[str] = worker.process, ready: threading.Event = ready) -> None:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("ready"):
                    ready.set()
            ready.set()

        threading.Thread(target=wait_ready, daemon=True).start()
        if not ready.wait(timeout) or worker.process.poll() is not None:
            tail = worker.log_file.read_text()[-3000:]
            _stop_workers(workers)
            raise RuntimeError(f"ingest worker {worker.name} did not get ready:\n{tail}")
    return workers


def _stop_workers(workers: list[Worker]) -> None:
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.terminate()
    for worker in workers:
        wait_or_kill(worker.process, 30)


@contextmanager
def _broker(kind: str, settings_base: dict[str, Any], factory: Any) -> Iterator[tuple[dict[str, Any], int | None]]:
    """Start the broker; yield the MQTT settings for the platform and the broker's pid, if its own process."""
    if kind == "mosquitto":
        with start_mosquitto() as mosquitto:
            yield ({"mqtt_broker": "mosquitto", "mqtt_host": "127.0.0.1", "mqtt_port": mosquitto.port,
                    "mqtt_service_username": mosquitto.service_user,
                    "mqtt_service_password": mosquitto.service_password}, mosquitto.process.pid)
        return
    from leitstand.config import Settings
    from leitstand.app import ingestor_for
    from leitstand.transports.mqtt.embedded import EmbeddedBroker

    mqtt = {"mqtt_broker": "embedded", "mqtt_host": "127.0.0.1", "mqtt_port": free_port(),
            "mqtt_service_username": "leitstand", "mqtt_service_password": "bench-" + os.urandom(8).hex()}
    broker = EmbeddedBroker(Settings(**settings_base, **mqtt), factory, ingestor_for(factory))
    broker.start()
    try:
        yield mqtt, None
    finally:
        broker.stop()


def bench_ingest(
    database_server: str, *, devices: int = 1000, rate: int = 10_000, duration: float = 60.0,
    broker: str = "embedded", workers: int = 1, values: int = 4, publishers: int = 2,
    out: Callable[[str], None] = print,
) -> IngestBenchReport:
    """Run the benchmark, print the figures and return them."""
    import logging

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from leitstand.db.engine import make_engine
    from leitstand.db.models import make_session_factory
    from leitstand.state.models import IngestRejection

    if broker not in ("embedded", "mosquitto"):
        raise ValueError("broker is embedded or mosquitto")
    if broker == "embedded" and workers != 1:
        raise ValueError("the embedded broker has no shared subscriptions: use one worker")
    if not 1 <= values <= len(KEYS):
        raise ValueError(f"values: 1 to {len(KEYS)}")
    if devices < publishers or rate < 1 or duration <= 0:
        raise ValueError("need devices >= publishers, rate >= 1 and duration > 0")
    for chatty in ("amqtt", "transitions"):
        logging.getLogger(chatty).setLevel(logging.ERROR)
    keys = KEYS[:values]
    total = int(rate * duration)

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leitstand-bench-ingest-")))
        url = stack.enter_context(throwaway_database(database_server))
        backend = "sqlite" if url.startswith("sqlite") else "postgresql"
        out(f"bench ingest: {backend} at {make_url(url).render_as_string(hide_password=True)}, broker {broker}, "
            f"{workers} worker(s), {publishers} publisher(s), {devices} devices, {rate} msg/s x {duration:g} s, "
            f"{values} values each")
        probe_id, serials = _seed(url, folder, devices)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        factory = make_session_factory(engine)
        base = {"database_url": url, "data_dir": folder, "secret_key": "bench"}
        mqtt_settings, broker_pid = stack.enter_context(_broker(broker, base, factory))

        env = {**os.environ, "LEITSTAND_DATABASE_URL": url, "LEITSTAND_DATA_DIR": str(folder),
               "LEITSTAND_SECRET_KEY": "bench", "LEITSTAND_CONFIG": "",
               **{f"LEITSTAND_{key.upper()}": str(value) for key, value in mqtt_settings.items()},
               "LEITSTAND_MQTT_SHARED_GROUP": "bench" if workers > 1 else ""}
        env.pop("LEITSTAND_CONFIG")
        platform = _start_workers(workers, env, folder)
        stack.callback(_stop_workers, platform)

        port, user, password = (mqtt_settings["mqtt_port"], mqtt_settings["mqtt_service_username"],
                                mqtt_settings["mqtt_service_password"])
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        start, go = context.Value("d", 0.0), context.Event()
        shares = [serials[i::publishers] for i in range(publishers)]
        counts = [total // publishers + (1 if i < total % publishers else 0) for i in range(publishers)]
        generators = [context.Process(target=_publisher, args=(i, port, user, password, shares[i], rate / publishers,
                                                               counts[i], keys, start, go, results), daemon=True)
                      for i in range(publishers)]
        for generator in generators:
            generator.start()

        # The probe client and the database poll, in this process.
        probe = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{os.getpid()}", protocol=mqtt.MQTTv311)
        probe.username_pw_set(user, password)
        probe.connect("127.0.0.1", port, keepalive=60)
        probe.loop_start()
        stack.callback(probe.loop_stop)
        probe_topic = f"ls/v1/{PROBE_SERIAL}/up/telemetry"

        def count_stored(connection: Any) -> int:
            return int(connection.execute(text("SELECT count(*) FROM telemetry")).scalar_one())

        def count_probe(connection: Any) -> int:
            return int(connection.execute(text("SELECT count(*) FROM telemetry WHERE device_id = :d"),
                                          {"d": probe_id}).scalar_one())

        # The warm-up: every device has reported once before the measured window starts.
        warm_rows = devices * values
        with engine.connect() as connection:
            warm_until = time.time() + 60
            while (warmed := count_stored(connection)) < warm_rows:
                connection.commit()
                if time.time() > warm_until:
                    raise RuntimeError(f"warm-up: {warmed} of {warm_rows} rows stored within 60 s; see the worker logs")
                time.sleep(0.05)
        start_at = time.time() + 1.0
        start.value = start_at
        go.set()

        monitor: list[tuple[float, int]] = []
        load_poll_every = min(LOAD_POLL_EVERY, max(POLL_EVERY, duration / 6))
        latencies: list[float] = []
        probes_lost = [0]
        publishing = threading.Event()
        load_taken = threading.Event()  # set with publishing cleared: count often from then on
        publishing.set()
        stop_monitor = threading.Event()

        def run_monitor() -> None:
            with engine.connect() as connection:
                while not stop_monitor.is_set():
                    # The probe's rows apart: the figures are the load generator's messages.
                    monitor.append((time.time(), count_stored(connection) - count_probe(connection)))
                    connection.commit()
                    if publishing.is_set():
                        load_taken.wait(load_poll_every)
                    else:
                        stop_monitor.wait(POLL_EVERY)

        def run_probe() -> None:
            seen, last_ts = 0, 0
            with engine.connect() as connection:
                # One warm-up probe, not counted: the first write of a month creates its partition.
                last_ts = int(time.time() * 1000)
                probe.publish(probe_topic, _payload(0, last_ts, keys), qos=1)
                warm_until = time.time() + 10
                while seen == 0 and time.time() < warm_until:
                    seen = count_probe(connection)
                    connection.commit()
                    time.sleep(0.01)
                while time.time() < start_at:
                    time.sleep(0.005)
                tick = time.monotonic()
                while publishing.is_set():
                    ts = max(int(time.time() * 1000), last_ts + 1)
                    last_ts = ts
                    published_at = time.perf_counter()
                    probe.publish(probe_topic, _payload(0, ts, keys), qos=1)
                    deadline = published_at + 10.0
                    while time.perf_counter() < deadline:
                        found = count_probe(connection)
                        connection.commit()
                        if found > seen:
                            latencies.append((time.perf_counter() - published_at) * 1000)
                            seen = found
                            break
                        time.sleep(0.01)
                    else:
                        probes_lost[0] += 1
                    tick += PROBE_EVERY
                    pause = tick - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    else:
                        tick = time.monotonic()

        monitor_thread = threading.Thread(target=run_monitor, daemon=True)
        probe_thread = threading.Thread(target=run_probe, daemon=True)
        probe_thread.start()
        while time.time() < start_at - 0.2:
            time.sleep(0.01)
        pids = [("worker " + w.name, w.process.pid) for w in platform]
        if broker_pid:
            pids.append(("mosquitto", broker_pid))
        pids += [(f"publisher {i}", g.pid) for i, g in enumerate(generators) if g.pid]
        pids.append(("bench process (probe, DB poll" + (", embedded broker)" if broker == "embedded" else ")"),
                     os.getpid()))
        before = {pid: proc_stats(pid) for _, pid in pids}
        pg_before, measured_from = postgres_cpu_seconds(), time.monotonic()
        monitor_thread.start()

        outcome = []
        for _ in generators:
            outcome.append(results.get(timeout=duration * 3 + 120))
        publishing.clear()
        load_taken.set()
        probe_thread.join(15)
        published = sum(row[1] for row in outcome)
        acknowledged = sum(row[2] for row in outcome)
        publish_seconds = max(row[3] for row in outcome)
        for row in outcome:
            if row[4]:
                out(f"publisher {row[0]}: {row[4]}")

        # Drain: wait until every published message is stored, at most DRAIN_SECONDS.
        with engine.connect() as connection:
            drain_until = time.time() + DRAIN_SECONDS
            while time.time() < drain_until:
                stored_rows = count_stored(connection) - count_probe(connection)
                connection.commit()
                if stored_rows >= warm_rows + published * values:
                    break
                time.sleep(POLL_EVERY)
        time.sleep(POLL_EVERY * 2)
        after = {pid: proc_stats(pid) for _, pid in pids}
        pg_cpu, measured_for = postgres_cpu_seconds() - pg_before, time.monotonic() - measured_from
        stop_monitor.set()
        monitor_thread.join(5)

        with engine.connect() as connection:
            points = int(connection.execute(text("SELECT count(*) FROM telemetry WHERE device_id <> :d"),
                                            {"d": probe_id}).scalar_one()) - warm_rows
            rejected = int(connection.execute(select(func.coalesce(func.sum(IngestRejection.count), 0))).scalar_one())
        final = warm_rows + points
        finished = next((t for t, n in monitor if n >= final), monitor[-1][0] if monitor else start_at)
        processes = [ProcessFigure(role, max(0.0, after[pid].cpu_seconds - before[pid].cpu_seconds),
                                   max(after[pid].peak_rss_mb, before[pid].peak_rss_mb))
                     for role, pid in pids]
        if backend == "postgresql" and pg_cpu > 0:
            processes.append(ProcessFigure("postgresql server (all postgres processes)", pg_cpu, 0.0))
        report = IngestBenchReport(
            backend=backend, broker=broker, devices=devices, workers=workers, publishers=publishers, values=values,
            target_rate=rate, duration=duration, published=published, acknowledged=acknowledged,
            publish_seconds=publish_seconds, stored=points // values, points=points, rejected=rejected,
            commit_window=max(finished - start_at, 1e-9), latencies_ms=latencies, probes_lost=probes_lost[0],
            load_counts=[(t - start_at, (n - warm_rows) // values) for t, n in monitor
                         if start_at < t <= start_at + publish_seconds],
            processes=processes, cpu_window=measured_for, machine=machine_line())
        for generator in generators:
            generator.join(5)
    out(render(report))
    return report


def render(report: IngestBenchReport) -> str:
    window = report.commit_window
    lines = [
        f"bench ingest on {report.backend} + {report.broker}: {report.workers} worker(s), {report.devices} devices, "
        f"target {report.target_rate:,} msg/s for {report.duration:g} s, {report.values} values per message",
        f"  offered:   {report.published:,} messages in {report.publish_seconds:.1f} s = "
        f"{report.offered_rate:,.0f} msg/s ({report.acknowledged:,} acknowledged by the broker)",
        f"  sustained: {report.messages_per_second:,.0f} messages/s, {report.points_per_second:,.0f} data points/s "
        + (f"(stored rows counted under load at {report.load_counts[0][0]:.1f} s and {report.load_counts[-1][0]:.1f} s)"
           if len(report.load_counts) >= 2 else f"({report.stored:,} stored, start of publishing -> last commit)"),
        f"  caught up: all {report.stored:,} messages stored {report.caught_up_after:.1f} s after the last publish "
        f"(start of publishing -> last commit {window:.1f} s, counted every {POLL_EVERY:g} s after the load)",
        f"  latency publish -> committed: p50 {report.p50_ms:.0f} ms, p99 {report.p99_ms:.0f} ms "
        f"(probe every {PROBE_EVERY * 1000:.0f} ms, DB polled every 10 ms; {len(report.latencies_ms)} probes, "
        f"{report.probes_lost} not seen within 10 s)",
        f"  lost: {report.lost:,} (published - stored after up to {DRAIN_SECONDS:.0f} s drain; "
        f"{report.rejected} refused by ingest): {report.not_accepted:,} never acknowledged by the broker "
        f"(backlog in the publishers), {report.lost_after_ack:,} acknowledged but not stored",
        f"  {'process (CPU over the ' + format(report.cpu_window, '.0f') + ' s of load + drain)':<45} "
        f"{'CPU s':>8} {'CPU %':>7} {'peak RSS MB':>12}",
    ]
    for figure in report.processes:
        lines.append(f"  {figure.role:<45} {figure.cpu_seconds:>8.1f} {100 * figure.cpu_seconds / max(report.cpu_window, 1e-9):>7.0f} "
                     f"{figure.peak_rss_mb:>12.0f}")
    lines.append(f"  {report.machine}")
    return "\n".join(lines)
