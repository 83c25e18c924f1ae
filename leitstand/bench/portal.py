"""`leitstand bench portal`: server time of the start dashboard and the device page on a big fleet.

It builds, in a throw-away database (PostgreSQL is the target; SQLite works for a smoke run):

    one partner with one customer, `sites` sites with 2 buildings and 4 rooms each,
    `devices` devices spread over the rooms (thermostats, barriers, gateways, sensors),
    their live states (about 90 % online, 8 % offline, 2 % never seen), a license each
    (end dates spread over a year, so some end within 30 days), an offline event per
    offline device and an error report for 1 % of the devices;
    one year of 15-minute telemetry, 4 keys (temperature, target temperature, valve opening,
    battery), for the `chart_devices` thermostats whose device page is measured. A year for
    every one of 10 000 devices would be 1.4 billion points and say nothing more about one
    page: a page reads one device's series. 20 devices x 365 days x 96 x 4 = 2.8 million points,
    written through `write_points` (COPY into staging, rollups kept) as ingest does.

Then a partner admin (API token; pages accept bearer tokens, with the same scope as a
browser session) requests each page `requests` times, one after another, in this process
through the ASGI app. Server time is measured inside the ASGI call: from the request
entering the app to the last byte of the response body, so the HTTP client is not counted.
The device page is cycled over the chart devices. It prints p50, p95 and max per page.
These are figures to read, not a timed test.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from leitstand.bench import machine_line, percentile, throwaway_database

TARGET_P95_MS = 100.0
TIME_ZONE = "Europe/Berlin"
STEP = timedelta(minutes=15)
CHART_KEYS = ("temperature", "target_temperature", "valve_opening", "battery")
# Per 100 devices: which type, in a plausible mix of a mixed portfolio.
TYPE_MIX = ("thermostat",) * 60 + ("barrier",) * 20 + ("generic_sensor",) * 15 + ("gateway",) * 5
BUILDINGS_PER_SITE = 2
ROOMS_PER_BUILDING = 2


@dataclass
class PageFigures:
    name: str
    path: str
    timings_ms: list[float] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    targeted: bool = False

    @property
    def p50_ms(self) -> float:
        return percentile(self.timings_ms, 50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.timings_ms, 95)

    @property
    def max_ms(self) -> float:
        return max(self.timings_ms, default=0.0)


@dataclass
class PortalBenchReport:
    backend: str
    devices: int
    sites: int
    chart_devices: int
    points: int
    seed_seconds: float
    requests: int
    pages: list[PageFigures] = field(default_factory=list)
    machine: str = ""


@dataclass(frozen=True)
class Fleet:
    token: str
    site_ids: list[int]
    chart_device_ids: list[int]


class ServerTimer:
    """ASGI wrapper: the time from a request entering the app to its last body byte."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.last_ms = (time.perf_counter() - started) * 1000
            await send(message)

        await self.app(scope, receive, timed_send)


def bench_portal(database_server: str, *, devices: int = 10_000, sites: int = 100, chart_devices: int = 20,
                 requests: int = 200, days: int = 365, out: Callable[[str], None] = print) -> PortalBenchReport:
    """Build the fleet, time the pages, print the figures and return them."""
    from fastapi.testclient import TestClient

    from leitstand.bootstrap import initialise
    from leitstand.config import Settings
    from leitstand.db.engine import make_engine
    from leitstand.db.models import make_session_factory
    from leitstand.runtime import app_without_transports

    if devices < 1 or sites < 1 or not 1 <= chart_devices <= devices or requests < 1 or days < 1:
        raise ValueError("need devices, sites, requests, days >= 1 and 1 <= chart_devices <= devices")
    with tempfile.TemporaryDirectory(prefix="leitstand-bench-portal-") as folder, \
            throwaway_database(database_server) as url:
        backend = "sqlite" if url.startswith("sqlite") else "postgresql"
        out(f"bench portal: {backend} at {make_url(url).render_as_string(hide_password=True)}; building "
            f"{devices} devices at {sites} sites, {days} days of 15-minute values for {chart_devices} devices")
        settings = Settings(database_url=url, data_dir=Path(folder), secret_key="bench")
        engine = make_engine(url)
        try:
            factory = make_session_factory(engine)
            initialise(settings, factory)
            started = time.perf_counter()
            fleet = _seed_fleet(factory, devices, sites, chart_devices)
            points = _seed_telemetry(factory, fleet.chart_device_ids, days)
            _analyse(engine)
            seed_seconds = time.perf_counter() - started
            out(f"built in {seed_seconds:.1f} s ({points:,} telemetry points)")
        finally:
            engine.dispose()

        with app_without_transports(settings) as app:
            timer = ServerTimer(app)
            report = PortalBenchReport(backend, devices, sites, chart_devices, points, seed_seconds, requests,
                                       machine=machine_line())
            pages = [
                PageFigures("start dashboard", "/", targeted=True),
                PageFigures("device page", "/devices/{device}", targeted=True),
                PageFigures("dashboard tiles (live refresh)", "/dashboard/tiles"),
                PageFigures("sites map markers", "/sites/map.json"),
                PageFigures("sites list", "/sites"),
                PageFigures("site page", "/sites/{site}"),
            ]
            with TestClient(timer, base_url="http://localhost") as client:
                headers = {"Authorization": f"Bearer {fleet.token}"}
                for figures in pages:
                    for n in range(requests + 3):  # the first three warm caches and the pool
                        path = figures.path.format(device=fleet.chart_device_ids[n % len(fleet.chart_device_ids)],
                                                   site=fleet.site_ids[n % len(fleet.site_ids)])
                        response = client.get(path, headers=headers)
                        figures.statuses.add(response.status_code)
                        if n >= 3:
                            figures.timings_ms.append(timer.last_ms)
                    report.pages.append(figures)
    out(render(report))
    return report


