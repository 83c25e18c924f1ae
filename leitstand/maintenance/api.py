"""JSON API of maintenance: plans, the traffic light, the inspection book with attachments,
its PDF, and the service history."""

from __future__ import annotations

from datetime import date, timedelta
from collections.abc import AsyncIterator
from contextlib import closing
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.formparsers import MultiPartException, MultiPartParser

from leitstand.access.rules import path_within
from leitstand.accounts.models import User
from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.maintenance import book, queries, service
from leitstand.maintenance.due_alarms import sync_due_alarms
from leitstand.maintenance.models import InspectionAttachment, InspectionEntry, MaintenancePlan
from leitstand.maintenance.pdf import BookContents, render_book
from leitstand.maintenance.schemas import (
    AttachmentPublic,
    BoardDevice,
    DeviceStatus,
    EntryCreate,
    EntryPublic,
    EntryUpdate,
    HistoryItem,
    LightCounts,
    PlanCreate,
    PlanPublic,
    PlanUpdate,
    SiteStatus,
)
from leitstand.maintenance.traffic_light import Light, light_counts
from leitstand.permissions import Permission
from leitstand.sites.locations import location_path, nearest_address
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant
from leitstand.web.bodies import only_file, too_large
from leitstand.web.crud import Resource, get_visible, read_page, resource_routes
from leitstand.web.deps import Access, requires
from leitstand.web.downloads import content_disposition
from leitstand.web.errors import Message, Problem, invalid, invalid_combination, not_found, problem_content
from leitstand.web.types import ContractDate, FilterId, Limit, ObjectId, Offset, Page, PageRequest

router = APIRouter(prefix="/maintenance", tags=["maintenance"])
Reader = Annotated[Access, requires(Permission.maintenance_read)]
Writer = Annotated[Access, requires(Permission.maintenance_write)]
From = Annotated[ContractDate | None, Query(alias="from", description=(
    "First day, in the years 2000 to 2199; not after `to`. Default: a year before `to`."))]
To = Annotated[ContractDate | None, Query(alias="to", description="Last day, in the years 2000 to 2199. Default: today.")]
TypeKey = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
LightFilter = Annotated[Light | None, Query(description="Only devices with this light: 0 green, 1 yellow, 2 red.")]


def _period(start: date | None, end: date | None) -> tuple[date, date]:
    end = end or clock.now().date()
    start = start or end - timedelta(days=365)
    if start > end:
        raise invalid_combination("range_order", "`from` lies after `to`.", "from", "to")
    return start, end


def _commit(access: Access, device_id: int) -> None:
    """Commit a change to a device's plans or book, with its maintenance alarms brought in line."""
    access.db.flush()
    sync_due_alarms(access.db, device_id)
    access.db.commit()


# --- plans ---------------------------------------------------------------------------------


@router.get("/devices/{device_id}/plans", response_model=list[PlanPublic])
def list_plans(device_id: ObjectId, access: Reader) -> list[PlanPublic]:
    device = get_visible(access.db, Device, device_id, "device")
    return queries.plans_of(access.db, device.id)


@router.post("/devices/{device_id}/plans", response_model=PlanPublic, status_code=201)
def create_plan(device_id: ObjectId, body: PlanCreate, access: Writer) -> PlanPublic:
    device = get_visible(access.db, Device, device_id, "device")
    values = body.model_dump(exclude_none=True)
    if values.get("checklist") is None:
        values.pop("checklist", None)
    plan = service.new_plan(access.db, device, values)
    _commit(access, device.id)
    return queries.plan_public(access.db, plan)


@router.post("/devices/{device_id}/plans/defaults", response_model=list[PlanPublic], status_code=201)
def apply_default_plans(device_id: ObjectId, access: Writer) -> list[PlanPublic]:
    """Add the plans the device's type suggests (defaults.toml) that the device lacks."""
    device = get_visible(access.db, Device, device_id, "device")
    created = service.apply_defaults(access.db, device)
    _commit(access, device.id)
    return [queries.plan_public(access.db, plan) for plan in created]


