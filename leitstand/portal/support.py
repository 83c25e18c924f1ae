"""Portal pages: support tickets with their SLA clocks, and support access for customer admins.

/tickets              the ticket list, filterable by status, class and SLA state, with clock badges
/tickets/new          the new-ticket form; ?device_id= or ?site_id= (the support button) sets the reference
/tickets/{id}         a ticket with its clock, desk, comments and actions (status, hand over, assign)
/support-access       release codes: issue one (shown once), revoke, and what support viewed under each

Pages read; every change goes through the JSON API (/api/v1/tickets, /api/v1/support-access).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from leitstand.access.roles import Permission
from leitstand.devices.models import Device
from leitstand.portal.devices import moment_formatter
from leitstand.portal.pages import page, render
from leitstand.sites.models import Site
from leitstand.support import tickets as service
from leitstand.support.access import code_state, views_of
from leitstand.support.api import ticket_statement
from leitstand.support.models import SupportAccessCode, Ticket, TicketComment, TicketDesk, TicketStatus
from leitstand.support.sla import ClockState, TicketClass
from leitstand.tenancy.models import Tenant
from leitstand.users.models import User
from leitstand.web.crud import get_visible
from leitstand.web.deps import Access
from leitstand.web.types import ObjectId

router = APIRouter()
Reader = Annotated[Access, page(Permission.ticket_read)]
Writer = Annotated[Access, page(Permission.ticket_write)]
CodeAdmin = Annotated[Access, page(Permission.support_access_write)]

PAGE_SIZE = 50


def _moment(request: Request, access: Access):  # type: ignore[no-untyped-def]
    from leitstand.portal import i18n

    tenant = access.db.get(Tenant, access.principal.tenant_id)
    zone = tenant.time_zone if tenant else access.settings.default_time_zone
    return moment_formatter(zone, i18n.negotiate(request, access.principal.language))


def _choice(value: str | None, choices: type) -> object | None:
    try:
        return choices(int(value) if choices is TicketClass else value) if value else None
    except ValueError:
        return None  # a filter that makes no sense is ignored, not an error page


@router.get("/tickets", response_class=HTMLResponse)
def tickets_page(request: Request, access: Reader) -> HTMLResponse:
    params = request.query_params
    status = _choice(params.get("status"), TicketStatus)
    ticket_class = _choice(params.get("class"), TicketClass)
    sla_state = _choice(params.get("sla"), ClockState)
    statement = ticket_statement(status, ticket_class, sla_state)  # type: ignore[arg-type]
    tickets = access.db.scalars(statement.limit(PAGE_SIZE)).all()
    return render(request, "support/tickets.html", {
        "tickets": tickets, "statuses": list(TicketStatus), "clock_states": list(ClockState),
        "filters": {"status": status, "class": ticket_class, "sla": sla_state}, "moment": _moment(request, access),
    })


@router.get("/tickets/new", response_class=HTMLResponse)
def new_ticket_page(request: Request, access: Writer) -> HTMLResponse:
    """The support button's target: the device or site it was pressed on becomes the reference."""
    params = request.query_params
    device = site = None
    if params.get("device_id", "").isdigit():
        device = access.db.get(Device, int(params["device_id"]))
    if params.get("site_id", "").isdigit():
        site = access.db.get(Site, int(params["site_id"]))
    return render(request, "support/new_ticket.html", {"device": device, "site": site, "classes": list(TicketClass)})


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, ticket_id: ObjectId, access: Reader) -> HTMLResponse:
    db = access.db
    ticket = get_visible(db, Ticket, ticket_id, "ticket")
    standing = service.standing_for(access.session_factory, access.principal, ticket)
    support_side = standing.support_side
    comments = select(TicketComment).where(TicketComment.ticket_id == ticket.id).order_by(TicketComment.created_at)
    if not support_side:
        comments = comments.where(TicketComment.internal.is_(False))
    comment_rows = db.scalars(comments).all()
    names = {user.id: user.display_name for user in db.scalars(select(User).where(
        User.id.in_({c.author_id for c in comment_rows} | {ticket.reporter_id, ticket.assignee_id})))}
    allowed = list(TicketStatus) if support_side else sorted(service.CUSTOMER_STATUSES)
    return render(request, "support/ticket.html", {
        "ticket": ticket, "clock": service.sla_clock(db, ticket), "comments": comment_rows, "names": names,
        "device": db.get(Device, ticket.device_id) if ticket.device_id else None,
        "site": db.get(Site, ticket.site_id) if ticket.site_id else None,
        "support_side": support_side, "next_statuses": [s for s in allowed if s.value != ticket.status],
        "moment": _moment(request, access), "can_write": access.principal.has(Permission.ticket_write),
        "desk_staff": standing.desk_staff, "can_hand_over": ticket.desk == TicketDesk.partner,
    })


@router.get("/support-access", response_class=HTMLResponse)
def support_access_page(request: Request, access: CodeAdmin) -> HTMLResponse:
    db = access.db
    codes = db.scalars(select(SupportAccessCode).order_by(SupportAccessCode.created_at.desc()).limit(100)).all()
    devices = {device.id: device for device in db.scalars(select(Device).where(
        Device.id.in_({code.device_id for code in codes if code.device_id})))}
    return render(request, "support/access.html", {
        "codes": [(code, code_state(code), views_of(db, code, limit=200)) for code in codes],
        "devices": devices, "moment": _moment(request, access),
    })
