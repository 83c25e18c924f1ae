"""JSON API of data export: start an export of a tenant subtree, watch it, download the zip.

Permission: tenant.write on the exported tenant. An export holds everything of the subtree
(users, audit log, documents), so it is for whoever administers that tenant; the job reads
through that admin's scope, and another tenant's id is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import FileResponse
from sqlalchemy import select

from leitstand.audit.recorder import current_actor, record
from leitstand.clock import clock
from leitstand.dataexport import jobs
from leitstand.dataexport.export import default_file_name
from leitstand.dataexport.manifest import not_carried_json
from leitstand.dataexport.models import ExportJob, ExportState
from leitstand.dataexport.schemas import ExportCreate, ExportDetail, ExportPublic
from leitstand.permissions import Permission
from leitstand.tenancy.models import Tenant
from leitstand.web.crud import get_visible, read_page
from leitstand.web.deps import Access, requires
from leitstand.web.downloads import content_disposition
from leitstand.web.errors import Problem, not_found
from leitstand.web.types import FilterId, Limit, ObjectId, Offset, Page, PageRequest

router = APIRouter(prefix="/exports", tags=["data export"])
Exporter = Annotated[Access, requires(Permission.tenant_write)]


def present(job: ExportJob) -> ExportPublic:
    public = ExportPublic.model_validate(job)
    state, error = jobs.effective_state(job)
    return public.model_copy(update={"state": state, "error": error})


def detail(job: ExportJob) -> ExportDetail:
    return ExportDetail.model_validate({**present(job).model_dump(), "not_carried": not_carried_json()})


@router.post("", response_model=ExportDetail, status_code=202)
def start_export(body: ExportCreate, access: Exporter) -> ExportDetail:
    """Export the tenant and everything below it, in the background. Poll the job for progress."""
    tenant = get_visible(access.db, Tenant, body.tenant_id, "tenant")
    job = ExportJob(tenant_id=tenant.id, requested_by_id=access.principal.user_id, state=ExportState.queued,
                    file_name=default_file_name(tenant, clock.now()))
    access.db.add(job)
    access.db.flush()
    record(access.db, "data_export.requested", tenant_id=tenant.id, target_type="export_jobs", target_id=job.id)
    access.db.commit()
    jobs.start(access.session_factory, access.settings, job, access.scope, current_actor.get())
    return detail(job)


@router.get("", response_model=Page[ExportPublic])
def list_exports(access: Exporter, tenant_id: FilterId = None, limit: Limit = 50, offset: Offset = 0) -> Page[ExportPublic]:
    statement = select(ExportJob).order_by(ExportJob.id.desc())
    if tenant_id is not None:
        statement = statement.where(ExportJob.tenant_id == tenant_id)
    return read_page(access.db, statement, PageRequest(limit, offset), present)


@router.get("/{export_id}", response_model=ExportDetail)
def get_export(export_id: ObjectId, access: Exporter) -> ExportDetail:
    """The job; `not_carried` lists what the zip leaves behind and how each kind is issued anew."""
    return detail(get_visible(access.db, ExportJob, export_id, "export"))


@router.get("/{export_id}/download", response_class=FileResponse,
            responses={200: {"description": "The export zip.", "content": {"application/zip": {}}}})
def download_export(export_id: ObjectId, access: Exporter) -> FileResponse:
    job = get_visible(access.db, ExportJob, export_id, "export")
    if jobs.effective_state(job)[0] != ExportState.done:
        raise Problem(409, "conflict", "Not ready", "The export is not finished (or failed); see its state.")
    path = jobs.job_file(access.settings, job)
    if not path.is_file():
        raise not_found("export file (removed)")
    record(access.db, "data_export.downloaded", tenant_id=job.tenant_id, target_type="export_jobs", target_id=job.id)
    access.db.commit()
    return FileResponse(path, media_type="application/zip", headers={
        "Content-Disposition": content_disposition(job.file_name), "X-Content-SHA256": job.sha256 or ""})
