"""What the sites pages and the dashboard read about sites and the health of their devices.

Terms used here:

- *Device health*: online (reported within its heartbeat), offline (missed it, or never
  spoke), and *problem* ("error reported"): it has an open alarm (active or acknowledged,
  not cleared). An error report that an alarm was raised for and then cleared is history,
  so every page gives a device the same verdict as its alarms.
- *Site health*, the worst of its devices: problem (red) over offline (amber) over
  ok (green); a site without devices is empty (grey).
- *Top sites*: the visible sites whose parent is not visible. For most users these are
  the sites (kind `site`); for someone granted a single building, that building.

Every query runs on a scoped session, so counts only ever include what the user may see.
Counts are aggregated in SQL per site; rolling sites up to their top site happens in
Python over (id, path) pairs, which stay small (sites, not devices).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from leitstand import formats
from leitstand.access.rules import path_within
from leitstand.alarms.models import UNKNOWN_CODE_KIND, Alarm, AlarmState
from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.devicetypes.models import DeviceType
from leitstand.devicetypes.spec import spec_for
from leitstand.permissions import Permission
from leitstand.portal.listing import Sort, Sortable
from leitstand.sites.locations import location_paths, postal_address
from leitstand.sites.models import Site, SiteGroup, SiteGroupMember, SiteKind
from leitstand.state.models import DeviceEvent, DeviceState
from leitstand.telemetry import queries as telemetry
from leitstand.tenancy.models import path_prefixes
from leitstand.web.crud import read_page
from leitstand.web.deps import Access
from leitstand.web.types import Page, PageRequest

PROBLEM_WINDOW = timedelta(hours=24)
# States and events as plain tables, for the aggregates: reached only through the devices they
# belong to (which carry the scope), they need no criteria of their own. Adding them per table
# would compute the set of visible devices once more for every table in the query.
device_states = DeviceState.__table__
device_events = DeviceEvent.__table__
alarms = Alarm.__table__
NOT_AN_ERROR_KINDS = ("offline", "maintenance_due", UNKNOWN_CODE_KIND)
PAGE_SIZE = 25
MAX_SITE_DEVICES = 500
KIND_ORDER = {SiteKind.site: 0, SiteKind.building: 1, SiteKind.area: 2, SiteKind.room: 3}


class Health(enum.StrEnum):
    ok = "ok"
    offline = "offline"
    problem = "problem"
    empty = "empty"


@dataclass
class StateCounts:
    """Devices by health. `offline` includes `never_seen`; `problem` overlaps the others."""

    total: int = 0
    online: int = 0
    never_seen: int = 0
    problem: int = 0

    @property
    def offline(self) -> int:
        return self.total - self.online

    @property
    def health(self) -> Health:
        if not self.total:
            return Health.empty
        if self.problem:
            return Health.problem
        return Health.offline if self.offline else Health.ok

    def add(self, other: StateCounts) -> None:
        self.total += other.total
        self.online += other.online
        self.never_seen += other.never_seen
        self.problem += other.problem


def session_for(access: Access, permission: Permission, stack: ExitStack) -> Session | None:
    """A session scoped for another permission than the page's (device counts on a sites
    page need what `device.read` reaches), closed with `stack`; None without that permission."""
    if permission == access.permission:
        return access.db
    if not access.has(permission):
        return None
    return stack.enter_context(closing(access.scoped_for(permission)))


def time_formatter(zone_name: str, language: str) -> Callable[[datetime | None], str]:
    """`when(at)` for templates: an instant as local date and time of `zone_name`, with the zone."""
    return lambda at: formats.format_moment(at, zone_name, language)


def problem_since() -> datetime:
    """The start of the window the dashboard counts error reports in."""
    return clock.now() - PROBLEM_WINDOW


def alarming_device_ids() -> Select[Any]:
    """Devices with an open alarm that is about an error at the device; use it only as
    `Device.id.in_(...)`, where the scoped devices restrict it. Offline has its own verdict and
    maintenance its own traffic light; a catalogue alarm is about a device type."""
    return select(alarms.c.device_id).where(alarms.c.state != AlarmState.cleared,
                                            alarms.c.kind.not_in(NOT_AN_ERROR_KINDS))


def _count_columns() -> tuple[Any, ...]:
    def flag(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return (
        func.count(Device.id),
        flag(device_states.c.online.is_(True)),
        flag(device_states.c.device_id.is_(None)),
        flag(Device.id.in_(alarming_device_ids())),
    )


def _active_devices(*columns: Any) -> Select[Any]:
    return (
        select(*columns)
        .select_from(Device)
        .outerjoin(device_states, device_states.c.device_id == Device.id)
        .where(Device.decommissioned_at.is_(None))
    )


def device_counts(db: Session) -> StateCounts:
    """All visible, not decommissioned devices by health: one aggregate query."""
    total, online, never_seen, problem = db.execute(_active_devices(*_count_columns())).one()
    return StateCounts(int(total), int(online), int(never_seen), int(problem))


def device_counts_by_site(db: Session, within: Site | None = None) -> dict[int, StateCounts]:
    """Visible devices by health per site they are placed at (not rolled up); only the
    sites at and below `within` if given."""
    statement = (
        _active_devices(Device.site_id, *_count_columns())
        .where(Device.site_id.is_not(None))
        .group_by(Device.site_id)
    )
    if within is not None:
        statement = statement.where(Device.site_id.in_(select(Site.id).where(path_within(Site.path, within.path))))
    return {site_id: StateCounts(int(t), int(o), int(n), int(p)) for site_id, t, o, n, p in db.execute(statement)}


# --- top sites and rolling up ---------------------------------------------------------------


def top_sites_statement() -> Select[Any]:
    """Visible sites whose parent is not visible (the parent subquery is scoped too)."""
    return select(Site).where(or_(Site.parent_id.is_(None), Site.parent_id.not_in(select(Site.id))))


def count_top_sites(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(top_sites_statement().subquery())) or 0)


def top_site_of(path: str, tops_by_path: dict[str, Any]) -> Any | None:
    for prefix in path_prefixes(path):
        if prefix in tops_by_path:
            return tops_by_path[prefix]
    return None


@dataclass
class SiteSummary:
    site: Site
    counts: StateCounts = field(default_factory=StateCounts)
    buildings: int = 0
    maintenance: str | None = None  # the worst maintenance traffic light below (green/yellow/red)

    @property
    def health(self) -> Health:
        return self.counts.health

    @property
    def address(self) -> str:
        return postal_address(self.site)


def summarise_top_sites(site_db: Session, device_db: Session | None, tops: Sequence[Site]) -> list[SiteSummary]:
    """Each top site with the devices at it and below, by health, and its building count."""
    summaries = {site.path: SiteSummary(site) for site in tops}
    if not summaries:
        return []
    site_paths: dict[int, str] = {}
    for site_id, path, kind in site_db.execute(select(Site.id, Site.path, Site.kind)):
        site_paths[site_id] = path
        summary = top_site_of(path, summaries)
        if summary is not None and kind == SiteKind.building:
            summary.buildings += 1
    if device_db is not None:
        for site_id, counts in device_counts_by_site(device_db).items():
            path = site_paths.get(site_id)
            summary = top_site_of(path, summaries) if path else None
            if summary is not None:
                summary.counts.add(counts)
        from leitstand.maintenance.traffic_light import light_by_site, roll_up

        for path, light in roll_up(site_paths, light_by_site(device_db), summaries).items():
            summaries[path].maintenance = light.name
    return [summaries[site.path] for site in tops]


# --- the list and the map -------------------------------------------------------------------


@dataclass(frozen=True)
class SiteFilter:
    text: str = ""
    health: Health | None = None
    group_id: int | None = None


# The address as the list writes it: street, then postal code and town.
_ADDRESS = func.lower(func.coalesce(Site.street, "") + " " + func.coalesce(Site.postal_code, "") + " "
                      + func.coalesce(Site.city, ""))
SITE_SORT = Sortable({"name": func.lower(Site.name), "address": _ADDRESS}, default="name", tiebreak=Site.id)


def top_sites_query(site_db: Session, device_db: Session | None, chosen: SiteFilter,
                    sort: Sort | None = None) -> Select[Any]:
    """Top sites matching the search text (name, street, postal code, city), the site group (a
    site is in a group when one of its rooms or areas is) and the health, in the chosen order:
    for the list to read a page of (`top_sites_page`) or all of them (`filtered_top_sites`)."""
    statement = (sort or SITE_SORT.default_sort()).apply(top_sites_statement())
    if chosen.text:
        needle = chosen.text.strip()
        statement = statement.where(or_(
            Site.name.icontains(needle, autoescape=True), Site.street.icontains(needle, autoescape=True),
            Site.city.icontains(needle, autoescape=True), Site.postal_code.icontains(needle, autoescape=True),
        ))
    if chosen.group_id is not None:
        member_paths = site_db.scalars(
            select(Site.path).join(SiteGroupMember, SiteGroupMember.site_id == Site.id)
            .where(SiteGroupMember.group_id == chosen.group_id)
        ).all()
        # A site holds a member when its path is one of the member's prefixes (or the member's own).
        statement = statement.where(Site.path.in_({prefix for path in member_paths for prefix in path_prefixes(path)}))
    if chosen.health is not None:
        statement = statement.where(Site.id.in_(_top_sites_of_health(site_db, device_db, statement, chosen.health)))
    return statement


def _top_sites_of_health(site_db: Session, device_db: Session | None, statement: Select[Any],
                         health: Health) -> list[int]:
    """The ids of the statement's sites whose devices, rolled up, have `health`. The roll-up runs
    over (id, path) pairs, as `summarise_top_sites` does; no site is loaded for it."""
    tops = {path: site_id for site_id, path in site_db.execute(statement.with_only_columns(Site.id, Site.path))}
    counts = {path: StateCounts() for path in tops}
    if device_db is not None and counts:
        site_paths = {site_id: path for site_id, path in site_db.execute(select(Site.id, Site.path))}
        for site_id, site_counts in device_counts_by_site(device_db).items():
            path = site_paths.get(site_id)
            top_counts = top_site_of(path, counts) if path else None
            if top_counts is not None:
                top_counts.add(site_counts)
    return [tops[path] for path, top_counts in counts.items() if top_counts.health == health]


def top_sites_page(site_db: Session, device_db: Session | None, chosen: SiteFilter, paging: PageRequest,
                   sort: Sort | None = None) -> Page[SiteSummary]:
    """One page of the list: its sites read with LIMIT in their order, summarised, and how many match."""
    found = read_page(site_db, top_sites_query(site_db, device_db, chosen, sort), paging)
    return Page(items=summarise_top_sites(site_db, device_db, found.items), total=found.total,
                limit=found.limit, offset=found.offset)


def filtered_top_sites(site_db: Session, device_db: Session | None, chosen: SiteFilter,
                       sort: Sort | None = None) -> list[SiteSummary]:
    """Every top site the filter selects, summarised, in the chosen order: the map and the export."""
    tops = list(site_db.scalars(top_sites_query(site_db, device_db, chosen, sort)))
    return summarise_top_sites(site_db, device_db, tops)


def site_groups(db: Session) -> list[SiteGroup]:
    return list(db.scalars(select(SiteGroup).order_by(SiteGroup.name)))


def map_markers(summaries: Iterable[SiteSummary]) -> list[dict[str, Any]]:
    """The map's markers: top sites with coordinates only."""
    return [
        {
            "id": summary.site.id, "name": summary.site.name, "address": summary.address,
            "lat": summary.site.latitude, "lon": summary.site.longitude, "health": summary.health.value,
            "devices": summary.counts.total, "online": summary.counts.online, "problem": summary.counts.problem,
            "maintenance": summary.maintenance,
            "url": f"/sites/{summary.site.id}",
        }
        for summary in summaries
        if summary.site.latitude is not None and summary.site.longitude is not None
    ]


