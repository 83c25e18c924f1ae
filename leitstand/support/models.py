"""Support tickets with their SLA history and comments, and support-access release codes.

A *ticket* is a problem a customer reports to the provider's support desk, in
one of three classes (see `sla.TicketClass`). It is *handed over* to one support
desk (`TicketDesk`): the partner above the ticket's tenant, or the platform. A desk is
the staff of one tenant, the partner's or the root tenant's. Its *events* are its history; the
SLA-relevant ones (opened, paused, resumed, responded) drive the SLA clock, which
is recomputed from them and stored on the ticket only so lists can filter by it.

A *release code* (Freigabecode) is how a customer admin lets platform support
read their tenant or one device for a limited time.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, and_, column, false, or_, select, table, true
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.access.rules import path_within
from leitstand.db.base import Base, CreatedAtMixin, IdMixin, json_holds, utcnow
from leitstand.tenancy.scope import AccessScope, ScopedModel, site_visible, tenant_visible


class TicketStatus(enum.StrEnum):
    open = "open"
    waiting_for_customer = "waiting_for_customer"  # the SLA clock pauses
    answered = "answered"  # support has responded; the customer may follow up
    resolved = "resolved"
    closed = "closed"


# Tickets in these states are finished: the scheduler no longer watches their clocks.
FINISHED = frozenset({TicketStatus.resolved, TicketStatus.closed})


class TicketDesk(enum.StrEnum):
    """The support desk a ticket is handed over to (seed 000: "Ticketübergabe an ELKA oder Partner")."""

    partner = "partner"  # the partner above the ticket's tenant: its installer or reseller
    platform = "platform"  # the platform operator's support, on the root tenant


class Ticket(IdMixin, CreatedAtMixin, ScopedModel, Base):
    __tablename__ = "tickets"
    __audited__ = True

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    # The desk the ticket is handed over to. A kind, not a tenant id: the partner is the one above the
    # ticket's tenant, so the ticket follows its tenant (and a data export carries it as it is).
    desk: Mapped[str] = mapped_column(String(20), default="partner", server_default="partner")
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
        return _ticket_visible(scope, cls.tenant_id, cls.site_id, cls.device_id, cls.desk)


class TicketEvent(IdMixin, ScopedModel, Base):
    """One step of a ticket's history. `kind` is an `sla.SlaEvent` value or a plain record
    (status, assigned, sla_warning, sla_breached)."""

    __tablename__ = "ticket_events"
    __table_args__ = (json_holds("details", "object"),)

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
_tickets = table("tickets", column("id"), column("tenant_id"), column("site_id"), column("device_id"), column("desk"))
_tenants = table("tenants", column("id"), column("path"))


# Where in the tenant tree each desk sits: the platform is the root tenant, a partner one level below it.
DESK_DEPTH = {TicketDesk.platform: 1, TicketDesk.partner: 2}


def desk_path(tenant_path: str, desk: TicketDesk) -> str | None:
    """The path of the tenant whose staff form `desk` for a ticket of the tenant at `tenant_path`;
    None for the partner's desk of the root or a partner itself (nobody above them but the platform)."""
    segments = tenant_path.strip("/").split("/")
    depth = DESK_DEPTH[desk]
    if desk is TicketDesk.partner and len(segments) <= depth:
        return None
    return "/" + "/".join(segments[:depth]) + "/"


def desk_staffed_at(path: str) -> TicketDesk | None:
    """The desk a tenant's staff form, if any: the root tenant's is the platform's, a partner's its own."""
    depth = path.count("/") - 1
    return next((desk for desk, desk_depth in DESK_DEPTH.items() if desk_depth == depth), None)


def _handed_to_desks(scope: AccessScope, tenant_id: Any, desk: Any) -> Any:
    conditions = []
    for path in sorted(scope.desk_paths):
        staffed = desk_staffed_at(path)
        if staffed is TicketDesk.platform:
            conditions.append(desk == staffed.value)
        elif staffed is TicketDesk.partner:  # the partner's desk: tickets of the tenants below it
            below = select(_tenants.c.id).where(path_within(_tenants.c.path, path), _tenants.c.path != path)
            conditions.append(and_(desk == staffed.value, tenant_id.in_(below)))
    return or_(*conditions) if conditions else false()


def _ticket_visible(scope: AccessScope, tenant_id: Any, site_id: Any, device_id: Any, desk: Any) -> Any:
    # By tenant, or by a grant on the referenced site or device (a site technician sees their site's
    # tickets). Not by device sharing: an end customer must not read the owner's tickets. And by desk:
    # a support desk sees what is handed over to it; platform support reaches no tenant otherwise.
    if scope.unrestricted:
        return true()
    return or_(
        tenant_visible(scope, tenant_id),
        site_visible(scope, site_id) if scope.site_paths else false(),
        device_id.in_(sorted(scope.device_ids)) if scope.device_ids else false(),
        _handed_to_desks(scope, tenant_id, desk),
    )


def _through_ticket(scope: AccessScope, ticket_id: Any) -> Any:
    # Events and comments follow their ticket.
    if scope.unrestricted:
        return true()
    visible = select(_tickets.c.id).where(
        _ticket_visible(scope, _tickets.c.tenant_id, _tickets.c.site_id, _tickets.c.device_id, _tickets.c.desk))
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
