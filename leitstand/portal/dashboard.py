"""Portal pages: the start dashboard, KPI tiles that follow the fleet live.

The tiles (and the lists of troubled devices and recent events) are one fragment, `/dashboard/tiles`. The page's script listens to the live
stream and, when devices change, asks for the fragment again (debounced), so the tiles
always show the server's counts rather than numbers patched together in the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from leitstand import i18n
from leitstand.permissions import Permission
from leitstand.portal import dashboard_queries as figures
from leitstand.portal import devices_queries, sites_queries
from leitstand.portal.pages import page, render
from leitstand.web.deps import Access

router = APIRouter()
Viewer = Annotated[Access, page(Permission.site_read)]


def _live_figures(request: Request, access: Access) -> dict[str, Any]:
    """Everything that changes with the fleet. Each figure reads through the scope of its own
    permission; one the user may not read is left out (None)."""
    language = i18n.negotiate(request, access.principal.language)
    with ExitStack() as stack:
        devices_db = sites_queries.session_for(access, Permission.device_read, stack)
        licenses_db = sites_queries.session_for(access, Permission.license_read, stack)
        return {
            "sites": sites_queries.count_top_sites(access.db),
            "devices": sites_queries.device_counts(devices_db) if devices_db else None,
            "error_reports": figures.error_reports_by_severity(devices_db) if devices_db else None,
            "licenses": figures.expiring_licenses(licenses_db) if licenses_db else None,
            "expiry_days": figures.EXPIRY_WINDOW_DAYS,
            "problem_devices": figures.problem_devices(devices_db) if devices_db else None,
            "recent_events": figures.recent_events(devices_db) if devices_db else None,
            "event_label": _event_labeller(devices_db, language),
            "when": sites_queries.time_formatter(access.settings.default_time_zone, language),
        }


def _event_labeller(db: Session | None, language: str) -> Callable[[figures.RecentEvent], str]:
    specs = devices_queries.type_specs(db) if db is not None else {}
    return lambda event: devices_queries.event_label(event.kind, event.code, specs.get(event.type_key), language)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, access: Viewer) -> HTMLResponse:
    return render(request, "dashboard/index.html", _live_figures(request, access))


@router.get("/dashboard/tiles", response_class=HTMLResponse)
def live_part(request: Request, access: Viewer) -> HTMLResponse:
    """The tiles and lists alone, for the live refresh."""
    return render(request, "dashboard/_live.html", _live_figures(request, access))
