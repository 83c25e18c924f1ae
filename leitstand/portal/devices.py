"""Portal pages: the device list and the device page with its fragments and chart data.

/devices                      searchable, filterable, paged list (the table is also an HTMX fragment)
/devices/{id}                 live status, commands, counters, chart, events, command history
/devices/{id}/status          fragment, re-fetched on every live update of the device
/devices/{id}/events          fragment: recent events
/devices/{id}/commands        fragment: command history
/devices/{id}/series.json     one metric over a window, at the resolution the window calls for

Commands are sent by the browser through the JSON API (POST /api/v1/devices/{id}/commands).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AfterValidator, AwareDatetime

from leitstand import formats
from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.devicetypes.spec import Command as SpecCommand
from leitstand.licenses.models import License, LicenseStatus
from leitstand.devicetypes.spec import DeviceTypeSpec
from leitstand.permissions import Permission
from leitstand.portal import devices_queries as q
from leitstand import i18n
from leitstand.portal.listing import CsvColumn, csv_download, export_link
from leitstand.portal.listing import msgid as _
from leitstand.portal.pages import page, render
from leitstand.sites.locations import location_path
from leitstand.sites.models import Site
from leitstand.web.crud import get_visible
from leitstand.web.deps import Access
from leitstand.web.errors import invalid, not_found
from leitstand.web.types import NO_CONTROL, ObjectId, PageRequest

router = APIRouter()
Reader = Annotated[Access, page(Permission.device_read)]

TYPE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_WINDOW = timedelta(days=3 * 366)
MAX_OFFSET = 10_000_000  # as the API's Offset
DEFAULT_WINDOW = timedelta(hours=24)


# --- helpers ------------------------------------------------------------------------------


def _language(request: Request, access: Access) -> str:
    return i18n.negotiate(request, access.principal.language)


def moment_formatter(time_zone: str, language: str) -> Callable[[datetime | None], str]:
    """Times as people read them: local to the viewer's organisation, with its zone, in the page's language."""
    return lambda at: formats.format_moment(at, time_zone, language)


def day_formatter(language: str) -> Callable[[date | None], str]:
    """Calendar days (a license's end) in the page's language."""
    return lambda value: formats.format_day(value, language)


def _viewer_zone(access: Access) -> str:
    return q.tenant_zone(access.db, access.principal.tenant_id, access.settings.default_time_zone)


def _filter_from(request: Request) -> q.DeviceFilter:
    """The list's filters from the URL; a value that makes no sense is ignored, not an error page."""
    params = request.query_params
    text = params.get("q", "").strip()[:100]
    if not re.match(NO_CONTROL, text):
        text = ""
    type_key = params.get("type", "")
    site = params.get("site", "")
    state = params.get("state", "")
    return q.DeviceFilter(
        q=text,
        type_key=type_key if TYPE_KEY.match(type_key) else "",
        site_id=int(site) if site.isdigit() and 0 < int(site) < 2**31 else None,
        connectivity=q.Connectivity(state) if state in q.Connectivity.__members__ else None,
    )


def _paging_from(request: Request) -> PageRequest:
    """The page of the list the URL asks for: its `offset`, or the `page` number of an older
    link; a value that makes no sense is the first page."""
    params = request.query_params
    offset, page_number = params.get("offset", ""), params.get("page", "")
    return PageRequest.numbered(
        q.PAGE_SIZE, int(offset) if offset.isdigit() and int(offset) <= MAX_OFFSET else 0,
        int(page_number) if page_number.isdigit() and 0 < int(page_number) <= MAX_OFFSET // q.PAGE_SIZE else None,
    )


def _allowed_commands(access: Access, device: Device, spec: DeviceTypeSpec | None) -> list[SpecCommand]:
    """The command buttons to show: `device.command` and each command's own permission (a
    restart is maintenance) must reach this very device, as the commands API checks."""
    if spec is None or not access.reaches(Permission.device_command, Device, device.id):
        return []
    reached: dict[Permission, bool] = {}
    for command in spec.commands:
        if command.permission not in reached:
            reached[command.permission] = access.reaches(command.permission, Device, device.id)
    return [command for command in spec.commands if reached[command.permission]]


def _device_context(request: Request, access: Access, device_id: int) -> dict[str, Any]:
    """What the device page and its fragments share."""
    device = get_visible(access.db, Device, device_id, "device")
    language = _language(request, access)
    specs = q.type_specs(access.db)
    spec: DeviceTypeSpec | None = specs.get(device.type_key)
    return {
        "device": device,
        "spec": spec,
        "language": language,
        "label": lambda text: q.text_in(text, language),
        "time_zone": (viewer_zone := _viewer_zone(access)),
        "moment": moment_formatter(viewer_zone, language),
        "day": day_formatter(language),
        "event_label": lambda event: q.event_label(event.kind, event.code, spec, language),
    }


# --- the list -----------------------------------------------------------------------------


@router.get("/devices", response_class=HTMLResponse)
def device_list(request: Request, access: Reader) -> HTMLResponse:
    wanted = _filter_from(request)
    language = _language(request, access)
    sort = q.DEVICE_SORT.chosen(request)
    context = {
        "filter": wanted,
        "sort": sort,
        "sort_parameters": sort.hidden_fields(),
        "export_href": export_link(request, "/devices/export.csv"),
        "result": q.list_devices(access.db, wanted, _paging_from(request), sort),
        "type_names": _type_names(access, language),
        "time_zone": (viewer_zone := _viewer_zone(access)),
        "moment": moment_formatter(viewer_zone, language),
    }
    if request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "device-table":
        response = render(request, "devices/_table.html", context)
        # The address bar shows the filter without empty fields, so it can be shared or bookmarked.
        query = wanted.query_string(offset=context["result"].offset, **sort.hidden_fields())
        response.headers["HX-Push-Url"] = "/devices" + (f"?{query}" if query else "")
    else:
        context["sites"] = q.site_choices(access.db)
        response = render(request, "devices/index.html", context)
    # One URL, two answers (page or table): a cache must not hand the table to a page load.
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


def _type_names(access: Access, language: str) -> dict[str, str]:
    return {key: q.text_in(spec.name, language) for key, spec in q.type_specs(access.db).items()}


def _connectivity_text(row: q.DeviceRow) -> str:
    if row.problem:
        return "Error reported"
    return "Never seen" if row.online is None else "Online" if row.online else "Offline"


@router.get("/devices/export.csv")
def device_export(request: Request, access: Reader) -> Any:
    """The list as CSV: every device its filters select, in its order, as the table shows it."""
    language = _language(request, access)
    gettext = i18n.translations(language).gettext
    type_names = _type_names(access, language)
    moment = moment_formatter(_viewer_zone(access), language)
    columns = [
        CsvColumn(_("State"), lambda row: gettext(_connectivity_text(row))),
        CsvColumn(_("Name"), lambda row: row.name),
        CsvColumn(_("Serial number"), lambda row: row.serial_number),
        CsvColumn(_("Type"), lambda row: type_names.get(row.type_key, row.type_key)),
        CsvColumn(_("Site"), lambda row: row.site_name or ""),
        CsvColumn(_("Last seen"), lambda row: moment(row.last_seen_at) or gettext("never")),
    ]
    rows = q.all_devices(access.db, _filter_from(request), q.DEVICE_SORT.chosen(request))
    return csv_download(request, access, "devices", _("Devices"), columns, rows)


# --- one device ---------------------------------------------------------------------------


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(device_id: ObjectId, request: Request, access: Reader) -> HTMLResponse:
    context = _device_context(request, access, device_id)
    device: Device = context["device"]
    spec: DeviceTypeSpec | None = context["spec"]
    license_status, license_ = q.license_status(access.db, device, clock.now().date())
    # The commands API refuses an expired license's device: the buttons say so before anyone tries.
    expired = license_ is not None and license_status == LicenseStatus.expired
    context.update({
        "site": access.db.get(Site, device.site_id) if device.site_id else None,
        "location": location_path(access.db, device.site_id),
        "status": q.device_status(access.db, device, spec, context["language"]),
        "license_status": license_status,
        "license": license_,
        "commands_blocked": expired,
        "can_renew": expired and access.reaches(Permission.license_write, License, license_.id),
        "allowed_commands": _allowed_commands(access, device, spec),
        "commands": q.recent_commands(access.db, device),
        "events": q.recent_events(access.db, device),
        "chart_keys": q.chartable_keys(spec),
        "chart_overlays": q.chart_overlays(spec, context["language"]),
    })
    return render(request, "devices/show.html", context)


@router.get("/devices/{device_id}/status", response_class=HTMLResponse)
def device_status_fragment(device_id: ObjectId, request: Request, access: Reader) -> HTMLResponse:
    context = _device_context(request, access, device_id)
    context["status"] = q.device_status(access.db, context["device"], context["spec"], context["language"])
    return render(request, "devices/_status.html", context)


@router.get("/devices/{device_id}/events", response_class=HTMLResponse)
def device_events_fragment(device_id: ObjectId, request: Request, access: Reader) -> HTMLResponse:
    context = _device_context(request, access, device_id)
    context["events"] = q.recent_events(access.db, context["device"])
    return render(request, "devices/_events.html", context)


@router.get("/devices/{device_id}/commands", response_class=HTMLResponse)
def device_commands_fragment(device_id: ObjectId, request: Request, access: Reader) -> HTMLResponse:
    context = _device_context(request, access, device_id)
    context["commands"] = q.recent_commands(access.db, context["device"])
    return render(request, "devices/_commands.html", context)


# --- chart data ---------------------------------------------------------------------------


def _plausible(moment: datetime) -> datetime:
    if not 2000 <= moment.year <= 2199:
        raise ValueError("time must lie between the years 2000 and 2199")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]


