"""Time-series storage: a narrow table of points and a table of rollups.

`telemetry` holds one row per (device, key, timestamp), numeric or text. On
PostgreSQL it is partitioned by month (see the migration); the primary key makes a
point delivered twice a no-op. `telemetry_rollups` holds per hour, day and month
count, sum, min, max and the last value, so long ranges never scan raw rows. Day
and month buckets follow the tenant's time zone. `telemetry_rollup_queue` holds
points stored but not yet rolled up, when ingest defers its rollups (see
leitstand.telemetry.store).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base
from leitstand.ingest.message import ReadingStatus
from leitstand.tenancy.scope import ScopedModel, device_visible


def status_known() -> CheckConstraint:
    """The value statuses a point may hold (leitstand.ingest.message.ReadingStatus)."""
    return CheckConstraint("status IN (" + ", ".join(f"'{status}'" for status in ReadingStatus) + ")",
                           name="status_known")


# Points that are not plain measured values at an instant: few (batch sources), so a partial
# index finds them at once (the tenant export asks per series) and costs ingest nothing else.
MARKED = "status <> 'measured' OR interval_end IS NOT NULL"


def marked_points_index() -> Index:
    return Index("ix_telemetry_marked", "device_id", "key", sqlite_where=text(MARKED), postgresql_where=text(MARKED))


class TelemetryPoint(ScopedModel, Base):
    """One stored value. status: measured unless a batch source said otherwise (substitute,
    provisional, estimated); interval_end: set for a value over an interval (a quarter-hour
    energy value), whose start is `ts`. Rollups do not carry either."""

    __tablename__ = "telemetry"
    __table_args__ = (status_known(), marked_points_index())

    # No foreign key: a partitioned table of billions of rows should not be checked
    # row by row; deleting a device deletes its points in the telemetry service.
    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    num: Mapped[float | None] = mapped_column(Float)
    txt: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default=ReadingStatus.measured.value,
                                        server_default=ReadingStatus.measured.value)
    interval_end: Mapped[datetime | None]

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)


class TelemetryRollup(ScopedModel, Base):
    """Aggregates of a key's numeric values per bucket. period: hour, day or month."""

    __tablename__ = "telemetry_rollups"

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(5), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    sum: Mapped[float] = mapped_column(Float)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    last_value: Mapped[float] = mapped_column(Float)
    last_ts: Mapped[datetime]

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)


class TelemetryRollupQueue(ScopedModel, Base):
    """A numeric point stored in `telemetry` whose rollups are still to be done.

    Appended by deferred ingest, removed by the drain (leitstand.telemetry.store).
    The table has no primary key and no index: every index would be one more write
    per point, and the drain takes whatever rows there are by their physical
    address. The mapper's key only lets the ORM name rows; it is no constraint.
    zone: the tenant's time zone at ingest, which decides the day and month buckets.
    """

    __tablename__ = "telemetry_rollup_queue"

    device_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column()
    num: Mapped[float] = mapped_column(Float)
    zone: Mapped[str] = mapped_column(String(64))

    __mapper_args__ = {"primary_key": [device_id, key, ts]}

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)
