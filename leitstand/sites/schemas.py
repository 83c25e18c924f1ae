from __future__ import annotations

from datetime import datetime

from pydantic import Field

from leitstand.sites.models import SiteKind
from leitstand.web.types import (UNCHANGED, City, CountryCode, Input, Latitude, Longitude, Name, Patch, PostalCode, Public,
                                 RefId, ShortText)


class SiteCreate(Input):
    kind: SiteKind
    name: Name
    tenant_id: RefId | None = Field(None, description="Required for a top-level site; children take their parent's tenant.")
    parent_id: RefId | None = None
    street: ShortText = ""
    postal_code: PostalCode = ""
    city: City = ""
    country: CountryCode = "DE"
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class SiteUpdate(Patch):
    name: Name = UNCHANGED
    street: ShortText = UNCHANGED
    postal_code: PostalCode = UNCHANGED
    city: City = UNCHANGED
    country: CountryCode = UNCHANGED
    latitude: Latitude | None = Field(UNCHANGED, description="null: no coordinates (the site is not on the map).")
    longitude: Longitude | None = Field(UNCHANGED, description="null: no coordinates (the site is not on the map).")


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


class SiteGroupUpdate(Patch):
    name: Name = UNCHANGED
    site_ids: list[RefId] = Field(UNCHANGED, max_length=1000, description="The group's sites, replacing the ones it has.")


class SiteGroupPublic(Public):
    id: int
    tenant_id: int
    name: str
    site_ids: list[int]
