"""Export jobs: an export of a tenant subtree requested through the API or the portal.

A job runs in a background thread of the API process (see jobs.py) and writes its zip to
data_dir/exports/. Its row tells how far it got: state queued → running → done | failed,
progress in percent, the row counts, and the finished file's size and SHA-256.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin, json_holds
from leitstand.tenancy.scope import ScopedModel, tenant_visible


class ExportState:
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class ExportJob(IdMixin, CreatedAtMixin, ScopedModel, Base):
    __tablename__ = "export_jobs"
    __table_args__ = (json_holds("counts", "object"),)

    # The exported tenant (the top of the subtree); the job is visible to whoever may export it.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(10), default=ExportState.queued)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    file_name: Mapped[str] = mapped_column(String(200), default="")
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)
