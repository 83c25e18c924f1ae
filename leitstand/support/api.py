"""Support routes: tickets with SLA clocks, and release codes for time-limited support access."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.accounts.models import User
from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.permissions import Permission
from leitstand.sites.models import Site
from leitstand.support import tickets as service
from leitstand.support.access import (code_digest, code_state, holds_platform_support, holds_support_access, is_active,
                                      issue_code, views_of)
from leitstand.support.models import SupportAccessCode, Ticket, TicketComment, TicketDesk, TicketStatus
from leitstand.support.schemas import (
    CommentCreate,
    CommentPublic,
    EventPublic,
    RedeemRequest,
    SlaClockPublic,
    SupportAccessCreate,
    SupportAccessPublic,
    SupportAccessWithCode,
    SupportViewPublic,
    TicketCreate,
    TicketDetail,
    TicketPublic,
    TicketUpdate,
)
from leitstand.support.sla import ClockState, SlaClock, TicketClass
from leitstand.tenancy.models import Tenant, TenantKind
from leitstand.tenancy.scope import system_session
from leitstand.web.crud import contains, get_visible, read_page
from leitstand.web.deps import Access, requires
from leitstand.web.errors import conflict, forbidden, invalid, not_found
from leitstand.web.types import FilterId, Limit, ObjectId, Offset, Page, PageRequest, SearchText

router = APIRouter(tags=["support"])
M = TypeVar("M")
TicketReader = Annotated[Access, requires(Permission.ticket_read)]
TicketWriter = Annotated[Access, requires(Permission.ticket_write)]
CodeAdmin = Annotated[Access, requires(Permission.support_access_write)]


# --- tickets -------------------------------------------------------------------------


def ticket_statement(
    status: TicketStatus | None = None, ticket_class: TicketClass | None = None, sla_state: ClockState | None = None,
    sla_warning: bool | None = None, tenant_id: int | None = None, device_id: int | None = None,
    site_id: int | None = None, q: str | None = None,
):  # type: ignore[no-untyped-def]
    """The ticket list query with its filters; the portal's list uses it too."""
    statement = select(Ticket).order_by(Ticket.sla_due_at.is_(None), Ticket.sla_due_at, Ticket.id.desc())
    if status is not None:
        statement = statement.where(Ticket.status == status.value)
    if ticket_class is not None:
        statement = statement.where(Ticket.ticket_class == int(ticket_class))
    if sla_state is not None:
        statement = statement.where(Ticket.sla_state == sla_state.value)
    if sla_warning is not None:
        statement = statement.where(Ticket.sla_warning.is_(sla_warning))
    if tenant_id is not None:
        statement = statement.where(Ticket.tenant_id == tenant_id)
    if device_id is not None:
        statement = statement.where(Ticket.device_id == device_id)
    if site_id is not None:
        statement = statement.where(Ticket.site_id == site_id)
    if q:
        statement = statement.where(contains(Ticket.title, q))
    return statement


@router.get("/tickets", response_model=Page[TicketPublic])
def list_tickets(
    access: TicketReader,
    status: Annotated[TicketStatus | None, Query()] = None,
    ticket_class: Annotated[TicketClass | None, Query()] = None,
    sla_state: Annotated[ClockState | None, Query()] = None,
    sla_warning: Annotated[bool | None, Query()] = None,
    tenant_id: FilterId = None,
    device_id: FilterId = None,
    site_id: FilterId = None,
    q: SearchText = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TicketPublic]:
    statement = ticket_statement(status, ticket_class, sla_state, sla_warning, tenant_id, device_id, site_id, q)
    return read_page(access.db, statement, PageRequest(limit, offset), TicketPublic.model_validate)


def _referenced(access: Access, model: type[M], key: int | None, read: Permission, what: str) -> M | None:
    """A record a new ticket names: one the caller's ticket scope reaches or, for platform support, one
    a release code lets them read. Anything else is a 404, exactly like a record that does not exist."""
    if key is None:
        return None
    row = access.db.get(model, key)
    if row is None and holds_support_access(access.principal):
        with access.scoped_for(read) as session:
            row = session.get(model, key)
    if row is None:
        raise not_found(what)
    return row


def _ticket_tenant(access: Access, body: TicketCreate, device: Device | None, site: Site | None) -> Tenant:
    db = access.db
    if body.tenant_id is not None:
        tenant = _referenced(access, Tenant, body.tenant_id, Permission.tenant_read, "tenant")
        assert tenant is not None
        return tenant
    referenced = device.tenant_id if device else site.tenant_id if site else None
    for candidate in (referenced, access.principal.tenant_id):
        if candidate is not None and (tenant := db.get(Tenant, candidate)) is not None:
            return tenant
    if referenced is None:
        raise invalid("Name the tenant the ticket is for.")
    # A site or device grant without a tenant grant (a site technician): the ticket belongs to the
    # referenced tenant, which this principal cannot read; only its SLA policy is needed.
    with system_session(access.session_factory, reason="SLA policy of a referenced device's tenant") as system:
        tenant = system.get(Tenant, referenced)
        assert tenant is not None
        system.expunge(tenant)
        return tenant