# --- one site -------------------------------------------------------------------------------


def ancestors(db: Session, site: Site) -> list[Site]:
    """The visible sites above `site`, outermost first (the breadcrumb)."""
    above = [prefix for prefix in path_prefixes(site.path) if prefix != site.path]
    if not above:
        return []
    return sorted(db.scalars(select(Site).where(Site.path.in_(above))), key=lambda found: len(found.path))


@dataclass
class SiteNode:
    site: Site
    children: list[SiteNode] = field(default_factory=list)
    counts: StateCounts = field(default_factory=StateCounts)


def subtree(db: Session, site: Site) -> list[Site]:
    """`site` and everything visible below it, parents before children."""
    return list(db.scalars(select(Site).where(path_within(Site.path, site.path)).order_by(Site.path)))


def child_tree(sites: Sequence[Site], root: Site, counts_by_site: dict[int, StateCounts]) -> list[SiteNode]:
    """The children of `root` as a tree (buildings, then areas and rooms), each node with
    the device counts of its own subtree."""
    nodes = {site.id: SiteNode(site) for site in sites}
    for site in sites:
        if site.id != root.id and site.parent_id in nodes:
            nodes[site.parent_id].children.append(nodes[site.id])
    for site in sorted(sites, key=lambda s: len(s.path), reverse=True):  # leaves first
        node = nodes[site.id]
        node.counts.add(counts_by_site.get(site.id, StateCounts()))
        if site.id != root.id and site.parent_id in nodes:
            nodes[site.parent_id].counts.add(node.counts)
    for node in nodes.values():
        node.children.sort(key=lambda child: (KIND_ORDER.get(SiteKind(child.site.kind), 9), child.site.name))
    return nodes[root.id].children if root.id in nodes else []


