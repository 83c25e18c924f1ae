from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field

from leitstand.tenancy.models import TenantKind
from leitstand.web.types import UNCHANGED, City, CountryCode, Flag, Input, Name, Patch, PostalCode, Public, RefId, ShortText


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_zone(zone: str) -> str:
    if zone not in _zones():
        raise ValueError("unknown IANA time zone")
    return zone


def _list_zones(schema: dict[str, object]) -> None:
    schema["enum"] = sorted(_zones())


TimeZone = Annotated[str, AfterValidator(_known_zone), Field(json_schema_extra=_list_zones)]


class TenantFields(Input):
    street: ShortText = ""
    postal_code: PostalCode = ""
    city: City = ""
    country: CountryCode = "DE"
    time_zone: TimeZone = "Europe/Berlin"
    require_second_factor: Flag = False


class TenantCreate(TenantFields):
    parent_id: RefId
    name: Name


class TenantUpdate(Patch):
    name: Name = UNCHANGED
    street: ShortText = UNCHANGED
    postal_code: PostalCode = UNCHANGED
    city: City = UNCHANGED
    country: CountryCode = UNCHANGED
    time_zone: TimeZone = UNCHANGED
    require_second_factor: Flag = UNCHANGED


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
