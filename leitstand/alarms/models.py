"""Tables of the alarms domain.

An *alarm rule* says when a device is in trouble (a condition) and how bad that is (a
severity). Rules ship with each device type (`defaults/<type>.toml`, not stored here);
an `AlarmRule` row is a tenant's own rule, or its override of a default with the same key.

An *alarm* is one episode of trouble at one device: raised when a condition starts,
updated (occurrences, last seen) while it repeats, cleared when it ends. At most one
alarm per device and key is open (not cleared) at a time.

A *catalogue alarm* (kind `unknown_code`) is about a device type rather than a device:
its catalogue lacks a code that devices send. It belongs to the tenant that keeps the
catalogue (the root tenant for a shipped type) and only that tenant's scope sees it,
although it names the device that sent the code first.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, and_, or_
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin, json_holds, utcnow
from leitstand.tenancy.scope import ScopedModel, device_visible, tenant_visible


class AlarmState(enum.StrEnum):
    active = "active"  # raised, nobody has taken it on yet
    acknowledged = "acknowledged"  # someone has taken it on; the condition may still hold
    cleared = "cleared"  # over: the condition ended, or a person closed it


class ClearedHow(enum.StrEnum):
    auto = "auto"  # the condition ended by itself
    manual = "manual"  # a person cleared it


# The kind of catalogue alarms (see the module docstring).
UNKNOWN_CODE_KIND = "unknown_code"


class TargetKind(enum.StrEnum):
    device_type = "device_type"  # every device of a type in the tenant's subtree
    site = "site"  # every device at a site and everything below it
    device = "device"  # one device


class AlarmRule(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A tenant's alarm rule. `key` names it; a default rule of the device type with the
    same key is replaced (or, with `enabled` off, switched off) for the devices it targets.

    condition: {"kind": "threshold" | "offline" | ..., ...}, validated by
    `leitstand.alarms.rules.Condition`. severity: None means "from the error catalogue"
    (error_code rules only).
    """

    __tablename__ = "alarm_rules"
    __table_args__ = (json_holds("condition", "object"),)
    __audited__ = True

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    severity: Mapped[str | None] = mapped_column(String(10))
    type_key: Mapped[str] = mapped_column(ForeignKey("device_types.key"), index=True)
    target_kind: Mapped[str] = mapped_column(String(20))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    condition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)


class Alarm(IdMixin, ScopedModel, Base):
    """One episode of trouble at a device.

    key: what dedupes it, e.g. "barrier.errors:E01" (rule key, plus the error code for
    error-code rules); rule_key: the rule that raised it. open_key equals key while the
    alarm is open and is NULL once cleared, so a unique index allows one open alarm per
    device and key on both backends (NULLs never collide).
    steps: troubleshooting steps {"en": [...], "de": [...]} from the device type's catalogue.
    """

    __tablename__ = "alarms"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("device_id", "open_key", name="uq_alarms_one_open_per_key"),
        Index("ix_alarms_tenant_state", "tenant_id", "state"),
        Index("ix_alarms_device_raised", "device_id", "raised_at"),
        json_holds("details", "object"),
        json_holds("steps", "object"),
    )

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    key: Mapped[str] = mapped_column(String(130))
    open_key: Mapped[str | None] = mapped_column(String(130))
    rule_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(64), default="")
    severity: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    title_de: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    steps: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), default=AlarmState.active)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    cleared_at: Mapped[datetime | None]
    cleared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    cleared_how: Mapped[str | None] = mapped_column(String(10))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    @property
    def is_open(self) -> bool:
        return self.state != AlarmState.cleared

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        # A catalogue alarm counts every tenant's devices: only the catalogue's keeper sees it.
        return or_(and_(cls.kind != UNKNOWN_CODE_KIND, device_visible(scope, cls.device_id)),
                   and_(cls.kind == UNKNOWN_CODE_KIND, tenant_visible(scope, cls.tenant_id)))


class AlarmComment(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A note on an alarm. Carries the alarm's device so it is scoped like the alarm."""

    __tablename__ = "alarm_comments"
    __audited__ = True

    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)


class AlarmRuleState(ScopedModel, Base):
    """Where the evaluation of one rule at one device stands, between messages.

    pending_since: when the condition started to hold, for rules that need it to hold a
    while (a threshold with a duration); None while it does not hold. raised: whether the
    rule's alarm is up, so hysteresis knows which side of the band it is on.
    """

    __tablename__ = "alarm_rule_states"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    rule_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    pending_since: Mapped[datetime | None]
    raised: Mapped[bool] = mapped_column(Boolean, default=False)
    last_value: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)
