"""`leitstand bench query`: how fast the time-series store answers the questions charts ask.

It seeds its own data into a throw-away database on the configured backend (a new
PostgreSQL database on the configured server, dropped afterwards, or a temporary
SQLite file), through `write_points` like ingest does:

    one device with one year of 15-minute values (35 040 points), more if asked;
    `devices` devices with the last 7 days of 15-minute values.

Then it times, through a tenant-scoped session as the API uses it:

    one year of one device aggregated to days (365 buckets from the day rollups);
    7 days of raw values of all devices;
    monthly sums of one year, for one device and for the whole site.

Each query runs once to warm up and then `runs` times; it prints median and p95.
These are figures to read, not a timed test.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from leitstand.bench import bench_tenants, throwaway_database
from leitstand.bootstrap import initialise
from leitstand.config import Settings
from leitstand.db.engine import make_engine
from leitstand.db.models import make_session_factory
from leitstand.devices.models import Device
from leitstand.sites.models import Site, SiteKind
from leitstand.telemetry import queries
from leitstand.telemetry.store import Point, local_midnight, write_points
from leitstand.tenancy.models import new_path_segment
from leitstand.tenancy.scope import AccessScope, bind_scope, system_session

TIME_ZONE = "Europe/Berlin"
STEP = timedelta(minutes=15)
KEY = "temperature"
YEAR = 2025  # a calendar year of 365 days: 35 040 quarter hours


@dataclass(frozen=True)
class Figure:
    """One timed query: what it returned and how long it took, in milliseconds."""

    name: str
    rows: int
    median_ms: float
    p95_ms: float


@dataclass(frozen=True)
class BenchReport:
    backend: str
    points_seeded: int
    seed_seconds: float
    figures: list[Figure]

    @property
    def seed_rate(self) -> float:
        return self.points_seeded / self.seed_seconds if self.seed_seconds else 0.0


def bench_query(
    settings: Settings, devices: int = 200, runs: int = 20, year_devices: int = 1,
    out: Callable[[str], None] = print,
) -> BenchReport:
    """Seed, time the three chart queries, print a table and return the figures."""
    if devices < 1 or not 1 <= year_devices <= devices or runs < 1:
        raise ValueError("need devices >= 1, 1 <= year_devices <= devices and runs >= 1")
    with throwaway_database(settings.effective_database_url) as url:
        engine = make_engine(url)
        try:
            factory = make_session_factory(engine)
            bench_settings = Settings(database_url=url, data_dir=settings.data_dir, secret_key="bench")
            out(f"bench query: seeding {engine.dialect.name} at {make_url(url).render_as_string(hide_password=True)}")
            initialise(bench_settings, factory)
            world = _seed_fleet(factory, devices)
            points, seconds = _seed_points(factory, world, year_devices, out)
            figures = _time_queries(factory, world, runs)
            report = BenchReport(engine.dialect.name, points, seconds, figures)
        finally:
            engine.dispose()
    out(render(report, devices, runs))
    return report


# --- seeding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    tenant_path: str
    site_id: int
    device_ids: list[int]
    year_start: datetime
    year_end: datetime


def _seed_fleet(factory: sessionmaker[Session], devices: int) -> Fleet:
    with system_session(factory, reason="bench query seeds its fleet") as db:
        partner, customer = bench_tenants(db, "Bench Wohnbau", TIME_ZONE)
        site = Site(tenant_id=customer.id, kind=SiteKind.site, name="Bench Quartier", path=f"/{new_path_segment()}/")
        db.add(site)
        db.flush()
        building = Site(tenant_id=customer.id, parent_id=site.id, kind=SiteKind.building, name="Haus A",
                        path=f"{site.path}{new_path_segment()}/")
        db.add(building)
        db.flush()
        fleet = [Device(tenant_id=customer.id, type_key="thermostat", serial_number=f"BENCH-THM-{n:05d}",
                        name=f"Thermostat {n}", site_id=building.id) for n in range(devices)]
        db.add_all(fleet)
        db.commit()
        start = local_midnight(date(YEAR, 1, 1), TIME_ZONE)
        end = local_midnight(date(YEAR + 1, 1, 1), TIME_ZONE)
        return Fleet(customer.path, site.id, [device.id for device in fleet], start, end)


def _seed_points(factory: sessionmaker[Session], fleet: Fleet, year_devices: int, out: Callable[[str], None]) -> tuple[int, float]:
    """Write a year for the first devices, a week for all, a day per batch, like ingest would."""
    week_start = fleet.year_end - timedelta(days=7)
    total, elapsed = 0, 0.0
    day = fleet.year_start
    while day < fleet.year_end:
        next_day = day + timedelta(days=1)
        ids = fleet.device_ids if day >= week_start else fleet.device_ids[:year_devices]
        points = []
        for device_id in ids:
            at, i = day, 0
            while at < next_day:
                # A plausible room temperature: a daily swing around 20 °C.
                points.append(Point(device_id, KEY, at, round(20.0 + 2.0 * ((at.hour + i % 4) % 24 - 12) / 12, 2), TIME_ZONE))
                at, i = at + STEP, i + 1
        started = time.perf_counter()
        with factory() as db:
            total += write_points(db.connection(), points)
            db.commit()
        elapsed += time.perf_counter() - started
        day = next_day
    out(f"seeded {total} points in {elapsed:.1f} s ({total / elapsed:,.0f} points/s through write_points)")
    return total, elapsed


# --- timing -------------------------------------------------------------------------------


def _time_queries(factory: sessionmaker[Session], fleet: Fleet, runs: int) -> list[Figure]:
    scope = AccessScope(tenant_paths=frozenset({fleet.tenant_path}))
    one = fleet.device_ids[:1]
    week_start = fleet.year_end - timedelta(days=7)

    def year_to_days(db: Session) -> int:
        return len(queries.aggregate(db, one, [KEY], fleet.year_start, fleet.year_end, "day", TIME_ZONE))

    def week_raw(db: Session) -> int:
        return len(queries.raw_points(db, fleet.device_ids, [KEY], week_start, fleet.year_end))

    def monthly_sums_device(db: Session) -> int:
        return len(queries.aggregate(db, one, [KEY], fleet.year_start, fleet.year_end, "month", TIME_ZONE))

    def monthly_sums_site(db: Session) -> int:
        site = db.get(Site, fleet.site_id)
        device_ids = queries.site_device_ids(db, site)  # type: ignore[arg-type]
        buckets = queries.aggregate(db, device_ids, [KEY], fleet.year_start, fleet.year_end, "month", TIME_ZONE)
        return len(queries.combine(buckets))

    cases: list[tuple[str, Callable[[Session], int]]] = [
        ("1 device, 1 year of 15-min values -> days", year_to_days),
        (f"{len(fleet.device_ids)} devices, 7 days raw", week_raw),
        ("1 device, monthly sums of 1 year", monthly_sums_device),
        (f"site of {len(fleet.device_ids)} devices, monthly sums of 1 year", monthly_sums_site),
    ]
    figures = []
    for name, query in cases:
        timings, rows = [], 0
        for run in range(runs + 1):
            db = bind_scope(factory(), scope)
            try:
                started = time.perf_counter()
                rows = query(db)
                took = time.perf_counter() - started
            finally:
                db.close()
            if run:  # the first run warms caches and connections
                timings.append(took * 1000)
        figures.append(Figure(name, rows, statistics.median(timings), _percentile(timings, 95)))
    return figures


def _percentile(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))  # nearest rank
    return ordered[rank - 1]


def render(report: BenchReport, devices: int, runs: int) -> str:
    lines = [
        f"bench query on {report.backend}: {devices} devices, {runs} runs per query "
        f"(seeded {report.points_seeded:,} points at {report.seed_rate:,.0f} points/s)",
        f"{'query':<52} {'rows':>8} {'median ms':>10} {'p95 ms':>10}",
    ]
    lines += [f"{f.name:<52} {f.rows:>8} {f.median_ms:>10.1f} {f.p95_ms:>10.1f}" for f in report.figures]
    return "\n".join(lines)
