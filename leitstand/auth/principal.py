"""The principal: who is asking, with which grants, and what they may reach per permission."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.access.models import RoleGrant
from leitstand.access.roles import ScopeKind
from leitstand.access.rules import ResolvedGrant, with_granted
from leitstand.accounts.models import User
from leitstand.permissions import Permission
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import AccessScope




# A token scope that names no permission: it lets an API token reach its owner's account under
# /api/v1/me (profile, API tokens, push subscriptions; leitstand.web.deps.account). The password
# and the second factors stay out of any token's reach.
ACCOUNT_SCOPE: Literal["account"] = "account"
AccountScope = Literal["account"]


@dataclass(frozen=True)
class Principal:
    user_id: int
    tenant_id: int
    email: str
    display_name: str
    language: str
    grants: tuple[ResolvedGrant, ...]
    # An API token narrows its owner's permissions to these; None for browser sessions.
    token_scopes: frozenset[str] | None = None
    needs_second_factor_enrollment: bool = False
    session_id: int | None = None
    csrf_token: str | None = None
    tenant_path: str = ""  # the own tenant's place in the tree
    # Browser sessions: when the user last proved every factor (login or re-authentication),
    # and when the session ends without further activity (idle or absolute limit, the earlier).
    authenticated_at: datetime | None = None
    session_ends_at: datetime | None = None

    @property
    def is_token(self) -> bool:
        return self.token_scopes is not None

    def has(self, permission: Permission) -> bool:
        return not self.scope_for(permission).is_empty

    @property
    def permissions(self) -> frozenset[Permission]:
        return frozenset(p for p in Permission if self.has(p))

    def scope_for(self, permission: Permission) -> AccessScope:
        if self.token_scopes is not None and permission.value not in self.token_scopes:
            return AccessScope(user_id=self.user_id)
        grants = [grant for grant in self.grants if permission in grant.permissions]
        # The principal staffs their own tenant's support desk when a grant on that tenant holds the permission.
        desk = frozenset(g.tenant_path for g in grants
                         if g.kind == ScopeKind.tenant and g.tenant_path == self.tenant_path)
        reaching = [grant for grant in grants if not grant.desk_only]
        if any(grant.covers_everything for grant in reaching):
            return AccessScope(unrestricted=True, desk_paths=desk, user_id=self.user_id)
        return AccessScope(
            tenant_paths=frozenset(g.tenant_path for g in reaching if g.kind == ScopeKind.tenant and g.tenant_path),
            site_paths=frozenset(g.site_path for g in reaching if g.kind == ScopeKind.site and g.site_path),
            device_ids=frozenset(g.device_id for g in reaching if g.kind == ScopeKind.device and g.device_id),
            desk_paths=desk,
            user_id=self.user_id,
        )

    def staffs_desk(self, desk_path: str, permission: Permission) -> bool:
        """Whether the principal works at the support desk of the tenant with that path, holding `permission`."""
        return desk_path in self.scope_for(permission).desk_paths


def resolve_grants(db: Session, user_id: int) -> tuple[ResolvedGrant, ...]:
    rows = db.execute(
        select(RoleGrant.role, RoleGrant.scope_kind, Tenant.path, Site.path, RoleGrant.device_id)
        .outerjoin(Tenant, Tenant.id == RoleGrant.scope_tenant_id)
        .outerjoin(Site, Site.id == RoleGrant.site_id)
        .where(RoleGrant.user_id == user_id)
    )
    grants = tuple(
        ResolvedGrant(role=role, kind=ScopeKind(kind), tenant_path=tenant_path, site_path=site_path, device_id=device_id)
        for role, kind, tenant_path, site_path, device_id in rows
    )
    # Grant sources (access.rules), e.g. platform support's redeemed release codes: read-only grants
    # on the customer's tenant or device. Resolved here, on every request, so an expired or revoked
    # code stops at once.
    return with_granted(db, user_id, grants)


def load_principal(db: Session, user: User, **extra: object) -> Principal:
    """Build the principal for an authenticated user. `db` must be a system session."""
    tenant = db.get(Tenant, user.tenant_id)
    assert tenant is not None
    return Principal(
        user_id=user.id,
        tenant_id=user.tenant_id,
        email=user.email,
        display_name=user.display_name,
        language=user.language,
        grants=resolve_grants(db, user.id),
        tenant_path=tenant.path,
        **extra,  # type: ignore[arg-type]
    )
