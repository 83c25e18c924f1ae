"""Licenses: the right of one device to use the platform for a term.

Status is computed from the dates, never stored, so it cannot go stale:
active while today lies within [starts_on, ends_on], expired after ends_on,
unlicensed before starts_on or when a device has no license at all.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin, json_holds, utcnow
from leitstand.tenancy.scope import ScopedModel, device_visible
from typing import Any


class LicenseStatus(enum.StrEnum):
    active = "active"
    expired = "expired"
    unlicensed = "unlicensed"


def status_on(day: date, starts_on: date | None, ends_on: date | None) -> LicenseStatus:
    if starts_on is None or ends_on is None or day < starts_on:
        return LicenseStatus.unlicensed
    return LicenseStatus.active if day <= ends_on else LicenseStatus.expired


class License(IdMixin, CreatedAtMixin, ScopedModel, Base):
    __tablename__ = "licenses"
    __audited__ = True

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    term_months: Mapped[int] = mapped_column(Integer, default=12)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=True)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)

    def status(self, today: date | None = None) -> LicenseStatus:
        return status_on(today or utcnow().date(), self.starts_on, self.ends_on)


class LicenseChange(IdMixin, ScopedModel, Base):
    """One entry in a license's history: created, renewed, changed, cancelled."""

    __tablename__ = "license_changes"
    # before is JSON null for the "created" entry.
    __table_args__ = (json_holds("before", "object", "null"), json_holds("after", "object"))

    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any]]

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)
