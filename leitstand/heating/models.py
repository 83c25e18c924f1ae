"""Tables of heating control: plans, their assignments, modes, and each thermostat's engine state.

No table holds a person (H18): plans attach only to thermostats, rooms, groups and buildings.
Terms are defined in the package docstring (leitstand/heating/__init__.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Float, ForeignKey, Integer, String, UniqueConstraint, or_
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin, json_holds
from leitstand.tenancy.scope import ScopedModel, device_visible, site_visible, tenant_visible


def _exactly_one(*columns: str) -> str:
    # CASE, not a sum of booleans: PostgreSQL does not add booleans.
    return " + ".join(f"CASE WHEN {name} IS NULL THEN 0 ELSE 1 END" for name in columns) + " = 1"


def _kept_at_visible(scope: Any, tenant_id: Any, site_id: Any = None, device_id: Any = None) -> Any:
    """Visible in the owner's tenant subtree, and also to whoever sees the site or device a row is
    kept at: an operator granted one building manages that building's plans."""
    reach = [tenant_visible(scope, tenant_id)]
    if site_id is not None:
        reach.append(site_id.is_not(None) & site_visible(scope, site_id))
    if device_id is not None:
        reach.append(device_id.is_not(None) & device_visible(scope, device_id))
    return or_(*reach)


class HeatingPlan(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A named day plan: 24 hourly targets (slot 0 = 00:00 local), its limits and overrule minutes."""

    __tablename__ = "heating_plans"
    __audited__ = True
    __table_args__ = (
        json_holds("targets", "array"),
        CheckConstraint("min_celsius <= max_celsius", name="limits_in_order"),
        CheckConstraint("overrule_minutes >= 0", name="overrule_not_negative"),
    )

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # The building the plan is kept at (its default plan, or one made there); None: the tenant's library.
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    targets: Mapped[list[float]] = mapped_column(JSON)
    min_celsius: Mapped[float] = mapped_column(Float)
    max_celsius: Mapped[float] = mapped_column(Float)
    overrule_minutes: Mapped[int] = mapped_column(Integer)
    # The plan a building got when heating first looked at it (H15); a building has at most one.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return _kept_at_visible(scope, cls.tenant_id, cls.site_id)


class HeatingAssignment(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A plan bound to one thermostat, room, group or building for a set of weekdays (0 = Monday).

    Exactly one of device_id, site_id (room or building) and group_id is set, as `level` says.
    """

    __tablename__ = "heating_assignments"
    __audited__ = True
    __table_args__ = (
        json_holds("weekdays", "array"),
        CheckConstraint(_exactly_one("device_id", "site_id", "group_id"), name="one_target"),
    )

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("heating_plans.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(20))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("site_groups.id", ondelete="CASCADE"), index=True)
    weekdays: Mapped[list[int]] = mapped_column(JSON)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return _kept_at_visible(scope, cls.tenant_id, cls.site_id, cls.device_id)


class HeatingMode(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """PLAN, MANUAL or FIX of one thermostat or one room, with the MANUAL/FIX temperature.

    No row means PLAN (the default mode, setting heating_default_mode, applies).
    """

    __tablename__ = "heating_modes"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(_exactly_one("device_id", "site_id"), name="one_target"),
        UniqueConstraint("device_id", name="uq_heating_modes_device"),
        UniqueConstraint("site_id", name="uq_heating_modes_site"),
    )

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(10))
    celsius: Mapped[float | None] = mapped_column(Float)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return _kept_at_visible(scope, cls.tenant_id, cls.site_id, cls.device_id)


class ThermostatHeatingState(IdMixin, ScopedModel, Base):
    """What the engine remembers of one thermostat: the last change made at the device (for
    overrule), the last target sent and when, the sends of the last 24 h (for the daily budget),
    a (re)join not yet answered, and the latest target held back by the budget."""

    __tablename__ = "heating_thermostat_states"
    __audited__ = True
    __table_args__ = (json_holds("sent_at", "array"),)

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    device_change_celsius: Mapped[float | None] = mapped_column(Float)
    device_change_at: Mapped[datetime | None]
    last_sent_celsius: Mapped[float | None] = mapped_column(Float)
    last_sent_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    # ISO instants (UTC) of the downlinks in the last 24 h, oldest first.
    sent_at: Mapped[list[str]] = mapped_column(JSON, default=list)
    rejoined_at: Mapped[datetime | None]
    deferred_celsius: Mapped[float | None] = mapped_column(Float)
    deferred_at: Mapped[datetime | None]

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)


__all__ = ["HeatingAssignment", "HeatingMode", "HeatingPlan", "ThermostatHeatingState"]
