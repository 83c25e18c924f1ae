"""Onboarding routes: claim a device, rotate its credentials, decommission it, import stock.

See leitstand.devices.claiming for what each step means, and leitstand.fleet.claiming for
the steps that touch the device's licence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.formparsers import MultiPartException, MultiPartParser

from leitstand.devices.claiming import (
    IMPORT_COLUMNS,
    LABEL_SEPARATOR,
    MAX_IMPORT_BYTES,
    MAX_IMPORT_ROWS,
    CsvRejected,
    ImportReport,
    announce_credentials,
    import_devices,
    rotate_credentials,
)
from leitstand.devices.models import Device, DeviceCredential
from leitstand.devices.schemas import ClaimSecret, DevicePublic, SerialNumber
from leitstand.fleet.claiming import claim_device, decommission
from leitstand.licenses.api import present as present_license
from leitstand.licenses.schemas import LicensePublic
from leitstand.permissions import Permission
from leitstand.tenancy.models import Tenant
from leitstand.web.crud import get_visible
from leitstand.web.deps import Access, requires
from leitstand.web.errors import (
    Message, Problem, ProblemDetail, invalid, problem_content, problem_response, reader_language, throttled_response,
)
from leitstand.web.bodies import only_file, read_capped, too_large
from leitstand.web.types import MAX_ID, Input, Name, ObjectId, Public, RefId

router = APIRouter(prefix="/devices", tags=["onboarding"])
Writer = Annotated[Access, requires(Permission.device_write)]


class ClaimRequest(Input):
    serial_number: SerialNumber
    claim_secret: ClaimSecret = Field(description="From the device's label (QR code LS1:<serial>:<claim secret>).")
    tenant_id: RefId = Field(description="The tenant that will own the device.")
    site_id: RefId = Field(description="Where the device stands: a site of that tenant or of one above it.")
    name: Name | None = Field(None, description="A new name; the imported one is kept if omitted.")


class IssuedCredential(Public):
    """A device's login, shown once. MQTT: username and password. HTTP ingest:
    `Authorization: Bearer <username>:<secret>`."""

    device_id: int
    username: str
    secret: str = Field(description="Shown once; only its SHA-256 hash is stored.")
    created_at: datetime


class ClaimResult(BaseModel):
    device: DevicePublic
    credential: IssuedCredential
    license: LicensePublic


class ImportRowPublic(BaseModel):
    row: int = Field(description="As a spreadsheet numbers it: the header is row 1.")
    serial_number: str
    status: Literal["ok", "error"]
    message: str
    device_id: int | None = None
    claim_secret: str | None = Field(None, description="Only when generated (the cell was empty): shown once, for the label.")


class ImportReportPublic(BaseModel):
    tenant_id: int
    dry_run: bool
    imported: bool = Field(description="False for a dry run; with errors, nothing is imported (422).")
    total: int
    failed: int
    rows: list[ImportRowPublic]


class ImportProblem(ProblemDetail):
    report: ImportReportPublic | None = Field(None, description="Every row with its outcome, when the rows could be read.")


def _issued(device: Device, credential: DeviceCredential, secret: str) -> IssuedCredential:
    return IssuedCredential(device_id=device.id, username=credential.username, secret=secret, created_at=credential.created_at)


def _credentials_changed(request: Request, serial: str, secret: str | None) -> None:
    """After the commit: ingest must not serve a stale cached device, the broker must learn."""
    ingestor = getattr(request.app.state, "ingestor", None)
    if ingestor is not None:
        ingestor.directory.forget(serial)
    announce_credentials(request.app.state.session_factory, serial, secret)


@router.post("/claim", response_model=ClaimResult, status_code=201,
             responses={429: throttled_response("Too many wrong claim secrets from your organisation, for this serial "
                                                "number or for all; wait for Retry-After seconds")})
def claim(body: ClaimRequest, request: Request, access: Writer) -> ClaimResult:
    """Claim ("activate") a device: prove possession with its claim secret, bind it to a
    tenant and site, and receive its credentials (shown once). Its license starts today.

    An unknown serial number and a wrong secret both answer 404. The device must be in
    the stock of the target tenant or of a tenant above it.
    """
    claimed = claim_device(
        access.db, access.settings, serial_number=body.serial_number, claim_secret=body.claim_secret,
        tenant_id=body.tenant_id, site_id=body.site_id, claimer_tenant_id=access.principal.tenant_id, name=body.name,
    )
    result = ClaimResult(
        device=DevicePublic.model_validate(claimed.device),
        credential=_issued(claimed.device, claimed.credential, claimed.secret),
        license=present_license(claimed.license),
    )
    access.db.commit()
    _credentials_changed(request, claimed.device.serial_number, claimed.secret)
    return result


@router.post("/{device_id}/credentials", response_model=IssuedCredential, status_code=201)
def rotate(device_id: ObjectId, request: Request, access: Writer) -> IssuedCredential:
    """Issue new credentials (shown once); the old ones stop working at once."""
    device = get_visible(access.db, Device, device_id, "device")
    credential, secret = rotate_credentials(access.db, device)
    issued = _issued(device, credential, secret)
    access.db.commit()
    _credentials_changed(request, device.serial_number, secret)
    return issued


@router.post("/{device_id}/decommission", response_model=DevicePublic)
def decommission_device(device_id: ObjectId, request: Request, access: Writer) -> DevicePublic:
    """Take the device out of service: its credentials are revoked, and its license no
    longer renews. Repeating it changes nothing. The device and its data stay."""
    device = get_visible(access.db, Device, device_id, "device")
    changed = decommission(access.db, device)
    access.db.commit()
    if changed:
        _credentials_changed(request, device.serial_number, None)
    return DevicePublic.model_validate(device)


# --- bulk import -------------------------------------------------------------------------

CSV_MEDIA_TYPES = frozenset({"text/csv", "text/plain", "application/csv", "application/vnd.ms-excel"})
IMPORT_BODY = {
    "required": True,
    "description": (
        f"CSV with a header line naming columns from {', '.join(IMPORT_COLUMNS)} (serial_number and type_key "
        f"required), comma- or semicolon-separated, UTF-8. labels: several separated by '{LABEL_SEPARATOR}'. "
        f"claim_secret: empty to generate one. At most {MAX_IMPORT_ROWS} rows and {MAX_IMPORT_BYTES // 1024} KiB. "
        "Send it as the body (text/csv) or as the form field `file` (multipart/form-data)."
    ),
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"],
                       "additionalProperties": False},
        },
    },
}


async def _csv_from(request: Request) -> bytes:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in CSV_MEDIA_TYPES:
        return await read_capped(request, MAX_IMPORT_BYTES)
    if media_type == "multipart/form-data":
        # Some room for the multipart framing around the file.
        body = await read_capped(request, MAX_IMPORT_BYTES + 16 * 1024)

        async def once() -> Any:
            yield body

        try:
            form = await MultiPartParser(request.headers, once(), max_files=1, max_fields=10).parse()
        except (MultiPartException, ValueError, KeyError) as error:
            raise Problem(400, "bad-request", "Bad request",
                          Message("The multipart body cannot be read: %(reason)s", reason=error)) from error
        try:
            data = await only_file(form, "file", "the CSV file").read()
        finally:
            await form.close()
        if len(data) > MAX_IMPORT_BYTES:
            raise too_large(MAX_IMPORT_BYTES)
        return data
    raise Problem(415, "unsupported-media-type", "Unsupported media type", "Send text/csv or multipart/form-data.")


def _report(report: ImportReport) -> ImportReportPublic:
    return ImportReportPublic(
        tenant_id=report.tenant_id, dry_run=report.dry_run, imported=report.imported, total=len(report.rows),
        failed=report.failed, rows=[ImportRowPublic.model_validate(row, from_attributes=True) for row in report.rows],
    )


def _import(access: Access, tenant_id: int, data: bytes, dry_run: bool) -> ImportReportPublic:
    tenant = get_visible(access.db, Tenant, tenant_id, "tenant")
    try:
        report = import_devices(access.db, access.session_factory, tenant, data, dry_run=dry_run)
    except CsvRejected as error:
        raise invalid(str(error)) from error
    if report.imported:
        access.db.commit()
    return _report(report)


@router.post(
    "/import", response_model=ImportReportPublic, status_code=201, openapi_extra={"requestBody": IMPORT_BODY},
    responses={
        200: {"description": "Dry run: every row checked, nothing stored", "model": ImportReportPublic},
        413: {"description": "The file is too large", "content": problem_content()},
        415: {"description": "Neither text/csv nor multipart/form-data", "content": problem_content()},
        422: {"description": "Rows with errors (nothing imported; the report lists every row), or an unreadable file",
              "model": ImportProblem,
              "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ImportProblem"}}}},
    },
)
async def import_csv(
    request: Request,
    access: Writer,
    tenant_id: Annotated[int, Query(ge=1, le=MAX_ID, description="The tenant whose stock the devices become.")],
    dry_run: Annotated[bool, Query(description="Check every row, store nothing.")] = False,
) -> Any:
    """Register devices in bulk from CSV, unclaimed, as stock of a tenant.

    All or nothing: every row is checked (format, known device type, serial number not
    registered or repeated, site visible and of the right organisation), and the devices
    are stored only if every row passes. The report lists each row with its number.
    """
    data = await _csv_from(request)
    report = await run_in_threadpool(_import, access, tenant_id, data, dry_run)
    if report.failed:
        return problem_response(
            422, "import-rejected", "Import rejected",
            Message("%(failed)s of %(total)s rows have errors; nothing was imported.", failed=report.failed, total=report.total),
            language=reader_language(request), report=report.model_dump(mode="json"),
        )
    return JSONResponse(report.model_dump(mode="json"), status_code=200 if dry_run else 201)

