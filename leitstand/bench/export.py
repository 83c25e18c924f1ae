"""`leitstand bench export`: how fast a big tenant is exported and imported, and in how much memory.

In a throw-away database (PostgreSQL is the target; SQLite works for a smoke run) it seeds
one customer with `devices` devices and `days` days of 15-minute values on 4 keys
(1 000 × 30 days × 96 × 4 ≈ 11.5 million points) and their rollups. On PostgreSQL the
server makes both itself (INSERT … SELECT over generate_series into the monthly partitions,
then the hours, days and months), which is far faster than COPY from Python; on SQLite
through `write_points`.

Then, each in a child process of its own so that its peak RSS is its own:

    export   `export_tenant` of the partner (with the customer) into a zip (tables, telemetry CSV,
             the rollups the points cannot give back, manifest);
    import   `import_export` of that zip into a second, freshly initialised throw-away database
             (verification of every file first, new ids, telemetry by COPY, rollups computed
             and the exported ones written over them).

It prints points/s of each (telemetry points / wall time of the whole operation) and the
peak RSS (ru_maxrss) of each child. Targets: ≥ 200 000 points/s each way on PostgreSQL and a
peak RSS under 500 MB. These are figures to read, not a timed test.
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from leitstand.bench import machine_line, throwaway_database

KEYS = ("temperature", "target_temperature", "valve_opening", "battery")
TIME_ZONE = "Europe/Berlin"
STEP = timedelta(minutes=15)
TARGET_POINTS_PER_SECOND = 200_000
TARGET_PEAK_RSS_MB = 500


@dataclass(frozen=True)
class Measured:
    seconds: float
    points: int
    peak_rss_mb: float
    size: int = 0

    @property
    def rate(self) -> float:
        return self.points / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class ExportBenchReport:
    backend: str
    devices: int
    days: int
    points: int
    seed_seconds: float
    export: Measured
    import_: Measured
    machine: str


def bench_export(database_server: str, *, devices: int = 1000, days: int = 30,
                 out: Callable[[str], None] = print) -> ExportBenchReport:
    if devices < 1 or days < 1:
        raise ValueError("need devices >= 1 and days >= 1")
    with tempfile.TemporaryDirectory(prefix="leitstand-bench-export-") as folder, \
            throwaway_database(database_server) as source_url, throwaway_database(database_server) as target_url:
        work = Path(folder)
        backend = "sqlite" if source_url.startswith("sqlite") else "postgresql"
        if backend == "sqlite":  # both throw-away SQLite databases would be the same file name
            target_url = f"sqlite:///{work / 'target.db'}"
        out(f"bench export: {backend} at {make_url(source_url).render_as_string(hide_password=True)}; seeding "
            f"{devices} devices × {days} days × 96 × {len(KEYS)} keys")
        started = time.perf_counter()
        tenant_id, points = _seed(source_url, work / "source-data", devices, days)
        seed_seconds = time.perf_counter() - started
        out(f"seeded {points:,} points in {seed_seconds:.1f} s")
        _initialise(target_url, work / "target-data")
        zip_path = work / "export.zip"
        exported = _in_child(_export_child, source_url, str(work / "source-data"), tenant_id, str(zip_path))
        out(f"export: {exported.points:,} points in {exported.seconds:.1f} s, zip {exported.size / 1e6:.1f} MB")
        imported = _in_child(_import_child, target_url, str(work / "target-data"), 0, str(zip_path))
        out(f"import: {imported.points:,} points in {imported.seconds:.1f} s")
    report = ExportBenchReport(backend, devices, days, points, seed_seconds, exported, imported, machine_line())
    out(render(report))
    return report


# --- seeding ------------------------------------------------------------------------------


def _initialise(url: str, data_dir: Path) -> Any:
    from leitstand.bootstrap import initialise
    from leitstand.config import Settings
    from leitstand.db.engine import make_engine
    from leitstand.db.models import make_session_factory

    engine = make_engine(url)
    factory = make_session_factory(engine)
    initialise(Settings(database_url=url, data_dir=data_dir, secret_key="bench"), factory)
    return engine, factory


def _seed(url: str, data_dir: Path, devices: int, days: int) -> tuple[int, int]:
    from sqlalchemy import insert, select, text

    from leitstand.bench import bench_tenants
    from leitstand.devices.bindings import add_missing_native_bindings
    from leitstand.devices.models import Device
    from leitstand.sites.models import Site, SiteKind
    from leitstand.telemetry.store import Point, ensure_partitions, local_midnight, months_between, write_points
    from leitstand.tenancy.models import new_path_segment
    from leitstand.tenancy.scope import system_session

    engine, factory = _initialise(url, data_dir)
    end = local_midnight(datetime.now(UTC).date(), TIME_ZONE)
    start = end - timedelta(days=days)
    try:
        with system_session(factory, reason="bench export seeds a tenant") as db:
            partner, customer = bench_tenants(db, "Bench Kunde", TIME_ZONE)
            site = Site(tenant_id=customer.id, kind=SiteKind.site, name="Bench Quartier", path=f"/{new_path_segment()}/")
            db.add(site)
            db.flush()
            now = datetime.now(UTC)
            db.execute(insert(Device), [
                {"tenant_id": customer.id, "type_key": "thermostat", "serial_number": f"BENCH-EXP-{n:06d}",
                 "name": f"Thermostat {n + 1}", "site_id": site.id, "labels": [], "created_at": now}
                for n in range(devices)])
            add_missing_native_bindings(db.connection())  # a bulk insert passes the flush that writes them
            db.commit()
            device_ids = list(db.scalars(select(Device.id).where(Device.tenant_id == customer.id)))
            connection = db.connection()
            if engine.dialect.name == "postgresql":
                ensure_partitions(connection, months_between(start.date(), end.date()))
                db.commit()
                connection = db.connection()
                connection.execute(text(
                    "INSERT INTO telemetry (device_id, key, ts, num)"
                    " SELECT d.id, k.key, g.ts, round((20 + 3 * sin(extract(epoch FROM g.ts) / 7200 + d.id)"
                    " + k.shift)::numeric, 2)::float8"
                    " FROM devices d"
                    " CROSS JOIN (VALUES ('temperature', 0), ('target_temperature', 1), ('valve_opening', 30),"
                    " ('battery', 70)) AS k (key, shift)"
                    " CROSS JOIN generate_series(CAST(:start AS timestamptz), CAST(:last AS timestamptz),"
                    " interval '15 minutes') AS g (ts)"
                    " WHERE d.tenant_id = :tenant"), {"start": start, "last": end - STEP, "tenant": customer.id})
                for statement in ROLLUPS:
                    connection.execute(text(statement), {"tenant": customer.id, "zone": TIME_ZONE})
                db.commit()
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit:
                    autocommit.execute(text("VACUUM ANALYZE telemetry, telemetry_rollups"))
            else:
                day = start
                while day < end:
                    batch = []
                    for device_id in device_ids:
                        at = day
                        while at < day + timedelta(days=1):
                            batch.extend(Point(device_id, key, at, 20.0 + index + device_id % 7, TIME_ZONE)
                                         for index, key in enumerate(KEYS))
                            at += STEP
                    write_points(connection, batch)
                    day += timedelta(days=1)
                db.commit()
            return partner.id, devices * days * 96 * len(KEYS)  # the partner: it fits below the target's root
    finally:
        engine.dispose()


# The seeded points' rollups, as ingest would have made them (leitstand.telemetry.store): UTC
# hours, then calendar days and months in the zone (Berlin: whole-hour offsets, so hours add
# up to days); the last value is the one at the latest time.
_ROLLUP_COLUMNS = "INSERT INTO telemetry_rollups (device_id, key, period, bucket_start, count, sum, min, max, last_value, last_ts)"
ROLLUPS = (
    _ROLLUP_COLUMNS + " SELECT device_id, key, 'hour', date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour,"
    " count(*), sum(num), min(num), max(num), (max(ARRAY[date_part('epoch', ts), num]))[2], max(ts) FROM telemetry"
    " WHERE device_id IN (SELECT id FROM devices WHERE tenant_id = :tenant) GROUP BY device_id, key, hour",
    *(_ROLLUP_COLUMNS + f" SELECT device_id, key, '{period}', date_trunc('{period}', bucket_start, :zone) AS bucket,"
      " sum(count), sum(sum), min(min), max(max), (max(ARRAY[date_part('epoch', last_ts), last_value]))[2], max(last_ts)"
      f" FROM telemetry_rollups WHERE period = '{below}' AND device_id IN (SELECT id FROM devices WHERE tenant_id = :tenant)"
      " GROUP BY device_id, key, bucket" for period, below in (("day", "hour"), ("month", "day"))),
)


# --- the measured children ------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _export_child(url: str, data_dir: str, tenant_id: int, zip_path: str) -> Measured:
    from leitstand.config import Settings
    from leitstand.dataexport.export import export_tenant
    from leitstand.db.engine import make_engine
    from leitstand.db.models import make_session_factory
    from leitstand.tenancy.scope import system_session

    engine = make_engine(url)
    settings = Settings(database_url=url, data_dir=Path(data_dir), secret_key="bench")
    started = time.perf_counter()
    with system_session(make_session_factory(engine), reason="bench export") as db:
        result = export_tenant(db, settings, tenant_id, Path(zip_path))
    seconds = time.perf_counter() - started
    engine.dispose()
    return Measured(seconds, result.counts["telemetry_points"], _peak_rss_mb(), result.size)


def _import_child(url: str, data_dir: str, _unused: int, zip_path: str) -> Measured:
    from leitstand.config import Settings
    from leitstand.dataexport.importer import import_export
    from leitstand.db.engine import make_engine
    from leitstand.db.models import make_session_factory

    engine = make_engine(url)
    settings = Settings(database_url=url, data_dir=Path(data_dir), secret_key="bench")
    started = time.perf_counter()
    report = import_export(make_session_factory(engine), settings, Path(zip_path))
    seconds = time.perf_counter() - started
    engine.dispose()
    return Measured(seconds, report.telemetry_points, _peak_rss_mb())


def _child(target: Callable[..., Measured], url: str, data_dir: str, tenant_id: int, zip_path: str, results: Any) -> None:
    try:
        results.put(target(url, data_dir, tenant_id, zip_path))
    except BaseException:  # noqa: BLE001 - the parent prints why the child failed
        import traceback

        results.put(traceback.format_exc())


def _in_child(target: Callable[..., Measured], url: str, data_dir: str, tenant_id: int, zip_path: str) -> Measured:
    import queue

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_child, args=(target, url, data_dir, tenant_id, zip_path, results))
    process.start()
    try:
        while True:
            try:
                measured = results.get(timeout=1.0)
                break
            except queue.Empty:
                if not process.is_alive():
                    raise RuntimeError(f"{target.__name__} died with exit code {process.exitcode}") from None
    finally:
        process.join(60)
    if isinstance(measured, str):
        raise RuntimeError(f"{target.__name__} failed:\n{measured}")
    return measured


def render(report: ExportBenchReport) -> str:
    def verdict(measured: Measured) -> str:
        if report.backend != "postgresql":
            return ""
        met = measured.rate >= TARGET_POINTS_PER_SECOND and measured.peak_rss_mb < TARGET_PEAK_RSS_MB
        return f"  targets ≥ {TARGET_POINTS_PER_SECOND:,}/s, < {TARGET_PEAK_RSS_MB} MB: {'met' if met else 'MISSED'}"

    lines = [
        f"bench export on {report.backend}: {report.devices:,} devices × {report.days} days × 96 × {len(KEYS)} keys "
        f"= {report.points:,} points (seeded in {report.seed_seconds:.1f} s)",
        f"  {'':<8} {'seconds':>9} {'points/s':>12} {'peak RSS MB':>12}",
        f"  {'export':<8} {report.export.seconds:>9.1f} {report.export.rate:>12,.0f} {report.export.peak_rss_mb:>12.0f}"
        f"{verdict(report.export)}",
        f"  {'import':<8} {report.import_.seconds:>9.1f} {report.import_.rate:>12,.0f} {report.import_.peak_rss_mb:>12.0f}"
        f"{verdict(report.import_)}",
        f"  zip: {report.export.size / 1e6:.1f} MB",
        f"  {report.machine}",
    ]
    return "\n".join(lines)
