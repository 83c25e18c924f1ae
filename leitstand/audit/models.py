"""The audit log: who did what, when, to which record, from where. Append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, IdMixin, json_holds, utcnow
from leitstand.tenancy.scope import ScopedModel, tenant_visible


class AuditEntry(IdMixin, ScopedModel, Base):
    __tablename__ = "audit_log"
    write_checked = False
    __table_args__ = (Index("ix_audit_log_tenant_at", "tenant_id", "at"), json_holds("changes", "object"))

    at: Mapped[datetime] = mapped_column(default=utcnow)
    # No foreign key: the log outlives what it describes.
    tenant_id: Mapped[int | None] = mapped_column(Integer)
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(60), index=True)
    outcome: Mapped[str] = mapped_column(String(20), default="success")
    target_type: Mapped[str] = mapped_column(String(60), default="")
    target_id: Mapped[str] = mapped_column(String(60), default="")
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_ip: Mapped[str] = mapped_column(String(64), default="")

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)
