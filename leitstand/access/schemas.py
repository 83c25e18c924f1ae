from __future__ import annotations

from datetime import datetime

from typing import Annotated

from pydantic import Field, model_validator

from leitstand.access.roles import ROLES, ScopeKind
from leitstand.tenancy.models import TenantKind
from leitstand.web.types import Input, Public, RefId


# A declared role's key; the schema lists them, so a client can tell one from a typo.
RoleKey = Annotated[str, Field(max_length=40, json_schema_extra={"enum": sorted(ROLES)})]


class RolePublic(Public):
    key: str
    label_en: str
    label_de: str
    permissions: list[str]
    grantable_on: list[ScopeKind]
    tenant_kinds: list[TenantKind] = Field(description="The kinds of tenant a grant's target may belong to.")


class GrantCreate(Input):
    """`scope_kind` names the one target the role is granted on: `tenant_id`, `site_id` or `device_id`;
    give that one and leave the other two out."""

    user_id: RefId
    role: RoleKey
    scope_kind: ScopeKind
    tenant_id: RefId | None = None
    site_id: RefId | None = None
    device_id: RefId | None = None

    @model_validator(mode="after")
    def _one_target(self) -> GrantCreate:
        targets = {ScopeKind.tenant: self.tenant_id, ScopeKind.site: self.site_id, ScopeKind.device: self.device_id}
        if targets[self.scope_kind] is None:
            raise ValueError(f"a {self.scope_kind.value} grant needs {self.scope_kind.value}_id")
        if sum(value is not None for value in targets.values()) != 1:
            raise ValueError("give exactly one of tenant_id, site_id, device_id")
        return self


class GrantPublic(Public):
    id: int
    user_id: int
    role: str
    scope_kind: ScopeKind
    scope_tenant_id: int | None
    site_id: int | None
    device_id: int | None
    created_at: datetime
