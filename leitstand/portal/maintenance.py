"""Portal pages: the maintenance board, a device's inspection book, a site's service history.

Pages only read (through leitstand.maintenance.queries, shared with the API); plans and
inspection entries are written through /api/v1/maintenance from the browser.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from leitstand import formats
from leitstand.access.rules import path_within
from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.maintenance import book, queries, service
from leitstand.maintenance.traffic_light import Light
from leitstand.permissions import Permission
from leitstand.portal import devices_queries
from leitstand.portal.dashboard_queries import maintenance_lights
from leitstand.portal.devices import _language, day_formatter, moment_formatter
from leitstand.portal.pages import page, render
from leitstand.sites.locations import location_path, location_paths
from leitstand.sites.models import Site
from leitstand.web.crud import get_visible, read_page
from leitstand.web.deps import Access
from leitstand.web.types import ObjectId, PageRequest

router = APIRouter()
Viewer = Annotated[Access, page(Permission.maintenance_read)]
BOARD_LIMIT = 200
LIGHT_ORDER = (Light.red, Light.yellow, Light.green)
TYPE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _formatters(request: Request, access: Access) -> dict[str, Any]:
    language = _language(request, access)
    return {
        "language": language,
        "day": day_formatter(language),
        "moment": moment_formatter(access.settings.default_time_zone, language),
        "number": lambda value: formats.format_number(value, language),
    }


@router.get("/maintenance", response_class=HTMLResponse)
def maintenance_board(
    request: Request,
    access: Viewer,
    site: Annotated[str, Query(max_length=12)] = "",
    type: Annotated[str, Query(max_length=64)] = "",  # noqa: A002 - the URL's parameter name
) -> HTMLResponse:
    """Devices with plans grouped by traffic light (red first), filtered by site and type."""
    db = access.db
    chosen_site = db.get(Site, int(site)) if site.isdigit() and 0 < int(site) < 2**31 else None
    type_key = type if TYPE_KEY.match(type or "") else None
    formatters = _formatters(request, access)
    groups = []
    for light in LIGHT_ORDER:
        found = read_page(db, queries.board_query(db, site=chosen_site, type_key=type_key, light=light),
                          PageRequest(BOARD_LIMIT), queries.board_device)
        groups.append({"light": light.name, "items": found.items, "total": found.total})
    specs = devices_queries.type_specs(db)
    sites = list(db.scalars(select(Site).where(Site.kind == "site").order_by(Site.name)))
    site_names = location_paths(db, {item.site_id for group in groups for item in group["items"]})
    return render(request, "maintenance/board.html", {
        **formatters,
        "groups": groups,
        "sites": sites,
        "site_names": site_names,
        "chosen_site": chosen_site,
        "chosen_type": type_key,
        "type_names": {key: devices_queries.text_in(spec.name, formatters["language"]) for key, spec in specs.items()},
    })


@router.get("/maintenance/tile", response_class=HTMLResponse)
def maintenance_tile(request: Request, access: Viewer) -> HTMLResponse:
    """The dashboard's maintenance tile with its green / yellow / red device counts."""
    return render(request, "maintenance/_tile.html", {"maintenance": maintenance_lights(access.db)})


def _book_context(request: Request, access: Access, device_id: int) -> dict[str, Any]:
    db = access.db
    device = get_visible(db, Device, device_id, "device")
    plans = queries.plans_of(db, device.id)
    lights = [Light[plan.light] for plan in plans if plan.light]
    return {
        **_formatters(request, access),
        "device": device,
        "plans": plans,
        "device_light": max(lights).name if lights else None,
        "site": db.get(Site, device.site_id) if device.site_id else None,
        "location": location_path(db, device.site_id),
    }


@router.get("/maintenance/devices/{device_id}", response_class=HTMLResponse)
def inspection_book(device_id: ObjectId, request: Request, access: Viewer) -> HTMLResponse:
    """A device's plans, its inspection book, the form for a new entry and the PDF export."""
    context = _book_context(request, access, device_id)
    device: Device = context["device"]
    today = clock.now().date()
    entries = queries.entries_public(access.db, queries.entries_of(access.db, device.id, today.replace(year=1900), today
                                                                   + timedelta(days=366)))
    context.update({
        "entries": entries,
        "checklist": service.checklist_for(device.type_key),
        "today": today,
        "year_ago": today - timedelta(days=365),
        "accept": ",".join(("application/pdf", "image/png", "image/jpeg", "image/webp")),
        "max_mib": book.max_attachment_bytes(access.settings) // (1024 * 1024),
        "can_write": access.has(Permission.maintenance_write),
    })
    return render(request, "maintenance/book.html", context)


@router.get("/maintenance/devices/{device_id}/card", response_class=HTMLResponse)
def device_card(device_id: ObjectId, request: Request, access: Viewer) -> HTMLResponse:
    """The maintenance card on the device page (loaded by it)."""
    return render(request, "maintenance/_card_body.html", _book_context(request, access, device_id))


@router.get("/maintenance/sites/{site_id}", response_class=HTMLResponse)
def site_history(site_id: ObjectId, request: Request, access: Viewer) -> HTMLResponse:
    """Inspections and maintenance alarms of every device at the site and below."""
    db = access.db
    site = get_visible(db, Site, site_id, "site")
    below = select(Device.id).where(Device.site_id.in_(select(Site.id).where(path_within(Site.path, site.path))))
    formatters = _formatters(request, access)
    return render(request, "maintenance/site.html", {
        **formatters,
        "site": site,
        "location": location_path(db, site.id),
        "history": queries.history(db, device_ids=below, limit=500, language=formatters["language"]),
        "counts": {light.name: count for light, count in queries.counts_below(db, site).items()},
    })
