"""Telemetry routes: a device's series (raw or aggregated), its latest values, a site's
aggregates over all its devices, and exports as CSV or XLSX.

Times in requests need an offset (`2026-03-01T00:00:00+01:00` or `…Z`). Times in
responses carry the offset of the tenant's time zone, so day and month buckets read
as local midnights; a day across a DST change lasts 23 or 25 hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.ingest.message import ReadingStatus
from leitstand.permissions import Permission
from leitstand.sites.models import Site
from leitstand.telemetry import export, queries
from leitstand.telemetry.queries import Bucket, Interval, RawValue
from leitstand.telemetry.store import zone
from leitstand.tenancy.models import Tenant
from leitstand.web.crud import get_visible
from leitstand.web.deps import Access, requires
from leitstand.web.downloads import content_disposition
from leitstand.web.errors import Message, invalid_combination
from leitstand.web.types import Moment, ObjectId

router = APIRouter(tags=["telemetry"])
Reader = Annotated[Access, requires(Permission.device_read)]

DEFAULT_SPAN = timedelta(days=1)
# Sub-hour buckets are computed from raw points; beyond these ranges ask for hours or days.
SUB_HOUR_MAX_SPAN = {Interval.minutes_5: timedelta(days=31), Interval.minutes_15: timedelta(days=93)}
MAX_KEYS = 20


From = Annotated[Moment | None, Query(alias="from", description=(
    "Inclusive, ISO 8601 with offset, in the years 2000 to 2199; must lie before `to`. "
    "Default: `to` minus one day."))]
To = Annotated[Moment | None, Query(description="Exclusive, ISO 8601 with offset, in the years 2000 to 2199. Default: now.")]
KeyName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Keys = Annotated[list[KeyName] | None, Query(alias="key", max_length=MAX_KEYS, description="Telemetry key; repeat for several. Default: all.")]
SeriesLimit = Annotated[int, Query(ge=1, le=50_000, description="At most this many points or buckets in all.")]
SeriesInterval = Literal["raw", "5m", "15m", "hour", "day", "month", "auto"]
AggregateInterval = Literal["5m", "15m", "hour", "day", "month", "auto"]
INTERVAL_RULE = ("5m covers at most 31 days from `from` to `to`, 15m at most 93 days. auto picks by that span: "
                 "5m up to 2 days, 15m up to 10, hour up to 93, day up to 3 years, month beyond.")


# --- response models ----------------------------------------------------------------------


class TelemetryValue(BaseModel):
    key: str
    at: datetime = Field(description="When measured; for a value over an interval, the interval's start.")
    value: float | str | None = Field(description="Numbers (booleans as 0/1) or text.")
    status: ReadingStatus = Field(ReadingStatus.measured, description=(
        "measured, or as a batch source (meter data) delivered it: substitute (filled in for a missing value), "
        "provisional (may be corrected) or estimated."))
    interval_end: datetime | None = Field(None, description=(
        "The end (exclusive) of the interval the value covers, e.g. a quarter-hour energy value; "
        "null for a value at an instant."))


class TelemetryBucket(BaseModel):
    start: datetime = Field(description="Bucket start in the tenant's time zone.")
    count: int
    sum: float
    min: float
    max: float
    avg: float
    last: float
    last_at: datetime


class TelemetrySeries(BaseModel):
    device_id: int | None = Field(description="None for a series combined over several devices.")
    key: str
    points: list[TelemetryValue] | None = Field(None, description="Raw values (interval raw).")
    buckets: list[TelemetryBucket] | None = Field(None, description="Aggregates (any other interval).")


class TelemetryRange(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    start: datetime = Field(alias="from")
    to: datetime
    interval: str = Field(description="The interval used (`auto` resolved).")
    time_zone: str
    truncated: bool = Field(description="True if `limit` cut the result short.")


class DeviceTelemetry(TelemetryRange):
    device_id: int
    series: list[TelemetrySeries]


class SiteTelemetry(TelemetryRange):
    site_id: int
    device_ids: list[int]
    series: list[TelemetrySeries] = Field(description="One series per device and key.")
    total: list[TelemetrySeries] = Field(description="Per key, combined over all the site's devices.")


class LatestTelemetry(BaseModel):
    device_id: int
    time_zone: str
    values: list[TelemetryValue]


# --- helpers ------------------------------------------------------------------------------


def _time_zone(access: Access, tenant_id: int) -> str:
    """The zone of the owning tenant if the caller sees it, else the installation's default."""
    tenant = access.db.get(Tenant, tenant_id)
    name = tenant.time_zone if tenant is not None else access.settings.default_time_zone
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def _range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or clock.now()
    start = start or end - DEFAULT_SPAN
    if start >= end:
        raise invalid_combination("range_order", "`from` must lie before `to`.", "from", "to")
    return start, end


