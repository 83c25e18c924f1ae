"""Support tickets with their SLA history and comments, and support-access release codes.

A *ticket* is a problem a customer reports to the provider's support desk, in
one of three classes (see `sla.TicketClass`). Its *events* are its history; the
SLA-relevant ones (opened, paused, resumed, responded) drive the SLA clock, which
is recomputed from them and stored on the ticket only so lists can filter by it.

A *release code* (Freigabecode) is how a customer admin lets platform support
read their tenant or one device for a limited time.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, column, false, or_, select, table, true
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin, utcnow
from leitstand.tenancy.scope import AccessScope, ScopedModel, site_visible, tenant_visible


class TicketStatus(enum.StrEnum):
    open = "open"
    waiting_for_customer = "waiting_for_customer"  # the SLA clock pauses
    answered = "answered"  # support has responded; the customer may follow up
    resolved = "resolved"
    closed = "closed"


# Tickets in these states are finished: the scheduler no longer watches their clocks.
FINISHED = frozenset({TicketStatus.resolved, TicketStatus.closed})


class Ticket(IdMixin, CreatedAtMixin, ScopedModel, Base):
    __tablename__ = "tickets"
    __audited__ = True

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    ticket_class: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(30), default=TicketStatus.open, index=True)
    # The tenant's SLA policy when the ticket was opened: the promise made then holds.
    sla_policy: Mapped[str] = mapped_column(String(64))
    # The clock as last computed (on every change and by the scheduler); NULL when the class has no target.
    sla_state: Mapped[str | None] = mapped_column(String(20), index=True)
    sla_due_at: Mapped[datetime | None]
    sla_warning: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_warned_at: Mapped[datetime | None]  # the warning mail went out (once)
    sla_breached_at: Mapped[datetime | None]  # the breach was marked (once)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return _ticket_visible(scope, cls.tenant_id, cls.site_id, cls.device_id)


class TicketEvent(IdMixin, ScopedModel, Base):
    """One step of a ticket's history. `kind` is an `sla.SlaEvent` value or a plain record
    (status, assigned, sla_warning, sla_breached)."""

    __tablename__ = "ticket_events"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return _through_ticket(scope, cls.ticket_id)


class TicketComment(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A comment on a ticket. Internal comments are for the support side only."""

    __tablename__ = "ticket_comments"
    __audited__ = True

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return _through_ticket(scope, cls.ticket_id)


# A Core stand-in, like those in tenancy.scope: criteria on it never recurse into the ORM loader criteria.
_tickets = table("tickets", column("id"), column("tenant_id"), column("site_id"), column("device_id"))


def _ticket_visible(scope: AccessScope, tenant_id: Any, site_id: Any, device_id: Any) -> Any:
    # By tenant, or by a grant on the referenced site or device (a site technician sees their site's
    # tickets). Not by device sharing: an end customer must not read the owner's tickets.
    if scope.unrestricted:
        return true()
    return or_(
        tenant_visible(scope, tenant_id),
        site_visible(scope, site_id) if scope.site_paths else false(),
        device_id.in_(sorted(scope.device_ids)) if scope.device_ids else false(),
    )


def _through_ticket(scope: AccessScope, ticket_id: Any) -> Any:
    if scope.unrestricted:
        return true()
    visible = select(_tickets.c.id).where(
        _ticket_visible(scope, _tickets.c.tenant_id, _tickets.c.site_id, _tickets.c.device_id))
    return ticket_id.in_(visible)


class SupportAccessCode(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A release code: a customer admin lets platform support read their tenant (or one device) for 48 hours.

    The code itself is shown once; only its SHA-256 hash is stored. The first platform
    support user who redeems it holds the access until it expires or is revoked.
    """

    __tablename__ = "support_access_codes"
    __audited__ = True
    __audit_secret__ = frozenset({"code_hash"})

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(String(200), default="")
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(8))  # the code's last characters, to tell codes apart
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    redeemed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    redeemed_at: Mapped[datetime | None]

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)