@dataclass(frozen=True)
class SiteDevice:
    device: Device
    state: DeviceState | None
    place: str  # the full path of the site the device is placed at
    problem: bool

    @property
    def online(self) -> bool:
        return bool(self.state and self.state.online)


def devices_below(db: Session, site: Site, limit: int = MAX_SITE_DEVICES) -> tuple[list[SiteDevice], int]:
    """Devices at the site and below (problems first, then offline, then by name), and how many there are."""
    below = select(Site.id).where(path_within(Site.path, site.path))
    problem = Device.id.in_(alarming_device_ids())
    statement = (
        select(Device, DeviceState, Site.name, problem)
        .join(Site, Site.id == Device.site_id)
        .outerjoin(DeviceState, DeviceState.device_id == Device.id)
        .where(Device.site_id.in_(below), Device.decommissioned_at.is_(None))
    )
    total = int(db.scalar(select(func.count()).select_from(statement.subquery())) or 0)
    ordered = statement.order_by(
        case((problem, 0), (DeviceState.online.is_(True), 2), else_=1), Device.name, Device.id
    ).limit(limit)
    found = db.execute(ordered).all()
    places = location_paths(db, {device.site_id for device, *_ in found})
    rows = [SiteDevice(device, state, places.get(device.site_id, name), bool(flag)) for device, state, name, flag in found]
    return rows, total