def _change_plan(db: Session, plan: MaintenancePlan, body: PlanUpdate) -> None:
    changes = body.model_dump(exclude_unset=True)
    if plan.kind == "interval" and changes.get("last_done_on", plan.last_done_on) is None:
        raise invalid("An interval plan needs the date its period starts at.")
    service.update_plan(db, plan, changes)


# Plans are listed per device (above); one plan is changed or deleted by its own id.
PLANS = Resource(
    model=MaintenancePlan, what="maintenance plan", key="plan_id", public=PlanPublic, patch=PlanUpdate,
    reader=Reader, writer=Writer, present=queries.plan_public, change=_change_plan,
    commit=lambda access, plan: _commit(access, plan.device_id),
)
resource_routes(router, PLANS, item="/plans/{plan_id}", names={"patch": "update_plan", "delete": "delete_plan"})


# --- traffic light -------------------------------------------------------------------------


@router.get("/devices/{device_id}/status", response_model=DeviceStatus)
def device_status(device_id: ObjectId, access: Reader) -> DeviceStatus:
    device = get_visible(access.db, Device, device_id, "device")
    plans = queries.plans_of(access.db, device.id)
    lights = [Light[plan.light] for plan in plans if plan.light]
    return DeviceStatus(device_id=device.id, light=max(lights).name if lights else None, plans=plans,
                        checklist=service.checklist_for(device.type_key))


@router.get("/sites/{site_id}/status", response_model=SiteStatus)
def site_status(site_id: ObjectId, access: Reader) -> SiteStatus:
    """The worst light of the devices at the site and below, and how many devices have each."""
    site = get_visible(access.db, Site, site_id, "site")
    counts = queries.counts_below(access.db, site)
    worst = max((light for light, count in counts.items() if count), default=None)
    return SiteStatus(site_id=site.id, light=worst.name if worst is not None else None,
                      devices=LightCounts(**{light.name: count for light, count in counts.items()}))


@router.get("/summary", response_model=LightCounts)
def summary(access: Reader) -> LightCounts:
    """Visible devices with maintenance plans, by their light."""
    return LightCounts(**{light.name: count for light, count in light_counts(access.db).items()})


@router.get("/devices", response_model=Page[BoardDevice])
def board(
    access: Reader,
    site_id: FilterId = None,
    type_key: TypeKey = None,
    light: LightFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[BoardDevice]:
    """Devices with plans, worst light first, then by next due date: the maintenance board."""
    site = get_visible(access.db, Site, site_id, "site") if site_id is not None else None
    return read_page(access.db, queries.board_query(access.db, site=site, type_key=type_key, light=light),
                     PageRequest(limit, offset), queries.board_device)


# --- the inspection book -------------------------------------------------------------------


def _technician(db: Session, access: Access, body: EntryCreate) -> tuple[int | None, str]:
    if body.technician_user_id is not None:
        # A user of the same organisation tree the writer can see; the user scope decides.
        user = None
        if access.has(Permission.user_read):
            with closing(access.scoped_for(Permission.user_read)) as users:
                user = users.get(User, body.technician_user_id)
                name = user.display_name if user else ""
        if user is None and body.technician_user_id != access.principal.user_id:
            raise invalid("The technician user is unknown or not visible to you.")
        name = body.technician_name or (name if user else access.principal.display_name)
        return body.technician_user_id, name
    if body.technician_name:
        return None, body.technician_name
    return access.principal.user_id, access.principal.display_name


@router.get("/devices/{device_id}/entries", response_model=list[EntryPublic])
def list_entries(device_id: ObjectId, access: Reader, start: From = None, end: To = None) -> list[EntryPublic]:
    device = get_visible(access.db, Device, device_id, "device")
    return queries.entries_public(access.db, queries.entries_of(access.db, device.id, *_period(start, end)))


@router.post("/devices/{device_id}/entries", response_model=EntryPublic, status_code=201)
def create_entry(device_id: ObjectId, body: EntryCreate, access: Writer) -> EntryPublic:
    """Record an inspection. Plans named in completed_plan_ids start a new period on its day."""
    device = get_visible(access.db, Device, device_id, "device")
    user_id, name = _technician(access.db, access, body)
    values = body.model_dump(exclude={"technician_user_id", "technician_name"}, mode="python")
    values["checklist"] = [item.model_dump(mode="json") for item in body.checklist]
    values.update(technician_user_id=user_id, technician_name=name)
    try:
        entry = service.record_inspection(access.db, device, values, access.principal.user_id)
    except service.PlanNotOfDevice as error:
        raise invalid(str(error)) from error
    _commit(access, device.id)
    return queries.entries_public(access.db, [entry])[0]


def _entry_public(db: Session, entry: InspectionEntry) -> EntryPublic:
    return queries.entries_public(db, [entry])[0]


def _change_entry(db: Session, entry: InspectionEntry, body: EntryUpdate) -> None:
    for field, value in body.model_dump(exclude_unset=True, mode="json").items():
        if value is not None:
            setattr(entry, field, date.fromisoformat(value) if field == "performed_on" else value)


# An entry's deletion stays hand-written below: its attachments' files go once the rows are gone.
ENTRIES = Resource(
    model=InspectionEntry, what="inspection entry", key="entry_id", public=EntryPublic, patch=EntryUpdate,
    reader=Reader, writer=Writer, present=_entry_public, change=_change_entry,
)
resource_routes(router, ENTRIES, item="/entries/{entry_id}", names={"get": "get_entry", "patch": "update_entry"})


@router.delete("/entries/{entry_id}", status_code=204)
def delete_entry(entry_id: ObjectId, access: Writer) -> Response:
    """Delete an entry and its attachments. Plans it completed keep their current due points."""
    entry = get_visible(access.db, InspectionEntry, entry_id, "inspection entry")
    attachments = book.attachments_of(access.db, [entry.id])[entry.id]
    for attachment in attachments:
        access.db.delete(attachment)
    access.db.delete(entry)
    access.db.commit()
    book.remove_files(access.settings, attachments)
    return Response(status_code=204)


# --- attachments ---------------------------------------------------------------------------

UPLOAD_BODY = {
    "required": True,
    "description": f"The file in the form field `file`: {book.ACCEPTED_TYPES}, decided by its content.",
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"],
        "additionalProperties": False,  # the parser takes one file and a few fields at most
    }}},
}


