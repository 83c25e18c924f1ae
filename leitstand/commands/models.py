"""Commands to devices and their progress (the status machine: leitstand.commands.states)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy import column as sql_column
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.commands.states import FINAL_STATUSES, CommandStatus
from leitstand.db.base import Base, IdMixin, json_holds, utcnow
from leitstand.tenancy.scope import ScopedModel, device_visible

__all__ = ["FINAL_STATUSES", "Command", "CommandStatus"]


class Command(IdMixin, ScopedModel, Base):
    """One command. `public_id` names it on the wire; `idempotency_key` makes a retried
    request return the same command instead of sending it twice."""

    __tablename__ = "commands"
    __audited__ = True
    __table_args__ = (UniqueConstraint("device_id", "idempotency_key", name="uq_commands_idempotency"),
                      json_holds("parameters", "object"),
                      CheckConstraint(sql_column("status").in_([status.value for status in CommandStatus]),
                                      name="status_is_known"))

    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default=CommandStatus.requested, index=True)
    requested_by_user_id: Mapped[int | None] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    detail: Mapped[str] = mapped_column(String(300), default="")
    # The network's own id of the downlink that carries it (a ChirpStack queue item), which
    # the network's later reports name instead of ours.
    network_ref: Mapped[str | None] = mapped_column(String(64), index=True)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)