def type_names(db: Session, keys: Iterable[str], language: str) -> dict[str, str]:
    names = {}
    for device_type in db.scalars(select(DeviceType).where(DeviceType.key.in_(sorted(set(keys))))):
        label = spec_for(device_type.key, db).name
        names[device_type.key] = (label.de if language == "de" else label.en) or device_type.name
    return names


def counts_by_type(db: Session, site: Site) -> list[tuple[str, int]]:
    below = select(Site.id).where(path_within(Site.path, site.path))
    statement = (
        select(Device.type_key, func.count(Device.id))
        .where(Device.site_id.in_(below), Device.decommissioned_at.is_(None))
        .group_by(Device.type_key)
        .order_by(func.count(Device.id).desc(), Device.type_key)
    )
    return [(key, int(count)) for key, count in db.execute(statement)]


@dataclass(frozen=True)
class RoomClimate:
    """Room temperature at a site from its thermostats."""

    thermostats: int
    reporting: int  # thermostats with a current temperature
    current_avg: float | None  # mean of the latest values
    day_avg: float | None  # over the last 24 hours, from the hourly rollups
    day_min: float | None
    day_max: float | None


TEMPERATURE_KEY = "temperature"


def room_climate(db: Session, devices: Sequence[SiteDevice], time_zone: str) -> RoomClimate | None:
    thermostats = [row for row in devices if row.device.type_key == "thermostat"]
    if not thermostats:
        return None
    latest = [
        value for row in thermostats
        if row.state and isinstance(value := (row.state.latest or {}).get(TEMPERATURE_KEY, {}).get("value"), int | float)
    ]
    now = clock.now()
    buckets = telemetry.combine(telemetry.aggregate(
        db, [row.device.id for row in thermostats], [TEMPERATURE_KEY], now - timedelta(hours=24), now, "hour", time_zone))
    count = sum(bucket.count for bucket in buckets)
    return RoomClimate(
        thermostats=len(thermostats), reporting=len(latest),
        current_avg=sum(latest) / len(latest) if latest else None,
        day_avg=sum(bucket.sum for bucket in buckets) / count if count else None,
        day_min=min((bucket.min for bucket in buckets), default=None),
        day_max=max((bucket.max for bucket in buckets), default=None),
    )