async def _uploaded_file(request: Request, limit: int) -> tuple[str, bytes]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise Problem(415, "unsupported-media-type", "Unsupported media type", "Send the file as multipart/form-data.")
    declared = request.headers.get("content-length", "")
    framing = 64 * 1024  # room for the multipart boundaries and headers around the file
    if declared.isdigit() and int(declared) > limit + framing:
        raise too_large(limit)
    async def capped() -> AsyncIterator[bytes]:
        # A body without (or with a false) Content-Length is cut off as soon as it is too large.
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit + framing:
                raise too_large(limit)
            yield chunk

    try:
        form = await MultiPartParser(request.headers, capped(), max_files=1, max_fields=5,
                                     max_part_size=1024 * 1024).parse()
    except (MultiPartException, ValueError, KeyError) as error:
        raise Problem(400, "bad-request", "Bad request",
                      Message("The multipart body cannot be read: %(reason)s", reason=error)) from error
    try:
        upload = only_file(form, "file", "the file")
        data = await upload.read(limit + 1)
        return upload.filename or "attachment", data
    finally:
        await form.close()


def _entry_for_upload(access: Access, entry_id: int) -> InspectionEntry:
    return get_visible(access.db, InspectionEntry, entry_id, "inspection entry")


def _store(access: Access, entry: InspectionEntry, file_name: str, data: bytes) -> AttachmentPublic:
    try:
        attachment = book.store_attachment(access.db, access.settings, entry, file_name, data)
    except book.AttachmentRefused as error:
        if error.too_large:
            raise too_large(book.max_attachment_bytes(access.settings)) from error
        raise Problem(415, "unsupported-media-type", "Unsupported file type", error.text) from error
    access.db.commit()
    return AttachmentPublic.model_validate(attachment)


