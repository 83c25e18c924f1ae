"""Device type routes: the declared types, read-only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import select

from leitstand.access.roles import Permission
from leitstand.devicetypes.models import DeviceType
from leitstand.devicetypes.spec import DeviceTypeSpec
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
    return [DeviceTypePublic.of(row) for row in access.db.scalars(select(DeviceType).order_by(DeviceType.key))]


@router.get("/{type_key}", response_model=DeviceTypePublic)
def get_device_type(type_key: TypeKey, access: Reader) -> DeviceTypePublic:
    return DeviceTypePublic.of(get_visible(access.db, DeviceType, type_key, "device type"))
