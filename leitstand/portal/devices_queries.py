"""What the device pages read: the fleet list, one device with its state, and chart series.

Every function takes the page's scoped session, so another tenant's device simply is
not there. The list is built for fleets of 10 000 devices: one query for a page of rows
(with state and site joined in), one count, and nothing per row.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from leitstand.commands.models import Command
from leitstand.devices import queries as device_queries
from leitstand.devices.models import Device
from leitstand.devicetypes.models import DeviceType
from leitstand.devicetypes.spec import DeviceTypeSpec, MetricKind, TelemetryKey, spec_for
from leitstand.formats import format_quantity
from leitstand.licenses.models import License, LicenseStatus
from leitstand import i18n
from leitstand.portal.listing import MAX_EXPORT_ROWS, Sort, Sortable
from leitstand.portal.sites_queries import alarming_device_ids
from leitstand.sites.locations import location_paths
from leitstand.sites.models import Site
from leitstand.state.models import DeviceEvent, DeviceState
from leitstand.telemetry import queries
from leitstand.telemetry.models import TelemetryPoint
from leitstand.telemetry.queries import Interval
from leitstand.telemetry.store import zone
from leitstand.tenancy.models import Tenant
from leitstand.web.crud import read_page
from leitstand.web.types import Page, PageRequest

PAGE_SIZE = 50
MAX_SITE_CHOICES = 1000


# --- shared -------------------------------------------------------------------------------


def type_specs(db: Session) -> dict[str, DeviceTypeSpec]:
    """Every device type the session sees (shipped ones and the tenant's own), by key."""
    return {row.key: spec_for(row.key, db) for row in db.scalars(select(DeviceType))}


def text_in(label: Any, language: str) -> str:
    """A catalogue `Text` (en/de) in the page's language."""
    return str(getattr(label, language, None) or label.en)


def tenant_zone(db: Session, tenant_id: int, default: str) -> str:
    """The tenant's time zone if the session sees the tenant, else the installation's default."""
    tenant = db.get(Tenant, tenant_id)
    name = tenant.time_zone if tenant is not None else default
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def site_choices(db: Session) -> list[tuple[int, str, int]]:
    """Visible sites as (id, "Site › Building › Room", tenant id), by that path."""
    sites = list(db.execute(select(Site.id, Site.tenant_id).order_by(Site.path).limit(MAX_SITE_CHOICES)))
    paths = location_paths(db, [site_id for site_id, _ in sites])
    choices = [(site_id, paths[site_id], tenant_id) for site_id, tenant_id in sites if site_id in paths]
    return sorted(choices, key=lambda choice: choice[1].lower())


# --- the list -------------------------------------------------------------------------------


class Connectivity(enum.StrEnum):
    online = "online"
    offline = "offline"
    never = "never"  # registered, never heard from


@dataclass(frozen=True)
class DeviceFilter:
    """The list's filter as the page's URL carries it; what it asks of a device itself is
    the shared device filter's (`matching_devices`), connectivity is the live state's."""

    q: str = ""
    type_key: str = ""
    site_id: int | None = None
    connectivity: Connectivity | None = None

    def query_string(self, **changes: Any) -> str:
        """The filter as URL parameters, with others added (the pager's `offset`, the order)."""
        from urllib.parse import urlencode

        values = {"q": self.q, "type": self.type_key, "site": self.site_id or "",
                  "state": self.connectivity.value if self.connectivity else "", **changes}
        if values.get("offset") == 0:
            del values["offset"]  # the first page needs no parameter
        return urlencode({key: value for key, value in values.items() if value not in ("", None)})

    def matching_devices(self, db: Session) -> device_queries.DeviceFilter:
        """The shared device filter (leitstand.devices.queries) for this one. An unknown site
        filters everything out rather than failing the page."""
        within_site = None
        if self.site_id is not None:
            site = db.get(Site, self.site_id)
            within_site = site.path if site else device_queries.NO_SITE
        return device_queries.DeviceFilter(within_site=within_site, type_key=self.type_key, search=self.q)


@dataclass(frozen=True)
class DeviceRow:
    id: int
    serial_number: str
    name: str
    type_key: str
    site_id: int | None
    site_name: str | None  # the site's full path, "Parkhaus Hbf › Einfahrt"
    online: bool | None  # None: never heard from
    last_seen_at: datetime | None
    problem: bool  # an open alarm: "error reported"


def _filtered(db: Session, wanted: DeviceFilter) -> Select[Any]:
    statement = (
        select(Device.id, Device.serial_number, Device.name, Device.type_key, Device.site_id, Site.name,
               DeviceState.online, DeviceState.last_seen_at, Device.id.in_(alarming_device_ids()))
        .outerjoin(Site, Site.id == Device.site_id)
        .outerjoin(DeviceState, DeviceState.device_id == Device.id)
        .where(*wanted.matching_devices(db).clauses())
    )
    if wanted.connectivity == Connectivity.online:
        statement = statement.where(DeviceState.online.is_(True))
    elif wanted.connectivity == Connectivity.offline:
        statement = statement.where(DeviceState.online.is_(False))
    elif wanted.connectivity == Connectivity.never:
        statement = statement.where(DeviceState.device_id.is_(None))
    return statement


DEVICE_SORT = Sortable({
    "name": func.lower(Device.name), "serial": Device.serial_number, "type": Device.type_key,
    "site": func.lower(Site.name), "last_seen": DeviceState.last_seen_at,
}, default="name", tiebreak=Device.id)


def _rows(found: Any) -> list[DeviceRow]:
    return [DeviceRow(id_, serial, name, type_key, site_id, site_name, online, last_seen, bool(problem))
            for id_, serial, name, type_key, site_id, site_name, online, last_seen, problem in found]


def list_devices(db: Session, wanted: DeviceFilter, paging: PageRequest, sort: Sort | None = None) -> Page[DeviceRow]:
    """The rows of one page of the list, in the chosen order, with how many the filter selects."""
    found = read_page(db, (sort or DEVICE_SORT.default_sort()).apply(_filtered(db, wanted)), paging)
    rows = _with_location_paths(db, _with_carried_uplinks(db, _rows(found.items)))
    return Page(items=rows, total=found.total, limit=found.limit, offset=found.offset)


def all_devices(db: Session, wanted: DeviceFilter, sort: Sort) -> list[DeviceRow]:
    """Every row of the filter, in the chosen order: the list's CSV export."""
    rows = _rows(db.execute(sort.apply(_filtered(db, wanted)).limit(MAX_EXPORT_ROWS)).all())
    return _with_location_paths(db, _with_carried_uplinks(db, rows))


def _with_location_paths(db: Session, rows: list[DeviceRow]) -> list[DeviceRow]:
    """Rows naming their site by its full path, all of a page's paths read at once."""
    paths = location_paths(db, {row.site_id for row in rows})
    return [replace(row, site_name=paths.get(row.site_id, row.site_name)) if row.site_id else row for row in rows]


# --- one device -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """The latest value of one declared telemetry key, ready to show."""

    key: str
    label: str
    kind: MetricKind
    unit: str
    value: Any
    at: datetime | None
    # What the type declares the value to mean besides (a battery's volts as percent), for display.
    derived: float | None = None
    derived_unit: str = ""
    # As the stored point says: a batch source's substitute, provisional or estimated value,
    # and the end of the interval it covers (its start is `at`).
    status: str = "measured"
    interval_end: datetime | None = None

    @property
    def marked(self) -> bool:
        """Whether the page marks the value: anything but a measured value at an instant."""
        return self.status != "measured" or self.interval_end is not None


@dataclass(frozen=True)
class HeadlineTile:
    """The type's leading measurement, formatted for the page ("21,5 °C"), beside its target."""

    key: str
    label: str
    value_text: str
    target_key: str | None
    target_text: str


@dataclass
class DeviceStatus:
    online: bool | None
    last_seen_at: datetime | None
    problem: bool = False  # an open alarm: the headline says "error reported"
    readings: list[Reading] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    headline: HeadlineTile | None = None

    def value_of(self, key: str) -> Any:
        """The latest value of one key (a setpoint field starts at the current target)."""
        return next((reading.value for reading in self.readings if reading.key == key), None)

    @property
    def counters(self) -> list[Reading]:
        return [reading for reading in self.readings if reading.kind == MetricKind.counter]

    @property
    def states(self) -> list[Reading]:
        return [reading for reading in self.readings if reading.kind in (MetricKind.state, MetricKind.flag)]

    @property
    def gauges(self) -> list[Reading]:
        return [reading for reading in self.readings if reading.kind == MetricKind.gauge]


def device_status(db: Session, device: Device, spec: DeviceTypeSpec | None, language: str) -> DeviceStatus:
    """Online, last seen and the newest value of each key the type declares (from the live state)."""
    state = db.get(DeviceState, device.id)
    problem = db.scalar(select(Device.id).where(Device.id == device.id, Device.id.in_(alarming_device_ids()))) is not None
    online, last_seen_at = (state.online, state.last_seen_at) if state else (None, None)
    if spec is not None and spec.carries_uplinks:
        carried = carried_uplinks(db, [device.serial_number]).get(device.serial_number)
        online, last_seen_at = _with_carried(online, last_seen_at, carried)
    if state is None:
        return DeviceStatus(online=online, last_seen_at=last_seen_at, problem=problem)
    latest = state.latest or {}
    readings = []
    for key in spec.telemetry if spec else []:
        entry = latest.get(key.key)
        value = entry["value"] if entry else None
        readings.append(Reading(
            key=key.key, label=text_in(key.label, language), kind=key.kind, unit=key.unit, value=value,
            at=datetime.fromisoformat(entry["at"]) if entry else None,
            derived=key.derived(value), derived_unit=key.derive.unit if key.derive else "",
        ))
    readings = _with_marks(db, device.id, readings)
    return DeviceStatus(online=online, last_seen_at=last_seen_at, problem=problem, readings=readings,
                        attributes=dict(state.attributes or {}), headline=_headline(spec, readings, language))


def _with_marks(db: Session, device_id: int, readings: list[Reading]) -> list[Reading]:
    """The readings with the status and interval end of the stored points they show: the live
    state holds values only. One primary-key lookup per shown value, in one query."""
    shown = [(reading.key, reading.at) for reading in readings if reading.at is not None]
    if not shown:
        return readings
    point = TelemetryPoint
    marks = {(key, at): (status, end) for key, at, status, end in db.execute(
        select(point.key, point.ts, point.status, point.interval_end).where(
            point.device_id == device_id, or_(*(and_(point.key == key, point.ts == at) for key, at in shown))))}
    return [replace(reading, status=marks[(reading.key, reading.at)][0],
                    interval_end=marks[(reading.key, reading.at)][1])
            if (reading.key, reading.at) in marks else reading for reading in readings]


def _headline(spec: DeviceTypeSpec | None, readings: list[Reading], language: str) -> HeadlineTile | None:
    if spec is None or spec.headline is None:
        return None
    by_key = {reading.key: reading for reading in readings}
    shown, target = by_key[spec.headline.value], by_key.get(spec.headline.target or "")

    def quantity(reading: Reading | None) -> str:
        if reading is None or not isinstance(reading.value, int | float) or isinstance(reading.value, bool):
            return "—"
        return format_quantity(reading.value, reading.unit, language, digits=1)

    return HeadlineTile(key=shown.key, label=shown.label, value_text=quantity(shown),
                        target_key=target.key if target else None, target_text=quantity(target))


# --- gateways -------------------------------------------------------------------------------

# The attribute in which a device names (by serial number) the gateway its uplinks came through,
# as the network server reports it.
GATEWAY_ATTRIBUTE = "gateway"


def carried_uplinks(db: Session, gateway_serials: list[str]) -> dict[str, tuple[datetime | None, bool]]:
    """Per gateway serial: the newest uplink of the devices reporting through it, and whether
    any of them is online. One grouped query over the live states, whatever the page size."""
    if not gateway_serials:
        return {}
    gateway = DeviceState.attributes[GATEWAY_ATTRIBUTE].as_string()
    found = db.execute(
        select(gateway, func.max(DeviceState.last_seen_at), func.max(case((DeviceState.online, 1), else_=0)))
        .where(gateway.in_(gateway_serials)).group_by(gateway)
    )
    return {serial: (last_seen, bool(online)) for serial, last_seen, online in found}


def _with_carried(online: bool | None, last_seen_at: datetime | None,
                  carried: tuple[datetime | None, bool] | None) -> tuple[bool | None, datetime | None]:
    """A gateway lives while it carries uplinks, even if it never reports on its own."""
    if carried is None or carried[0] is None:
        return online, last_seen_at
    carried_at, carried_online = carried
    return bool(online) or carried_online, max(last_seen_at, carried_at) if last_seen_at else carried_at


def _with_carried_uplinks(db: Session, rows: list[DeviceRow]) -> list[DeviceRow]:
    """List rows of gateways, with the uplinks they carried counted as their own."""
    type_keys = {row.type_key for row in rows}
    if not type_keys:
        return rows
    carriers = {row.key for row in db.scalars(select(DeviceType).where(DeviceType.key.in_(type_keys)))
                if spec_for(row.key, db).carries_uplinks}
    carried = carried_uplinks(db, [row.serial_number for row in rows if row.type_key in carriers])
    if not carried:
        return rows
    changed = []
    for row in rows:
        online, last_seen_at = _with_carried(row.online, row.last_seen_at, carried.get(row.serial_number))
        changed.append(replace(row, online=online, last_seen_at=last_seen_at))
    return changed


def license_status(db: Session, device: Device, today: date) -> tuple[LicenseStatus, License | None]:
    license_ = db.scalar(select(License).where(License.device_id == device.id))
    return (license_.status(today) if license_ else LicenseStatus.unlicensed), license_


def event_label(kind: str, code: str, spec: DeviceTypeSpec | None, language: str) -> str:
    """What an event chip says: an error's title from the type's catalogue, a state change as
    "Baumstellung: offen", going on- or offline as such. A code the catalogue lacks is shown as
    sent. Chips keep the raw code (`position=open`, `E01`) as their tooltip for technicians."""
    gettext = i18n.translations(language).gettext
    if kind == "state":
        key, _, value = code.partition("=")
        declared = spec.telemetry_by_key.get(key) if spec else None
        return f"{text_in(declared.label, language) if declared else key}: {gettext(value)}"
    if kind == "error":
        error = next((error for error in spec.errors if error.code == code), None) if spec else None
        return text_in(error.title, language) if error else code
    if kind == "connectivity":
        return gettext(code)
    return code or kind


def recent_events(db: Session, device: Device, limit: int = 20) -> list[DeviceEvent]:
    return list(db.scalars(
        select(DeviceEvent).where(DeviceEvent.device_id == device.id)
        .order_by(DeviceEvent.at.desc(), DeviceEvent.id.desc()).limit(limit)
    ))


def recent_commands(db: Session, device: Device, limit: int = 20) -> list[Command]:
    return list(db.scalars(
        select(Command).where(Command.device_id == device.id)
        .order_by(Command.requested_at.desc(), Command.id.desc()).limit(limit)
    ))


CHART_ORDER = {MetricKind.gauge: 0, MetricKind.counter: 1, MetricKind.flag: 2}


def chartable_keys(spec: DeviceTypeSpec | None) -> list[TelemetryKey]:
    """Keys with numbers to draw, measurements first: gauges, counters, flags (as 0/1).
    State texts (open/closed) have no line to draw."""
    keys = [key for key in spec.telemetry if key.kind in CHART_ORDER] if spec else []
    return sorted(keys, key=lambda key: CHART_ORDER[key.kind])


@dataclass(frozen=True)
class ChartOverlay:
    """Metrics the chart draws together, offered first in its metric choice."""

    keys: list[str]
    label: str
    series_labels: list[str]
    unit: str


def chart_overlays(spec: DeviceTypeSpec | None, language: str) -> list[ChartOverlay]:
    """The type's overlays whose metrics are all gauges (one axis of measurements)."""
    gauges = {key.key: key for key in chartable_keys(spec) if key.kind == MetricKind.gauge}
    return [
        ChartOverlay(keys=overlay.keys, label=text_in(overlay.label, language),
                     series_labels=[text_in(gauges[key].label, language) for key in overlay.keys],
                     unit=gauges[overlay.keys[0]].unit)
        for overlay in (spec.overlays if spec else []) if all(key in gauges for key in overlay.keys)
    ]


# --- chart series -------------------------------------------------------------------------------

# Raw points are drawn as they are for short windows; anything longer comes from the rollups,
# so a year is 365 day buckets rather than 35 000 quarter hours.
RAW_MAX_SPAN = timedelta(days=2)
HOURLY_MAX_SPAN = timedelta(days=93)
# A short window with very chatty devices (every few seconds) is drawn as 5-minute buckets.
RAW_MAX_POINTS = 5000


def resolution_for(start: datetime, end: datetime) -> Interval | None:
    """None: raw points. Otherwise the aggregate interval a window of this length is drawn in."""
    span = end - start
    if span <= RAW_MAX_SPAN:
        return None
    if span <= HOURLY_MAX_SPAN:
        return Interval.hour
    return Interval.day


@dataclass
class Series:
    resolution: str  # "raw", "5m", "hour" or "day"
    # Unix seconds; values: the point's value, or per bucket the mean (last for counters).
    times: list[float] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    minimum: list[float | None] = field(default_factory=list)
    maximum: list[float | None] = field(default_factory=list)
    # Which values are not measured ones, by status ("substitute": [indices into times]):
    # a raw point by its own status, a bucket by every status among the points it holds;
    # and how many points of each status the drawn values hold.
    marks: dict[str, list[int]] = field(default_factory=dict)
    mark_counts: dict[str, int] = field(default_factory=dict)


def series(db: Session, device: Device, key: TelemetryKey, start: datetime, end: datetime, time_zone: str) -> Series:
    resolution = resolution_for(start, end)
    if resolution is None:
        points = queries.raw_points(db, [device.id], [key.key], start, end, limit=RAW_MAX_POINTS + 1)
        if len(points) <= RAW_MAX_POINTS:
            numeric = [point for point in points if isinstance(point.value, int | float)]
            marks: dict[str, list[int]] = {}
            for index, point in enumerate(numeric):
                if point.status != "measured":
                    marks.setdefault(point.status, []).append(index)
            return Series("raw", [point.at.timestamp() for point in numeric], [float(point.value) for point in numeric],
                          marks=marks, mark_counts={status: len(indices) for status, indices in marks.items()})
        resolution = Interval.minutes_5
    buckets = queries.aggregate(db, [device.id], [key.key], start, end, resolution, time_zone)
    # A counter's bucket is worth its reading at the end; a gauge's, its mean with the spread.
    is_counter = key.kind == MetricKind.counter
    drawn = Series(
        resolution.value,
        [bucket.start.timestamp() for bucket in buckets],
        [bucket.last if is_counter else bucket.avg for bucket in buckets],
        [bucket.min for bucket in buckets],
        [bucket.max for bucket in buckets],
    )
    if buckets:
        _mark_buckets(drawn, queries.unmeasured_points(db, device.id, key.key, buckets[0].start, end))
    return drawn


def _mark_buckets(drawn: Series, unmeasured: list[tuple[datetime, str]]) -> None:
    """Marks each bucket with the statuses of the unmeasured points it holds."""
    marks: dict[str, set[int]] = {}
    for at, status in unmeasured:
        marks.setdefault(status, set()).add(bisect_right(drawn.times, at.timestamp()) - 1)
        drawn.mark_counts[status] = drawn.mark_counts.get(status, 0) + 1
    drawn.marks = {status: sorted(indices) for status, indices in marks.items()}