# --- building the fleet ---------------------------------------------------------------------


def _seed_fleet(factory: sessionmaker[Session], devices: int, sites: int, chart_devices: int) -> Fleet:
    from leitstand.auth.models import ApiToken
    from leitstand.auth.secrets import new_token, token_digest
    from leitstand.bench import bench_tenants
    from leitstand.bootstrap import create_user
    from leitstand.devices.bindings import add_missing_native_bindings
    from leitstand.devices.models import Device
    from leitstand.licenses.models import License
    from leitstand.permissions import Permission
    from leitstand.sites.models import Site, SiteKind
    from leitstand.state.models import DeviceEvent, DeviceState
    from leitstand.tenancy.models import new_path_segment
    from leitstand.tenancy.scope import system_session

    now = datetime.now(UTC)
    today = now.date()
    with system_session(factory, reason="bench portal builds its fleet") as db:
        partner, customer = bench_tenants(db, "Bench Immobilien", TIME_ZONE)
        admin = create_user(db, tenant=partner, email="bench-partner@example.com", display_name="Bench partner admin",
                            password=None, role="partner_admin")
        raw_token = new_token("lst_")
        db.add(ApiToken(user_id=admin.id, name="bench", prefix=raw_token[:10], token_hash=token_digest(raw_token),
                        scopes=sorted(permission.value for permission in Permission)))
        db.commit()

        connection = db.connection()
        site_rows, building_rows, room_rows = [], [], []
        for n in range(sites):
            path = f"/{new_path_segment()}/"
            # Spread over Germany: 47.5-54.5 N, 6-14.5 E.
            site_rows.append({"tenant_id": customer.id, "kind": SiteKind.site, "name": f"Standort {n + 1:03d}",
                              "street": f"Hauptstraße {n + 1}", "postal_code": f"{10000 + n * 811 % 89999:05d}",
                              "city": f"Stadt {n % 37 + 1}", "country": "DE", "latitude": 47.5 + (n * 7.31 % 7.0),
                              "longitude": 6.0 + (n * 3.77 % 8.5), "path": path})
        connection.execute(insert(Site), site_rows)
        top = list(db.execute(select(Site.id, Site.path).where(Site.tenant_id == customer.id).order_by(Site.id)))
        for site_id, path in top:
            for b in range(BUILDINGS_PER_SITE):
                building_rows.append({"tenant_id": customer.id, "parent_id": site_id, "kind": SiteKind.building,
                                      "name": f"Haus {chr(65 + b)}", "path": f"{path}{new_path_segment()}/"})
        connection.execute(insert(Site), building_rows)
        buildings = list(db.execute(select(Site.id, Site.path).where(Site.kind == SiteKind.building).order_by(Site.id)))
        for building_id, path in buildings:
            for r in range(ROOMS_PER_BUILDING):
                room_rows.append({"tenant_id": customer.id, "parent_id": building_id, "kind": SiteKind.room,
                                  "name": f"Raum {r + 1}", "path": f"{path}{new_path_segment()}/"})
        connection.execute(insert(Site), room_rows)
        rooms = list(db.scalars(select(Site.id).where(Site.kind == SiteKind.room).order_by(Site.id)))

        # Thermostats first, so the first `chart_devices` devices are the thermostats with a year of values.
        types = sorted((TYPE_MIX[n % len(TYPE_MIX)] for n in range(devices)), key=lambda key: key != "thermostat")
        connection.execute(insert(Device), [
            {"tenant_id": customer.id, "type_key": type_key, "serial_number": f"BENCH-{n:06d}",
             "name": f"{type_key.replace('_', ' ').title()} {n + 1}", "site_id": rooms[n % len(rooms)],
             "labels": [], "claimed_at": now, "created_at": now}
            for n, type_key in enumerate(types)
        ])
        add_missing_native_bindings(connection)  # a bulk insert passes the flush that writes them
        device_ids = list(db.scalars(select(Device.id).where(Device.tenant_id == customer.id).order_by(Device.id)))

        states, events, licenses = [], [], []
        for n, device_id in enumerate(device_ids):
            bucket = n % 50
            starts = today - timedelta(days=365) + timedelta(days=n % 365)
            licenses.append({"device_id": device_id, "tenant_id": customer.id, "starts_on": starts,
                             "ends_on": starts + timedelta(days=364), "term_months": 12, "auto_renew": n % 3 != 0,
                             "created_at": now})
            if bucket == 0:
                continue  # 2 %: never spoke
            online = bucket > 4  # 8 % offline
            seen = now - (timedelta(minutes=n % 10) if online else timedelta(hours=2 + n % 48))
            states.append({"device_id": device_id, "tenant_id": customer.id, "last_seen_at": seen, "online": online,
                           "online_changed_at": seen, "attributes": {}, "latest": {}})
            if not online:
                events.append({"device_id": device_id, "tenant_id": customer.id, "at": seen + timedelta(minutes=45),
                               "kind": "connectivity", "code": "offline", "severity": "", "data": {}})
            if n % 100 == 7:  # 1 %: an error report within the last 24 hours
                events.append({"device_id": device_id, "tenant_id": customer.id, "at": now - timedelta(hours=n % 20),
                               "kind": "error", "code": "E101", "severity": "major", "data": {}})
        connection.execute(insert(DeviceState), states)
        connection.execute(insert(License), licenses)
        if events:
            connection.execute(insert(DeviceEvent), events)
        db.commit()
        return Fleet(raw_token, [site_id for site_id, _ in top], device_ids[:chart_devices])