@router.post(
    "/entries/{entry_id}/attachments", response_model=AttachmentPublic, status_code=201,
    openapi_extra={"requestBody": UPLOAD_BODY},
    responses={413: {"description": "The file is too large", "content": problem_content()},
               415: {"description": "Not a PDF, PNG, JPEG or WebP file, or not multipart", "content": problem_content()}},
)
async def upload_attachment(entry_id: ObjectId, request: Request, access: Writer) -> AttachmentPublic:
    """Attach a PDF or photo to an inspection entry (at most the installation's limit, 10 MiB by default)."""
    # The entry is looked up first: another tenant's entry is a 404 before any upload is read.
    entry = await run_in_threadpool(_entry_for_upload, access, entry_id)
    file_name, data = await _uploaded_file(request, book.max_attachment_bytes(access.settings))
    return await run_in_threadpool(_store, access, entry, file_name, data)


@router.get(
    "/attachments/{attachment_id}", response_class=Response,
    responses={200: {"description": "The file as uploaded.",
                     "content": {"application/pdf": {}, "image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
)
def download_attachment(attachment_id: ObjectId, access: Reader) -> Response:
    attachment = get_visible(access.db, InspectionAttachment, attachment_id, "attachment")
    data = book.read_attachment(access.settings, attachment)
    if data is None:
        raise not_found("attachment file (missing or changed since upload)")
    return Response(data, media_type=attachment.media_type, headers={
        "Content-Disposition": content_disposition(attachment.file_name),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    })


def _commit_removal(access: Access, attachment: InspectionAttachment) -> None:
    access.db.commit()
    book.remove_files(access.settings, [attachment])  # only once the row is gone for good


ATTACHMENTS = Resource(
    model=InspectionAttachment, what="attachment", key="attachment_id", public=AttachmentPublic,
    reader=Reader, writer=Writer, commit=_commit_removal,
)
resource_routes(router, ATTACHMENTS, item="/attachments/{attachment_id}", names={"delete": "delete_attachment"})


# --- the book as PDF, and the history --------------------------------------------------------


def _zone_of(db: Session, device: Device, access: Access) -> str:
    tenant = db.get(Tenant, device.tenant_id)
    return tenant.time_zone if tenant else access.settings.default_time_zone


@router.get(
    "/devices/{device_id}/book.pdf", response_class=Response,
    responses={200: {"description": "The inspection book of the period.", "content": {"application/pdf": {}}}},
)
def book_pdf(device_id: ObjectId, access: Reader, start: From = None, end: To = None,
             language: Annotated[str | None, Query(pattern=r"^(de|en)$")] = None) -> Response:
    """The device's inspection entries of the period with checklists, findings, signatures and
    plan status, in the user's language (or `language`)."""
    db = access.db
    device = get_visible(db, Device, device_id, "device")
    period = _period(start, end)
    entries = queries.entries_of(db, device.id, *period)
    attachments = book.attachments_of(db, [entry.id for entry in entries])
    plan_rows = queries.plans_with_lights(db, device.id)
    site = db.get(Site, device.site_id) if device.site_id else None
    contents = BookContents(
        device_name=device.name, serial_number=device.serial_number,
        site_name=(location_path(db, site.id) or site.name) if site else "",
        site_address=nearest_address(db, site) if site else "",
        period=period, plans=plan_rows, entries=[(entry, attachments[entry.id]) for entry in entries],
        created_at=clock.now(), time_zone=_zone_of(db, device, access),
    )
    data = render_book(contents, language or access.principal.language)
    name = f"inspection-book-{device.name}-{device.serial_number}-{period[0].isoformat()}-{period[1].isoformat()}.pdf"
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": content_disposition(name)})


@router.get("/devices/{device_id}/history", response_model=list[HistoryItem])
def device_history(device_id: ObjectId, access: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[HistoryItem]:
    """Inspections and maintenance alarms of the device, newest first."""
    device = get_visible(access.db, Device, device_id, "device")
    return queries.history(access.db, device_ids=select(Device.id).where(Device.id == device.id), limit=limit,
                           language=access.principal.language)


@router.get("/sites/{site_id}/history", response_model=list[HistoryItem])
def site_history(site_id: ObjectId, access: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[HistoryItem]:
    """Inspections and maintenance alarms of every visible device at the site and below, newest first."""
    site = get_visible(access.db, Site, site_id, "site")
    below = select(Device.id).where(Device.site_id.in_(select(Site.id).where(path_within(Site.path, site.path))))
    return queries.history(access.db, device_ids=below, limit=limit, language=access.principal.language)

