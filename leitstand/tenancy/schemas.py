from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator

from leitstand.tenancy.models import TenantKind
from leitstand.web.types import CountryCode, Input, Name, Public, RefId, ShortText


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_zone(zone: str) -> str:
    if zone not in _zones():
        raise ValueError("unknown IANA time zone")
    return zone


TimeZone = Annotated[str, AfterValidator(_known_zone)]


class TenantFields(Input):
    street: ShortText = ""
    postal_code: ShortText = ""
    city: ShortText = ""
    country: CountryCode = "DE"
    time_zone: TimeZone = "Europe/Berlin"
    require_second_factor: bool = False


class TenantCreate(TenantFields):
    parent_id: RefId
    name: Name


class TenantUpdate(Input):
    name: Name | None = None
    street: ShortText | None = None
    postal_code: ShortText | None = None
    city: ShortText | None = None
    country: CountryCode | None = None
    time_zone: TimeZone | None = None
    require_second_factor: bool | None = None


class TenantPublic(Public):
    id: int
    parent_id: int | None
    kind: TenantKind
    name: str
    street: str
    postal_code: str
    city: str
    country: str
    time_zone: str
    require_second_factor: bool
    created_at: datetime
