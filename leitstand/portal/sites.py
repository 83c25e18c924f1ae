"""Portal pages: sites on a map and in a list, and one site with its buildings, rooms and devices.

- `/sites`: the map (markers from `/sites/map.json`) and the searchable list, whose rows
  come from the `/sites/list` fragment (HTMX live search).
- `/sites/{id}`: breadcrumb, the tree below the site, its devices and aggregates.

Sites are read with `site.read`; the devices and their health with `device.read`
(sessions of both scopes), so a site shows only devices the user may see.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from leitstand import i18n
from leitstand.permissions import Permission
from leitstand.portal import sites_queries as q
from leitstand.portal.listing import CsvColumn, csv_download, export_link
from leitstand.portal.listing import msgid as _
from leitstand.portal.pages import page, page_language, render
from leitstand.sites.locations import location_paths
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant
from leitstand.web.deps import Access
from leitstand.web.errors import not_found
from leitstand.web.types import Offset, PageRequest

router = APIRouter()
Viewer = Annotated[Access, page(Permission.site_read)]
SearchText = Annotated[str, Query(max_length=100)]


def _filter(text: str, health: str, group: str) -> q.SiteFilter:
    # The filter's <select>s send "" for "any"; an unknown value means "any" as well.
    return q.SiteFilter(
        text=text.strip(), health=q.Health(health) if health in q.Health.__members__ else None,
        group_id=int(group) if group.isdigit() else None,
    )


def _list_context(request: Request, access: Access, chosen: q.SiteFilter, paging: PageRequest) -> dict[str, Any]:
    sort = q.SITE_SORT.chosen(request)
    with ExitStack() as stack:
        devices_db = q.session_for(access, Permission.device_read, stack)
        found = q.top_sites_page(access.db, devices_db, chosen, paging, sort)
    return {
        "rows": found.items, "paging": found,
        "locations": location_paths(access.db, [row.site.id for row in found.items]), "total": found.total,
        "chosen": chosen, "show_devices": devices_db is not None,
        "sort": sort, "export_href": export_link(request, "/sites/export.csv"),
    }


# The list's page: `offset` as every list's pager sends it; `page` (a number) as older links did.
PageNumber = Annotated[int | None, Query(alias="page", ge=1, le=10_000_000 // q.PAGE_SIZE)]  # as far as Offset goes


@router.get("/sites", response_class=HTMLResponse)
def sites_page(
    request: Request, access: Viewer, text: Annotated[SearchText, Query(alias="q")] = "",
    health: str = "", group: str = "", offset: Offset = 0, page_number: PageNumber = None,
) -> HTMLResponse:
    context = _list_context(request, access, _filter(text, health, group),
                            PageRequest.numbered(q.PAGE_SIZE, offset, page_number))
    context["groups"] = q.site_groups(access.db)
    context["healths"] = list(q.Health)
    return render(request, "sites/index.html", context)


@router.get("/sites/list", response_class=HTMLResponse)
def sites_list(
    request: Request, access: Viewer, text: Annotated[SearchText, Query(alias="q")] = "",
    health: str = "", group: str = "", offset: Offset = 0, page_number: PageNumber = None,
) -> HTMLResponse:
    """The list's rows and pager alone, for the live search."""
    return render(request, "sites/_list.html", _list_context(
        request, access, _filter(text, health, group), PageRequest.numbered(q.PAGE_SIZE, offset, page_number)))


@router.get("/sites/export.csv")
def sites_export(
    request: Request, access: Viewer, text: Annotated[SearchText, Query(alias="q")] = "",
    health: str = "", group: str = "",
) -> Response:
    """The list as CSV: every top site its filters select, in its order, as the list shows it."""
    gettext = i18n.translations(i18n.negotiate(request, access.principal.language)).gettext
    with ExitStack() as stack:
        devices_db = q.session_for(access, Permission.device_read, stack)
        summaries = q.filtered_top_sites(access.db, devices_db, _filter(text, health, group), q.SITE_SORT.chosen(request))
    columns = [CsvColumn(_("Site"), lambda row: row.site.name), CsvColumn(_("Address"), lambda row: row.address)]
    if devices_db is not None:
        columns.append(CsvColumn(_("Devices"), lambda row: (
            f"{row.counts.online}/{row.counts.total} {gettext('online')}" if row.counts.total else gettext("No devices"))))
    return csv_download(request, access, "sites", _("Sites"), columns, summaries)


@router.get("/sites/map.json")
def sites_map(access: Viewer) -> JSONResponse:
    """Markers for the map: every visible top site with coordinates, with its health."""
    with ExitStack() as stack:
        devices_db = q.session_for(access, Permission.device_read, stack)
        summaries = q.filtered_top_sites(access.db, devices_db, q.SiteFilter())
    return JSONResponse({"markers": q.map_markers(summaries)}, headers={"Cache-Control": "no-store"})


@router.get("/sites/{site_id}", response_class=HTMLResponse)
def site_page(request: Request, access: Viewer, site_id: int) -> HTMLResponse:
    site = access.db.get(Site, site_id)
    if site is None:
        raise not_found("site")
    sites = q.subtree(access.db, site)
    tenant = access.db.get(Tenant, site.tenant_id)
    time_zone = tenant.time_zone if tenant else access.settings.default_time_zone
    context: dict[str, Any] = {
        "site": site, "breadcrumb": q.ancestors(access.db, site), "address": q.SiteSummary(site).address,
        "when": q.time_formatter(time_zone, page_language(request)), "devices": None,
    }
    with ExitStack() as stack:
        devices_db = q.session_for(access, Permission.device_read, stack)
        counts_by_site = q.device_counts_by_site(devices_db, within=site) if devices_db else {}
        context["tree"] = q.child_tree(sites, site, counts_by_site)
        if devices_db is not None:
            devices, total = q.devices_below(devices_db, site)
            by_type = q.counts_by_type(devices_db, site)
            counts = q.StateCounts()
            for node_site in sites:
                counts.add(counts_by_site.get(node_site.id, q.StateCounts()))
            context.update(
                devices=devices, device_total=total, counts=counts, by_type=by_type,
                type_names=q.type_names(devices_db, [key for key, _ in by_type],
                                        i18n.negotiate(request, access.principal.language)),
                climate=q.room_climate(devices_db, devices, time_zone),
            )
    return render(request, "sites/site.html", context)
