from __future__ import annotations

from datetime import datetime

from pydantic import model_validator

from leitstand.access.roles import ScopeKind
from leitstand.web.types import Input, Public, RefId


class RolePublic(Public):
    key: str
    label_en: str
    label_de: str
    permissions: list[str]
    grantable_on: list[ScopeKind]


class GrantCreate(Input):
    user_id: RefId
    role: str
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