@router.get("/devices/{device_id}/series.json")
def device_series(
    device_id: ObjectId,
    access: Reader,
    metric: Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$")],
    start: Annotated[Moment | None, Query(alias="from")] = None,
    end: Annotated[Moment | None, Query(alias="to")] = None,
) -> JSONResponse:
    """One metric of a device over [from, to): raw points for windows up to two days,
    hourly rollups up to three months, daily rollups beyond."""
    device = get_visible(access.db, Device, device_id, "device")
    spec = q.type_specs(access.db).get(device.type_key)
    key = next((key for key in q.chartable_keys(spec) if key.key == metric), None)
    if key is None:
        raise not_found("metric")
    end = end or clock.now()
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        raise invalid("`from` must lie before `to`.")
    if end - start > MAX_WINDOW:
        raise invalid("A chart covers at most three years.")
    time_zone = q.tenant_zone(access.db, device.tenant_id, access.settings.default_time_zone)
    drawn = q.series(access.db, device, key, start, end, time_zone)
    return JSONResponse({
        "device_id": device.id, "metric": key.key, "kind": key.kind.value, "unit": key.unit,
        "from": start.isoformat(), "to": end.isoformat(), "time_zone": time_zone,
        "resolution": drawn.resolution, "times": drawn.times, "values": drawn.values,
        "min": drawn.minimum, "max": drawn.maximum, "marks": drawn.marks,
        "mark_counts": drawn.mark_counts,
    }, headers={"Cache-Control": "no-store"})
