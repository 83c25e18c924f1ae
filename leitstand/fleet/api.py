"""Device routes: the fleet, its claim secrets, and sharing with end customers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.clock import clock
from leitstand.db.stored_rows import presentable
from leitstand.devices.models import Device, DeviceShare
from leitstand.devices.queries import DeviceFilter, matching
from leitstand.devices.schemas import (
    DeviceCreate,
    DevicePublic,
    DeviceUpdate,
    DeviceWithSecret,
    ShareCreate,
    SharePublic,
)
from leitstand.devices.service import move_to_tenant, set_claim_secret, site_serves_tenant
from leitstand.devicetypes.models import DeviceType
from leitstand.licenses.models import LicenseStatus
from leitstand.licenses.service import with_license_status
from leitstand.sites.models import Site
from leitstand.telemetry.store import delete_telemetry
from leitstand.tenancy.models import Tenant, TenantKind
from leitstand.permissions import Permission
from leitstand.web.crud import get_visible, read_page
from leitstand.web.deps import Access, requires
from leitstand.web.errors import conflict, invalid, not_found
from leitstand.web.types import FilterId, Limit, ObjectId, Offset, Page, PageRequest, SearchText

router = APIRouter(prefix="/devices", tags=["devices"])
Reader = Annotated[Access, requires(Permission.device_read)]
Writer = Annotated[Access, requires(Permission.device_write)]


@router.get("", response_model=Page[DevicePublic])
def list_devices(
    access: Reader,
    tenant_id: FilterId = None,
    site_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="The site and everything below it.")] = None,
    type_key: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$")] = None,
    label: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00-\x1f]*$")] = None,
    license_status: Annotated[LicenseStatus | None, Query()] = None,
    q: SearchText = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[DevicePublic]:
    within_site = None
    if site_id is not None:
        site = access.db.get(Site, site_id)
        if site is None:
            raise not_found("site")
        within_site = site.path
    wanted = DeviceFilter(tenant_id=tenant_id, within_site=within_site, type_key=type_key, label=label, search=q)
    statement = matching(wanted).order_by(Device.name, Device.id)
    if license_status is not None:
        statement = with_license_status(statement, license_status, clock.now().date())
    return read_page(access.db, statement, PageRequest(limit, offset), DevicePublic.model_validate)


@router.post("", response_model=DeviceWithSecret, status_code=201)
def create_device(body: DeviceCreate, access: Writer) -> DeviceWithSecret:
    db = access.db
    tenant = get_visible(db, Tenant, body.tenant_id, "tenant")
    get_visible(db, DeviceType, body.type_key, "device type")
    if body.site_id is not None:
        _check_site(db, get_visible(db, Site, body.site_id, "site"), tenant)
    if db.scalar(select(Device.id).where(Device.serial_number == body.serial_number)) is not None:
        raise conflict("A device with this serial number exists.")
    device = Device(
        tenant_id=tenant.id, type_key=body.type_key, serial_number=body.serial_number,
        name=body.name, site_id=body.site_id, labels=body.labels,
    )
    secret = set_claim_secret(device, body.claim_secret)
    db.add(device)
    db.commit()
    return DeviceWithSecret.model_validate({**DevicePublic.model_validate(device).model_dump(), "claim_secret": secret})


@router.get("/{device_id}", response_model=DevicePublic)
def get_device(device_id: ObjectId, access: Reader) -> Device:
    return get_visible(access.db, Device, device_id, "device")


@router.patch("/{device_id}", response_model=DevicePublic)
def update_device(device_id: ObjectId, body: DeviceUpdate, access: Writer) -> Device:
    """Rename, relabel, move to another site, or hand to another tenant.

    Handing over ends the device's shares and, unless a new site is given, its site.
    """
    db = access.db
    device = get_visible(db, Device, device_id, "device")
    changes = body.model_dump(exclude_unset=True)
    tenant = get_visible(db, Tenant, changes.pop("tenant_id", None) or device.tenant_id, "tenant")
    if tenant.id != device.tenant_id:
        move_to_tenant(db, device, tenant)
        if "site_id" not in changes:
            changes["site_id"] = None
    if changes.get("site_id") is not None:
        _check_site(db, get_visible(db, Site, changes["site_id"], "site"), tenant)
    for field, value in changes.items():
        setattr(device, field, value)
    db.commit()
    return device


def _check_site(db: Session, site: Site, tenant: Tenant) -> None:
    if not site_serves_tenant(db, site, tenant):
        raise invalid("The site belongs to another organisation than the device.")


@router.delete("/{device_id}", status_code=204)
def delete_device(device_id: ObjectId, access: Writer) -> Response:
    """Delete a device with everything recorded about it, its telemetry included."""
    device = get_visible(access.db, Device, device_id, "device")
    delete_telemetry(access.db, device.id)
    access.db.delete(device)
    access.db.commit()
    return Response(status_code=204)


@router.post("/{device_id}/claim-secret", response_model=DeviceWithSecret)
def rotate_claim_secret(device_id: ObjectId, access: Writer) -> DeviceWithSecret:
    """Issue a new claim secret (e.g. for a new label); the old one stops working."""
    device = get_visible(access.db, Device, device_id, "device")
    secret = set_claim_secret(device)
    access.db.commit()
    return DeviceWithSecret.model_validate({**DevicePublic.model_validate(device).model_dump(), "claim_secret": secret})


@router.get("/{device_id}/shares", response_model=list[SharePublic])
def list_shares(device_id: ObjectId, access: Writer) -> list[SharePublic]:
    device = get_visible(access.db, Device, device_id, "device")
    rows = access.db.scalars(select(DeviceShare).where(DeviceShare.device_id == device.id).order_by(DeviceShare.tenant_id))
    return presentable(rows, SharePublic.model_validate)


@router.post("/{device_id}/shares", response_model=SharePublic, status_code=201)
def share_device(device_id: ObjectId, body: ShareCreate, access: Writer) -> DeviceShare:
    """Let an end-customer tenant see the device too. A device may be shared with several."""
    db = access.db
    device = get_visible(db, Device, device_id, "device")
    tenant = get_visible(db, Tenant, body.tenant_id, "tenant")
    if tenant.kind != TenantKind.end_customer:
        raise invalid("Devices are shared with end-customer tenants.")
    if tenant.id == device.tenant_id:
        raise invalid("The device already belongs to this tenant.")
    share = DeviceShare(device_id=device.id, tenant_id=tenant.id, owner_tenant_id=device.tenant_id)
    db.add(share)
    db.commit()
    return share


@router.delete("/{device_id}/shares/{tenant_id}", status_code=204)
def unshare_device(device_id: ObjectId, tenant_id: ObjectId, access: Writer) -> Response:
    device = get_visible(access.db, Device, device_id, "device")
    share = access.db.scalar(select(DeviceShare).where(DeviceShare.device_id == device.id, DeviceShare.tenant_id == tenant_id))
    if share is None:
        raise not_found("share")
    access.db.delete(share)
    access.db.commit()
    return Response(status_code=204)
