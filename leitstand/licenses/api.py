"""License routes: one license per device, its term, renewal and history."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from leitstand.clock import clock
from leitstand.db.stored_rows import presentable
from leitstand.devices.models import Device
from leitstand.licenses.models import License, LicenseChange, LicenseStatus
from leitstand.licenses.schemas import LicenseChangePublic, LicenseCreate, LicensePublic, LicenseUpdate
from leitstand.licenses.service import RenewalRefused, record_change, renew_now, snapshot, status_filter, term_end
from leitstand.permissions import Permission
from leitstand.web.crud import get_visible, read_page
from leitstand.web.deps import Access, requires
from leitstand.web.errors import conflict, invalid
from leitstand.web.types import FilterId, Limit, ObjectId, Offset, Page, PageRequest

router = APIRouter(prefix="/licenses", tags=["licenses"])
Reader = Annotated[Access, requires(Permission.license_read)]
Writer = Annotated[Access, requires(Permission.license_write)]


def present(license_: License) -> LicensePublic:
    values = {column: getattr(license_, column) for column in LicensePublic.model_fields if column != "status"}
    return LicensePublic(**values, status=license_.status(clock.now().date()))


@router.get("", response_model=Page[LicensePublic])
def list_licenses(
    access: Reader,
    device_id: FilterId = None,
    tenant_id: FilterId = None,
    status: Annotated[LicenseStatus | None, Query()] = None,
    ending_within_days: Annotated[int | None, Query(ge=0, le=3650, description="Active licenses ending this soon.")] = None,
    auto_renew: Annotated[bool | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[LicensePublic]:
    today = clock.now().date()
    statement = select(License).order_by(License.ends_on, License.id)
    if device_id is not None:
        statement = statement.where(License.device_id == device_id)
    if tenant_id is not None:
        statement = statement.where(License.tenant_id == tenant_id)
    if status is not None:
        statement = statement.where(status_filter(status, today))
    if ending_within_days is not None:
        statement = statement.where(status_filter(LicenseStatus.active, today), License.ends_on <= today + timedelta(days=ending_within_days))
    if auto_renew is not None:
        statement = statement.where(License.auto_renew == auto_renew)
    return read_page(access.db, statement, PageRequest(limit, offset), present)


@router.post("", response_model=LicensePublic, status_code=201)
def create_license(body: LicenseCreate, access: Writer) -> LicensePublic:
    db = access.db
    device = get_visible(db, Device, body.device_id, "device")
    if db.scalar(select(License.id).where(License.device_id == device.id)) is not None:
        raise conflict("The device has a license; change or renew that one.")
    license_ = License(
        device_id=device.id, tenant_id=device.tenant_id, starts_on=body.starts_on,
        ends_on=term_end(body.starts_on, body.term_months), term_months=body.term_months, auto_renew=body.auto_renew,
    )
    db.add(license_)
    record_change(db, license_, "created", None)
    db.commit()
    return present(license_)


@router.get("/{license_id}", response_model=LicensePublic)
def get_license(license_id: ObjectId, access: Reader) -> LicensePublic:
    return present(get_visible(access.db, License, license_id, "license"))


@router.patch("/{license_id}", response_model=LicensePublic)
def update_license(license_id: ObjectId, body: LicenseUpdate, access: Writer) -> LicensePublic:
    """Change the end date, term or auto-renewal (switching renewal off is a cancellation)."""
    db = access.db
    license_ = get_visible(db, License, license_id, "license")
    before = snapshot(license_)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "ends_on" in changes and changes["ends_on"] < license_.starts_on:
        raise invalid("A license cannot end before it starts.")
    for field, value in changes.items():
        setattr(license_, field, value)
    if snapshot(license_) != before:
        record_change(db, license_, "cancelled" if changes.get("auto_renew") is False else "changed", before)
    db.commit()
    return present(license_)


@router.post("/{license_id}/renew", response_model=LicensePublic)
def renew_license(license_id: ObjectId, access: Writer) -> LicensePublic:
    """Renew now: an expired license is extended by whole terms until it covers today;
    an active one gets one more term after its current end date. A decommissioned device's
    license is not renewed (409)."""
    db = access.db
    license_ = get_visible(db, License, license_id, "license")
    try:
        renew_now(db, license_, clock.now().date())
    except RenewalRefused as refusal:
        raise conflict(refusal.text) from refusal
    db.commit()
    return present(license_)


@router.get("/{license_id}/history", response_model=list[LicenseChangePublic])
def license_history(license_id: ObjectId, access: Reader) -> list[LicenseChangePublic]:
    license_ = get_visible(access.db, License, license_id, "license")
    rows = access.db.scalars(select(LicenseChange).where(LicenseChange.license_id == license_.id).order_by(LicenseChange.id))
    return presentable(rows, LicenseChangePublic.model_validate)
