from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from leitstand.web.types import UNCHANGED, Input, Label, Name, Patch, Public, RefId

SerialNumber = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")]
TypeKeyField = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
ClaimSecret = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{12,64}$")]
Labels = Annotated[list[Label], Field(max_length=20)]


class DeviceCreate(Input):
    serial_number: SerialNumber
    type_key: TypeKeyField
    tenant_id: RefId
    name: Name
    site_id: RefId | None = None
    labels: Labels = Field(default_factory=list)
    claim_secret: ClaimSecret | None = Field(None, description="The secret printed on the label; generated if omitted.")


class DeviceImportRow(Input):
    """One row of a device import file (leitstand.devices.claiming.import_devices)."""

    serial_number: SerialNumber
    type_key: TypeKeyField
    name: Name | None = None
    site_id: RefId | None = None
    labels: Labels = Field(default_factory=list)
    claim_secret: ClaimSecret | None = None


class DeviceUpdate(Patch):
    name: Name = UNCHANGED
    site_id: RefId | None = Field(UNCHANGED, description="null takes the device off its site.")
    labels: Labels = UNCHANGED
    tenant_id: RefId = Field(UNCHANGED, description="Move the device to another tenant you administer.")


class DevicePublic(Public):
    id: int
    serial_number: str
    type_key: str
    tenant_id: int
    site_id: int | None
    name: str
    labels: list[str]
    claimed_at: datetime | None
    decommissioned_at: datetime | None
    created_at: datetime


class DeviceWithSecret(DevicePublic):
    claim_secret: str = Field(description="Shown once; only its hash is stored.")


class ShareCreate(Input):
    tenant_id: RefId


class SharePublic(Public):
    device_id: int
    tenant_id: int
    created_at: datetime
