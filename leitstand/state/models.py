"""Live state of devices: last seen, online or not, latest values, and the events that changed it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, IdMixin, json_holds
from leitstand.tenancy.scope import ScopedModel, device_visible


class DeviceState(ScopedModel, Base):
    """One row per device that has ever spoken.

    online: whether the device reported within its expected heartbeat (the device type's
    interval; 24 hours, the license heartbeat, for a device without an active license).
    latest: the newest value per telemetry key, {"key": {"at": iso, "value": v}}.
    """

    __tablename__ = "device_states"
    __table_args__ = (json_holds("attributes", "object"), json_holds("latest", "object"))

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    last_seen_at: Mapped[datetime | None]
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    online_changed_at: Mapped[datetime | None]
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    latest: Mapped[dict[str, Any]] = mapped_column(default=dict)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)


class DeviceEvent(IdMixin, ScopedModel, Base):
    """Something that happened at a device: an error code, a state change, going offline.

    unknown_code: the device reported a code its type's catalogue does not list (newer
    firmware, say). The event is kept as sent, with no severity; the code is counted per
    type in `devicetypes.models.UnknownEventCode`.
    """

    __tablename__ = "device_events"
    __table_args__ = (
        # A message delivered twice (MQTT QoS 1) must not record its event twice.
        UniqueConstraint("device_id", "at", "kind", "code", name="uq_device_events_once"),
        Index("ix_device_events_device_at", "device_id", "at"),
        json_holds("data", "object"),
    )

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(64), default="")
    severity: Mapped[str] = mapped_column(String(10), default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    unknown_code: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)


class IngestRejection(ScopedModel, Base):
    """How many messages of a device were refused, per reason, and the last one's details."""

    __tablename__ = "ingest_rejections"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime | None]
    last_detail: Mapped[str] = mapped_column(String(300), default="")

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)
