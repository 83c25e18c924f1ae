"""Tables of maintenance: plans per device, the inspection book and its attachments.

Terms:
- *Maintenance plan*: a recurring duty on one device, either by *interval* (every N months
  from the last inspection, or from commissioning) or by *counter* (every N units of a
  counter the device reports, e.g. 100 000 barrier cycles). Its *lead time* (days, or
  counter units) says how early it turns yellow.
- *Inspection entry*: one record in a device's inspection book (Prüfbuch): who checked
  what and when, the checklist results, findings and the signature name. An entry may
  *complete* plans, which moves their next due date or counter reading on.

A plan keeps its next due point (`due_on`, `warn_on`, `due_count`, `warn_count`) stored, so
the traffic light of thousands of devices is one SQL aggregate (see traffic_light.py).
"""

from __future__ import annotations

import enum
from datetime import date
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin, json_holds
from leitstand.tenancy.scope import ScopedModel, device_visible


class PlanKind(enum.StrEnum):
    interval = "interval"
    counter = "counter"


class CheckResult(enum.StrEnum):
    ok = "ok"
    not_ok = "not_ok"
    not_applicable = "na"


class MaintenancePlan(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A recurring maintenance duty of one device (see the module docstring)."""

    __tablename__ = "maintenance_plans"
    __audited__ = True
    __table_args__ = (Index("ix_maintenance_plans_device_active", "device_id", "active"), json_holds("checklist", "array"))

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    # The device's owner when written: whose records these are for the audit log and exports.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    # interval plans
    interval_months: Mapped[int | None] = mapped_column(Integer)
    lead_days: Mapped[int] = mapped_column(Integer, default=0)
    # counter plans: the telemetry key of the device type's counter and the step
    counter_key: Mapped[str | None] = mapped_column(String(64))
    counter_every: Mapped[int | None] = mapped_column(BigInteger)
    lead_count: Mapped[int] = mapped_column(BigInteger, default=0)
    checklist: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The defaults entry a plan came from (e.g. "barrier:annual"), so defaults are applied once.
    default_key: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where the current period started: the last completion, or commissioning / plan creation.
    last_done_on: Mapped[date | None] = mapped_column(Date)
    baseline_count: Mapped[float | None] = mapped_column(Float)
    # The next due point, recomputed on every change (service.reschedule).
    due_on: Mapped[date | None] = mapped_column(Date)
    warn_on: Mapped[date | None] = mapped_column(Date)
    due_count: Mapped[float | None] = mapped_column(Float)
    warn_count: Mapped[float | None] = mapped_column(Float)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)


class InspectionEntry(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """One entry of a device's inspection book.

    checklist: [{"item": text, "result": "ok"|"not_ok"|"na", "note": text}].
    completed_plan_ids: the plans this inspection fulfilled (their due points moved on).
    """

    __tablename__ = "inspection_entries"
    __audited__ = True
    __table_args__ = (Index("ix_inspection_entries_device_performed", "device_id", "performed_on"),
                      json_holds("checklist", "array"), json_holds("completed_plan_ids", "array"))

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    # The device's owner when written: whose records these are for the audit log and exports.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    performed_on: Mapped[date] = mapped_column(Date)
    technician_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    technician_name: Mapped[str] = mapped_column(String(200))
    checklist: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    findings: Mapped[str] = mapped_column(Text, default="")
    signature_name: Mapped[str] = mapped_column(String(200), default="")
    next_due_on: Mapped[date | None] = mapped_column(Date)
    counter_reading: Mapped[float | None] = mapped_column(Float)
    completed_plan_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)


class InspectionAttachment(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A file attached to an inspection entry (a PDF report or a photo).

    The file lives under data_dir/attachments/<tenant>/<uuid>; the row holds what it is
    and its SHA-256, so a download can be checked against what was uploaded.
    """

    __tablename__ = "inspection_attachments"
    __audited__ = True

    entry_id: Mapped[int] = mapped_column(ForeignKey("inspection_entries.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    # The device's owner when written: whose records these are for the audit log and exports.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)


__all__ = ["CheckResult", "InspectionAttachment", "InspectionEntry", "MaintenancePlan", "PlanKind"]