def _interval(requested: str, start: datetime, end: datetime) -> str:
    if requested == "raw":
        return "raw"
    interval = queries.resolve_interval(requested, start, end)
    longest = SUB_HOUR_MAX_SPAN.get(interval)
    if longest is not None and end - start > longest:
        raise invalid_combination(
            "range_length", Message("Interval %(interval)s covers at most %(days)s days; choose hour, day or month.",
                                    interval=interval.value, days=longest.days),
            "interval", "from", "to")
    return interval.value


def _point_out(point: RawValue, local: ZoneInfo) -> TelemetryValue:
    return TelemetryValue(key=point.key, at=point.at.astimezone(local), value=point.value, status=point.status,
                          interval_end=point.interval_end.astimezone(local) if point.interval_end else None)


def _bucket_out(bucket: Bucket, local: ZoneInfo) -> TelemetryBucket:
    return TelemetryBucket(start=bucket.start.astimezone(local), count=bucket.count, sum=bucket.sum, min=bucket.min,
                           max=bucket.max, avg=bucket.avg, last=bucket.last, last_at=bucket.last_at.astimezone(local))


def _raw_series(points: list[RawValue], time_zone: str) -> list[TelemetrySeries]:
    """Points ordered by device and key, grouped into one series each."""
    local = zone(time_zone)
    series: dict[tuple[int, str], list[TelemetryValue]] = {}
    for point in points:
        series.setdefault((point.device_id, point.key), []).append(_point_out(point, local))
    return [TelemetrySeries(device_id=device_id, key=key, points=values) for (device_id, key), values in series.items()]


def _bucket_series(buckets: list[Bucket], time_zone: str) -> list[TelemetrySeries]:
    local = zone(time_zone)
    series: dict[tuple[int | None, str], list[TelemetryBucket]] = {}
    for bucket in buckets:
        series.setdefault((bucket.device_id, bucket.key), []).append(_bucket_out(bucket, local))
    return [TelemetrySeries(device_id=device_id, key=key, buckets=values) for (device_id, key), values in series.items()]


# --- routes -------------------------------------------------------------------------------


@router.get("/devices/{device_id}/telemetry", response_model=DeviceTelemetry)
def device_telemetry(
    device_id: ObjectId,
    access: Reader,
    key: Keys = None,
    start: From = None,
    to: To = None,
    interval: Annotated[SeriesInterval, Query(description=f"raw points, or aggregates per bucket. {INTERVAL_RULE}")] = "raw",
    limit: SeriesLimit = 5000,
) -> DeviceTelemetry:
    """A device's values between `from` and `to`: raw points, or count/sum/min/max/avg/last per bucket.

    hour, day and month come from the rollups (day and month in the tenant's time zone); 5m
    and 15m are computed from raw points. A bucket is included whole if it overlaps the range.
    """
    device = get_visible(access.db, Device, device_id, "device")
    start, end = _range(start, to)
    resolved = _interval(interval, start, end)
    time_zone = _time_zone(access, device.tenant_id)
    if resolved == "raw":
        points = queries.raw_points(access.db, [device.id], key, start, end, limit=limit + 1)
        series = _raw_series(points[:limit], time_zone)
        truncated = len(points) > limit
    else:
        buckets = queries.aggregate(access.db, [device.id], key, start, end, resolved, time_zone)
        series = _bucket_series(buckets[:limit], time_zone)
        truncated = len(buckets) > limit
    local = zone(time_zone)
    return DeviceTelemetry(device_id=device.id, start=start.astimezone(local), to=end.astimezone(local),
                           interval=resolved, time_zone=time_zone, truncated=truncated, series=series)


