"""Device type routes: the declared types, read-only, and the event codes their catalogues lack."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import select

from leitstand.db.stored_rows import presentable
from leitstand.devicetypes.models import DeviceType, UnknownEventCode
from leitstand.devicetypes.spec import DeviceTypeSpec
from leitstand.permissions import Permission
from leitstand.web.crud import get_visible
from leitstand.web.deps import Access, requires
from leitstand.web.types import Public

router = APIRouter(prefix="/device-types", tags=["device types"])
Reader = Annotated[Access, requires(Permission.devicetype_read)]
TypeKey = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class DeviceTypePublic(Public):
    key: str
    tenant_id: int | None
    name: str
    category: str
    spec: DeviceTypeSpec

    @classmethod
    def of(cls, row: DeviceType) -> DeviceTypePublic:
        values: dict[str, Any] = {
            "key": row.key, "tenant_id": row.tenant_id, "name": row.name, "category": row.category, "spec": row.spec,
        }
        return cls.model_validate(values)


@router.get("", response_model=list[DeviceTypePublic])
def list_device_types(access: Reader) -> list[DeviceTypePublic]:
    return presentable(access.db.scalars(select(DeviceType).order_by(DeviceType.key)), DeviceTypePublic.of)


@router.get("/{type_key}", response_model=DeviceTypePublic)
def get_device_type(type_key: TypeKey, access: Reader) -> DeviceTypePublic:
    return DeviceTypePublic.of(get_visible(access.db, DeviceType, type_key, "device type"))


class UnknownEventCodePublic(Public):
    code: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    first_device_id: int | None


@router.get("/{type_key}/unknown-codes", response_model=list[UnknownEventCodePublic])
def list_unknown_codes(type_key: TypeKey, access: Reader) -> list[UnknownEventCode]:
    """Event codes that devices of this type sent and its catalogue does not list, most
    frequent first, with how many messages carried each and the device that sent it first.
    Only whoever keeps the catalogue sees them: the platform (root tenant) for a shipped
    type, the owning tenant for its own; everyone else gets an empty list."""
    device_type = get_visible(access.db, DeviceType, type_key, "device type")
    return list(access.db.scalars(select(UnknownEventCode).where(UnknownEventCode.type_key == device_type.key)
                                  .order_by(UnknownEventCode.count.desc(), UnknownEventCode.code)))