def _seed_telemetry(factory: sessionmaker[Session], device_ids: list[int], days: int) -> int:
    """`days` days of 15-minute values of CHART_KEYS for each device, a day per batch, like ingest."""
    from leitstand.telemetry.store import Point, local_midnight, write_points

    end = local_midnight(datetime.now(UTC).date() + timedelta(days=1), TIME_ZONE)
    day = end - timedelta(days=days)
    total = 0
    while day < end:
        next_day = day + timedelta(days=1)
        points = []
        for index, device_id in enumerate(device_ids):
            at = day
            while at < next_day:
                swing = ((at.hour + index) % 24 - 12) / 12  # a daily curve, shifted per device
                values = (round(20.5 + 1.5 * swing, 2), 21.0, round(40 + 30 * swing, 1), 90 - at.timetuple().tm_yday % 30)
                points.extend(Point(device_id, key, at, value, TIME_ZONE) for key, value in zip(CHART_KEYS, values))
                at += STEP
        with factory() as db:
            total += write_points(db.connection(), points)
            db.commit()
        day = next_day
    return total


def _analyse(engine: Any) -> None:
    """Fresh statistics, as autovacuum would have them on a database that grew over time."""
    from sqlalchemy import text

    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))


# --- the report -----------------------------------------------------------------------------


def render(report: PortalBenchReport) -> str:
    lines = [
        f"bench portal on {report.backend}: {report.devices:,} devices, {report.sites} sites, "
        f"{report.points:,} telemetry points ({report.chart_devices} devices), {report.requests} requests per page "
        f"(after 3 warm-up), server time in the ASGI app",
        f"  {'page':<32} {'status':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}",
    ]
    for page in report.pages:
        verdict = ""
        if page.targeted:
            verdict = "  target p95 <= 100 ms: " + ("met" if page.p95_ms <= TARGET_P95_MS else "MISSED")
        statuses = ",".join(str(status) for status in sorted(page.statuses))
        lines.append(f"  {page.name:<32} {statuses:>8} {page.p50_ms:>8.1f} {page.p95_ms:>8.1f} {page.max_ms:>8.1f}{verdict}")
    lines.append(f"  {report.machine}")
    return "\n".join(lines)
