from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field

from leitstand.json_numbers import JsonNumber
from leitstand.licenses.models import LicenseStatus
from leitstand.web.types import UNCHANGED, ContractDate, Flag, Input, Patch, Public, RefId

TermMonths = Annotated[int, Field(ge=1, le=120), JsonNumber]


class LicenseCreate(Input):
    device_id: RefId
    starts_on: ContractDate
    term_months: TermMonths = 12
    auto_renew: Flag = True


class LicenseUpdate(Patch):
    ends_on: ContractDate = UNCHANGED
    term_months: TermMonths = UNCHANGED
    auto_renew: Flag = UNCHANGED


class LicensePublic(Public):
    id: int
    device_id: int
    tenant_id: int
    starts_on: date
    ends_on: date
    term_months: int
    auto_renew: bool
    status: LicenseStatus
    created_at: datetime


class LicenseChangePublic(Public):
    id: int
    license_id: int
    at: datetime
    action: str
    actor_user_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any]
