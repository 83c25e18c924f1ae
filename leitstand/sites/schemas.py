from __future__ import annotations

from datetime import datetime

from pydantic import Field

from leitstand.sites.models import SiteKind
from leitstand.web.types import CountryCode, Input, Latitude, Longitude, Name, Public, RefId, ShortText


class SiteCreate(Input):
    kind: SiteKind
    name: Name
    tenant_id: RefId | None = Field(None, description="Required for a top-level site; children take their parent's tenant.")
    parent_id: RefId | None = None
    street: ShortText = ""
    postal_code: ShortText = ""
    city: ShortText = ""
    country: CountryCode = "DE"
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class SiteUpdate(Input):
    name: Name | None = None
    street: ShortText | None = None
    postal_code: ShortText | None = None
    city: ShortText | None = None
    country: CountryCode | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class SitePublic(Public):
    id: int
    tenant_id: int
    parent_id: int | None
    kind: SiteKind
    name: str
    street: str
    postal_code: str
    city: str
    country: str
    latitude: float | None
    longitude: float | None
    created_at: datetime


class SiteGroupCreate(Input):
    tenant_id: RefId
    name: Name
    site_ids: list[RefId] = Field(default_factory=list, max_length=1000)


class SiteGroupUpdate(Input):
    name: Name | None = None
    site_ids: list[RefId] | None = Field(None, max_length=1000)


class SiteGroupPublic(Public):
    id: int
    tenant_id: int
    name: str
    site_ids: list[int]