@router.post("/tickets", response_model=TicketDetail, status_code=201)
def create_ticket(body: TicketCreate, access: TicketWriter) -> TicketDetail:
    """Open a ticket, optionally about a device or site, handed over to the partner or the platform; its SLA
    clock starts now. A device or site is named only with access to it: a grant, or a release code."""
    db = access.db
    device = _referenced(access, Device, body.device_id, Permission.device_read, "device")
    site = _referenced(access, Site, body.site_id, Permission.site_read, "site")
    tenant = _ticket_tenant(access, body, device, site)
    site_id = site.id if site else device.site_id if device else None  # the device's site goes with it
    try:
        ticket = service.open_ticket(db, access.principal, tenant=tenant, ticket_class=body.ticket_class,
                                     title=body.title, description=body.description,
                                     device_id=device.id if device else None, site_id=site_id, desk=body.desk)
    except service.TicketRuleError as error:
        raise invalid(error.text) from None
    db.commit()
    return _detail(db, access, ticket)


@router.get("/tickets/{ticket_id}", response_model=TicketDetail)
def get_ticket(ticket_id: ObjectId, access: TicketReader) -> TicketDetail:
    return _detail(access.db, access, get_visible(access.db, Ticket, ticket_id, "ticket"))


@router.patch("/tickets/{ticket_id}", response_model=TicketDetail)
def update_ticket(ticket_id: ObjectId, body: TicketUpdate, access: TicketWriter) -> TicketDetail:
    """Change the status (waiting for the customer pauses the SLA clock), hand the ticket on to the
    platform, or (the desk's staff) assign it to someone of the desk."""
    db = access.db
    ticket = get_visible(db, Ticket, ticket_id, "ticket")
    changes = body.model_dump(exclude_unset=True)
    status_changed = False
    with system_session(access.session_factory, reason="a ticket's desk and its staff") as system:
        try:
            if changes.get("desk") is not None:
                service.hand_over(db, system, ticket, TicketDesk(changes["desk"]), access.principal)
            standing = service.standing(system, access.principal, ticket)
            if "assignee_id" in changes:
                service.assign(db, ticket, _assignee(system, standing, changes["assignee_id"]), access.principal)
            if changes.get("status") is not None:
                status_changed = service.change_status(db, ticket, TicketStatus(changes["status"]), access.principal,
                                                       standing.support_side)
        except service.TicketRuleError as error:
            raise invalid(error.text) from None
    db.commit()
    if status_changed:
        with system_session(access.session_factory, reason="ticket mail recipients") as system:
            service.mail_users(system, access.settings, service.others(ticket, access.principal), "status", ticket)
    return _detail(db, access, ticket)


def _assignee(system: Session, standing: service.Standing, user_id: int | None) -> User | None:
    """Only the desk's staff assign, and only to one of them. Anyone else, whether the user exists or
    not, is the same 404: the answer must not tell which ids are users."""
    if not standing.desk_staff:
        raise service.TicketRuleError("Only the staff of the ticket's desk assign it.")
    if user_id is None:
        return None
    staff = {user.id: user for user in service.desk_staff(system, standing.desk_path)}
    if user_id not in staff:
        raise not_found("user on the staff of the ticket's desk")
    return staff[user_id]


@router.post("/tickets/{ticket_id}/comments", response_model=CommentPublic, status_code=201)
def comment_ticket(ticket_id: ObjectId, body: CommentCreate, access: TicketWriter) -> TicketComment:
    """Comment; the support desk's first visible comment is its response. Internal comments are the desk's own."""
    db = access.db
    ticket = get_visible(db, Ticket, ticket_id, "ticket")
    support_side = _standing(access, ticket).support_side
    try:
        comment = service.add_comment(db, ticket, body.body, body.internal, access.principal, support_side)
    except service.TicketRuleError as error:
        raise invalid(error.text) from None
    db.commit()
    if not comment.internal:
        with system_session(access.session_factory, reason="ticket mail recipients") as system:
            service.mail_users(system, access.settings, service.others(ticket, access.principal), "comment", ticket,
                               author=access.principal.display_name, body=comment.body)
    return comment


def clock_public(state: SlaClock | None) -> SlaClockPublic | None:
    if state is None:
        return None
    return SlaClockPublic(
        state=state.state, due_at=state.due_at, remaining_seconds=state.remaining.total_seconds(),
        overdue_seconds=state.overdue.total_seconds(), paused_seconds=state.paused_time.total_seconds(),
        warning=state.warning, responded_at=state.responded_at,
    )


