"""Device types as stored: the declarations from the catalogue, synced into the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, or_
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base
from leitstand.tenancy.scope import ScopedModel, tenant_visible


class DeviceType(ScopedModel, Base):
    """A shipped type has no tenant and is visible to all; a tenant may add its own."""

    __tablename__ = "device_types"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    spec: Mapped[dict[str, Any]]

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return or_(cls.tenant_id.is_(None), tenant_visible(scope, cls.tenant_id))
