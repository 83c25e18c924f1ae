"""Portal page: data export. An admin starts an export of a tenant they administer, watches its
progress (the job list refreshes itself by htmx while a job runs) and downloads the zip. The
page also lists what no export carries and how each kind is issued anew after an import.

Starting goes through the JSON API (POST /api/v1/exports); downloads are the API's download
route. The page reads with the same permission as the API: tenant.write.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from leitstand.dataexport import jobs
from leitstand.dataexport.manifest import NOT_CARRIED
from leitstand.dataexport.models import ExportJob, ExportState
from leitstand.permissions import Permission
from leitstand.portal.devices_queries import tenant_zone
from leitstand.portal.pages import page, render
from leitstand.tenancy.models import Tenant
from leitstand.web.deps import Access

router = APIRouter(prefix="/exports")
Exporter = Annotated[Access, page(Permission.tenant_write)]
SHOWN_JOBS = 50


def _jobs_context(access: Access) -> dict[str, object]:
    rows = list(access.db.scalars(select(ExportJob).order_by(ExportJob.id.desc()).limit(SHOWN_JOBS)))
    names = dict(access.db.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_({job.tenant_id for job in rows}))).all())
    shown = [(job, *jobs.effective_state(job)) for job in rows]
    running = any(state in (ExportState.queued, ExportState.running) for _, state, _ in shown)
    return {"jobs": shown, "tenant_names": names, "running": running,
            "time_zone": tenant_zone(access.db, access.principal.tenant_id, access.settings.default_time_zone)}


@router.get("", response_class=HTMLResponse)
def exports_page(request: Request, access: Exporter) -> HTMLResponse:
    tenants = list(access.db.scalars(select(Tenant).order_by(Tenant.path)))
    return render(request, "dataexport/index.html",
                  {"tenants": tenants, "not_carried": NOT_CARRIED, **_jobs_context(access)})


@router.get("/jobs", response_class=HTMLResponse)
def exports_fragment(request: Request, access: Exporter) -> HTMLResponse:
    """The job list alone, for htmx: refreshed every few seconds while a job runs."""
    return render(request, "dataexport/_jobs.html", _jobs_context(access))