def _standing(access: Access, ticket: Ticket) -> service.Standing:
    return service.standing_for(access.session_factory, access.principal, ticket)


def _detail(db: Session, access: Access, ticket: Ticket) -> TicketDetail:
    standing = _standing(access, ticket)
    support_side = standing.support_side
    comments = select(TicketComment).where(TicketComment.ticket_id == ticket.id).order_by(TicketComment.created_at,
                                                                                          TicketComment.id)
    if not support_side:
        comments = comments.where(TicketComment.internal.is_(False))
    return TicketDetail.model_validate({
        **TicketPublic.model_validate(ticket).model_dump(),
        "sla": clock_public(service.sla_clock(db, ticket)),
        "comments": [CommentPublic.model_validate(comment) for comment in db.scalars(comments)],
        "events": [EventPublic.model_validate(event) for event in service.events_of(db, ticket)],
        "support_side": support_side,
        "desk_staff": standing.desk_staff,
    })


# --- support access ----------------------------------------------------------------------


def code_public(code: SupportAccessCode) -> SupportAccessPublic:
    return SupportAccessPublic.model_validate({**{c: getattr(code, c) for c in SupportAccessPublic.model_fields
                                                  if c != "state"}, "state": code_state(code)})


@router.post("/support-access", response_model=SupportAccessWithCode, status_code=201)
def create_release_code(body: SupportAccessCreate, access: CodeAdmin) -> SupportAccessWithCode:
    """Issue a release code for your tenant or one device, valid 48 hours. The code is shown only in this answer."""
    db = access.db
    device = get_visible(db, Device, body.device_id, "device") if body.device_id else None
    tenant_id = device.tenant_id if device else body.tenant_id or access.principal.tenant_id
    tenant = get_visible(db, Tenant, tenant_id, "tenant")
    if body.tenant_id is not None and tenant.id != body.tenant_id:
        raise invalid("The device belongs to another tenant than the one named.")
    if tenant.kind == TenantKind.root:
        raise invalid("Release codes are for customers' tenants, not for the platform itself.")
    code, plain = issue_code(db, tenant=tenant, device_id=device.id if device else None, note=body.note,
                             created_by=access.principal.user_id)
    db.commit()
    return SupportAccessWithCode.model_validate({**code_public(code).model_dump(), "code": plain})


@router.get("/support-access", response_model=Page[SupportAccessPublic])
def list_release_codes(access: CodeAdmin, tenant_id: FilterId = None, limit: Limit = 50,
                       offset: Offset = 0) -> Page[SupportAccessPublic]:
    statement = select(SupportAccessCode).order_by(SupportAccessCode.created_at.desc(), SupportAccessCode.id.desc())
    if tenant_id is not None:
        statement = statement.where(SupportAccessCode.tenant_id == tenant_id)
    return read_page(access.db, statement, PageRequest(limit, offset), code_public)


@router.post("/support-access/{code_id}/revoke", response_model=SupportAccessPublic)
def revoke_release_code(code_id: ObjectId, access: CodeAdmin) -> SupportAccessPublic:
    """End the access now: support's next request no longer reaches your data."""
    code = get_visible(access.db, SupportAccessCode, code_id, "release code")
    if code.revoked_at is not None:
        raise conflict("The code is already revoked.")
    code.revoked_at = clock.now()
    access.db.commit()
    return code_public(code)


@router.get("/support-access/{code_id}/views", response_model=list[SupportViewPublic])
def list_support_views(code_id: ObjectId, access: CodeAdmin) -> list[SupportViewPublic]:
    """Every request platform support made while holding this code, newest first."""
    code = get_visible(access.db, SupportAccessCode, code_id, "release code")
    return [SupportViewPublic(at=entry.at, actor=entry.actor, method=str(entry.changes.get("method", "")),
                              path=str(entry.changes.get("path", ""))) for entry in views_of(access.db, code)]


@router.post("/support-access/redeem", response_model=SupportAccessPublic)
def redeem_release_code(body: RedeemRequest, access: TicketWriter) -> SupportAccessPublic:
    """Platform support only: redeem a customer's code for read-only access to their tenant or device."""
    if not holds_platform_support(access.principal.grants):
        raise forbidden("Only platform support redeems release codes.")
    refused = forbidden("The release code is unknown, expired or revoked.")
    # The code is looked up by its hash across all tenants: that is what a release code is for.
    with system_session(access.session_factory, reason="redeem a support release code") as system:
        code = system.scalar(select(SupportAccessCode).where(SupportAccessCode.code_hash == code_digest(body.code)))
        if code is None or not is_active(code):
            raise refused
        if code.redeemed_by_id not in (None, access.principal.user_id):
            raise conflict("Another support user has redeemed this code; ask the customer for a new one.")
        if code.redeemed_by_id is None:
            code.redeemed_by_id, code.redeemed_at = access.principal.user_id, clock.now()
            system.commit()
        return code_public(code)
