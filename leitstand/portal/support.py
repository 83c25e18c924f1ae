"""Portal pages: support tickets with their SLA clocks, and support access for customer admins.

/tickets              the ticket list, filterable by status, class and SLA state, with clock badges
/tickets/new          the new-ticket form; ?device_id= or ?site_id= (the support button) sets the reference
/tickets/{id}         a ticket with its clock, desk, comments and actions (status, hand over, assign)
/support-access       release codes: issue one (shown once), revoke, and what support viewed under each

Pages read; every change goes through the JSON API (/api/v1/tickets, /api/v1/support-access).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leitstand.accounts.models import User
from leitstand.devices.models import Device
from leitstand import i18n
from leitstand.permissions import Permission
from leitstand.portal.devices import moment_formatter
from leitstand.portal.listing import MAX_EXPORT_ROWS, CsvColumn, Sortable, csv_download, export_link
from leitstand.portal.listing import msgid as _
from leitstand.portal.pages import page, render
from leitstand.sites.locations import location_path, location_paths
from leitstand.sites.models import Site
from leitstand.support import tickets as service
from leitstand.support.access import code_state, views_of
from leitstand.support.api import ticket_statement
from leitstand.support.models import SupportAccessCode, Ticket, TicketComment, TicketDesk, TicketStatus
from leitstand.support.sla import ClockState, TicketClass
from leitstand.tenancy.models import Tenant
from leitstand.web.crud import get_visible
from leitstand.web.deps import Access
from leitstand.web.types import ObjectId

router = APIRouter()
Reader = Annotated[Access, page(Permission.ticket_read)]
Writer = Annotated[Access, page(Permission.ticket_write)]
CodeAdmin = Annotated[Access, page(Permission.support_access_write)]

PAGE_SIZE = 50


def _moment(request: Request, access: Access):  # type: ignore[no-untyped-def]
    tenant = access.db.get(Tenant, access.principal.tenant_id)
    zone = tenant.time_zone if tenant else access.settings.default_time_zone
    return moment_formatter(zone, i18n.negotiate(request, access.principal.language))


def _choice(value: str | None, choices: type) -> object | None:
    try:
        return choices(int(value) if choices is TicketClass else value) if value else None
    except ValueError:
        return None  # a filter that makes no sense is ignored, not an error page


TICKET_SORT = Sortable({
    "number": Ticket.id, "title": func.lower(Ticket.title), "class": Ticket.ticket_class, "status": Ticket.status,
    "desk": Ticket.desk, "sla": Ticket.sla_due_at, "opened": Ticket.created_at,
}, default="sla", tiebreak=Ticket.id)
DESK_LABELS = {"partner": _("Partner"), "platform": _("Platform support")}
SLA_LABELS = {"running": _("SLA running"), "paused": _("SLA paused"), "met": _("SLA met"), "breached": _("SLA breached")}


def _ticket_filters(request: Request) -> dict[str, object]:
    params = request.query_params
    return {"status": _choice(params.get("status"), TicketStatus), "class": _choice(params.get("class"), TicketClass),
            "sla": _choice(params.get("sla"), ClockState)}


def _selected_tickets(request: Request, access: Access, filters: dict[str, object], limit: int) -> list[Ticket]:
    statement = ticket_statement(filters["status"], filters["class"], filters["sla"])  # type: ignore[arg-type]
    return list(access.db.scalars(TICKET_SORT.chosen(request).apply(statement).limit(limit)))


@router.get("/tickets", response_class=HTMLResponse)
def tickets_page(request: Request, access: Reader) -> HTMLResponse:
    filters = _ticket_filters(request)
    tickets = _selected_tickets(request, access, filters, PAGE_SIZE)
    return render(request, "support/tickets.html", {
        "tickets": tickets, "locations": _locations(access.db, tickets), "statuses": list(TicketStatus),
        "clock_states": list(ClockState), "filters": filters, "moment": _moment(request, access),
        "sort": TICKET_SORT.chosen(request), "export_href": export_link(request, "/tickets/export.csv"),
    })


def _locations(db: Session, tickets: list[Ticket]) -> dict[int, str]:
    """Each ticket's location by full path: its site, else its device's site (as far as the viewer sees them)."""
    device_sites = dict(db.execute(select(Device.id, Device.site_id).where(
        Device.id.in_({ticket.device_id for ticket in tickets if ticket.device_id}))).all())
    site_of = {ticket.id: ticket.site_id or device_sites.get(ticket.device_id) for ticket in tickets}
    paths = location_paths(db, site_of.values())
    return {ticket_id: paths[site_id] for ticket_id, site_id in site_of.items() if site_id in paths}


def _sla_text(ticket: Ticket, gettext: Callable[[str], str], moment: Callable[..., str]) -> str:
    """The SLA badge of the list (support/_sla_badge.html) as text."""
    if not ticket.sla_state:
        return gettext("no SLA target")
    text = gettext(SLA_LABELS.get(ticket.sla_state, ticket.sla_state))
    if ticket.sla_warning and ticket.sla_state == "running":
        text += " · " + gettext("due soon")
    if ticket.sla_state in ("running", "paused") and ticket.sla_due_at:
        text += " · " + gettext("due %(at)s") % {"at": moment(ticket.sla_due_at)}
    return text


@router.get("/tickets/export.csv")
def tickets_export(request: Request, access: Reader) -> Response:
    """The list as CSV: every ticket its filters select (not only the first page), as the table shows it."""
    gettext = i18n.translations(i18n.negotiate(request, access.principal.language)).gettext
    moment = _moment(request, access)
    tickets = _selected_tickets(request, access, _ticket_filters(request), MAX_EXPORT_ROWS)
    locations = _locations(access.db, tickets)
    columns = [
        CsvColumn("#", lambda ticket: ticket.id),
        CsvColumn(_("Title"), lambda ticket: ticket.title),
        CsvColumn(_("Location"), lambda ticket: locations.get(ticket.id, "")),
        CsvColumn(_("Class"), lambda ticket: ticket.ticket_class),
        CsvColumn(_("Status"), lambda ticket: gettext(ticket.status)),
        CsvColumn(_("Handled by"), lambda ticket: gettext(DESK_LABELS.get(ticket.desk, ticket.desk))),
        CsvColumn(_("SLA"), lambda ticket: _sla_text(ticket, gettext, moment)),
        CsvColumn(_("Opened"), lambda ticket: moment(ticket.created_at)),
    ]
    return csv_download(request, access, "tickets", _("Support tickets"), columns, tickets)


@router.get("/tickets/new", response_class=HTMLResponse)
def new_ticket_page(request: Request, access: Writer) -> HTMLResponse:
    """The support button's target: the device or site it was pressed on becomes the reference."""
    params = request.query_params
    device = site = None
    if params.get("device_id", "").isdigit():
        device = access.db.get(Device, int(params["device_id"]))
    if params.get("site_id", "").isdigit():
        site = access.db.get(Site, int(params["site_id"]))
    return render(request, "support/new_ticket.html", {"device": device, "site": site, "classes": list(TicketClass),
                                                       "location": location_path(access.db, site.id) if site else None})


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
        "location": location_path(db, ticket.site_id),
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