@router.get("/devices/{device_id}/telemetry/latest", response_model=LatestTelemetry)
def device_latest(device_id: ObjectId, access: Reader, key: Keys = None) -> LatestTelemetry:
    """The newest stored value of each key (or of the keys asked for)."""
    device = get_visible(access.db, Device, device_id, "device")
    time_zone = _time_zone(access, device.tenant_id)
    local = zone(time_zone)
    values = queries.latest_values(access.db, [device.id], key)
    return LatestTelemetry(device_id=device.id, time_zone=time_zone, values=[_point_out(v, local) for v in values])


@router.get("/sites/{site_id}/telemetry", response_model=SiteTelemetry)
def site_telemetry(
    site_id: ObjectId,
    access: Reader,
    key: Keys = None,
    start: From = None,
    to: To = None,
    interval: Annotated[AggregateInterval, Query(description=INTERVAL_RULE)] = "auto",
    limit: SeriesLimit = 5000,
) -> SiteTelemetry:
    """Aggregates of the keys over every device at the site and below it (buildings, rooms):
    one series per device, and a total per key combined over all of them."""
    site = get_visible(access.db, Site, site_id, "site")
    start, end = _range(start, to)
    resolved = _interval(interval, start, end)
    time_zone = _time_zone(access, site.tenant_id)
    device_ids = queries.site_device_ids(access.db, site)
    buckets = queries.aggregate(access.db, device_ids, key, start, end, resolved, time_zone)
    total = queries.combine(buckets)
    truncated = len(buckets) > limit or len(total) > limit
    local = zone(time_zone)
    return SiteTelemetry(
        site_id=site.id, device_ids=device_ids, start=start.astimezone(local), to=end.astimezone(local),
        interval=resolved, time_zone=time_zone,
        truncated=truncated, series=_bucket_series(buckets[:limit], time_zone),
        total=_bucket_series(total[:limit], time_zone),
    )


@router.get(
    "/devices/{device_id}/telemetry/export",
    response_class=StreamingResponse,
    responses={200: {"description": "The series as a file.",
                     "content": {export.CSV_MEDIA_TYPE: {}, export.XLSX_MEDIA_TYPE: {}}}},
)
def export_device_telemetry(
    device_id: ObjectId,
    access: Reader,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
    key: Keys = None,
    start: From = None,
    to: To = None,
    interval: Annotated[SeriesInterval, Query(description=f"raw points, or aggregates per bucket. {INTERVAL_RULE}")] = "raw",
) -> StreamingResponse:
    """Raw points or aggregates as CSV (times with offset) or XLSX (local times plus offset), streamed."""
    device = get_visible(access.db, Device, device_id, "device")
    start, end = _range(start, to)
    resolved = _interval(interval, start, end)
    time_zone = _time_zone(access, device.tenant_id)
    rows, columns = _export_rows(access, device.id, key, start, end, resolved, time_zone)
    if format == "xlsx":
        body: Iterator[bytes] | Iterator[str] = export.xlsx_chunks(columns, rows)
        media_type = export.XLSX_MEDIA_TYPE
    else:
        body = export.csv_lines(columns, rows)
        media_type = export.CSV_MEDIA_TYPE
    name = f"telemetry-{device.name}-{device.serial_number}-{resolved}.{format}"
    return StreamingResponse(body, media_type=media_type, headers={"Content-Disposition": content_disposition(name)})


def _export_rows(
    access: Access, device_id: int, keys: list[str] | None, start: datetime, end: datetime, interval: str, time_zone: str,
) -> tuple[Iterator[export.Row], tuple[str, ...]]:
    def rows() -> Iterator[export.Row]:
        # Streaming outlives the request's session, so the export reads through its own, equally scoped.
        with access.scoped_for(Permission.device_read) as db:
            if interval == "raw":
                yield from export.raw_rows(queries.iter_raw_points(db, [device_id], keys, start, end), time_zone)
            else:
                yield from export.bucket_rows(queries.aggregate(db, [device_id], keys, start, end, interval, time_zone),
                                              time_zone)

    return rows(), (export.RAW_COLUMNS if interval == "raw" else export.BUCKET_COLUMNS)
