"""Device types as stored: the declarations from the catalogue, synced into the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, or_
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, json_holds
from leitstand.tenancy.scope import ScopedModel, tenant_visible


class DeviceType(ScopedModel, Base):
    """A shipped type has no tenant and is visible to all; a tenant may add its own."""

    __tablename__ = "device_types"
    __table_args__ = (json_holds("spec", "object"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    spec: Mapped[dict[str, Any]]

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return or_(cls.tenant_id.is_(None), tenant_visible(scope, cls.tenant_id))


class UnknownEventCode(ScopedModel, Base):
    """An event code that devices of a type send and the type's catalogue does not list.

    Such events are stored all the same (newer firmware sends new codes); this counts them
    per type and code, so whoever keeps the catalogue sees what to add: `tenant_id` is
    that keeper, the root tenant (the platform) for a shipped type, else the type's own
    tenant. Only the keeper's scope sees the row: it counts the devices of every tenant.
    """

    __tablename__ = "unknown_event_codes"

    type_key: Mapped[str] = mapped_column(ForeignKey("device_types.key", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)  # messages that carried the code
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    first_device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)
