"""Granting roles without escalation.

A principal may grant (or revoke) a role on a target only if they themselves hold
every permission of that role on that target. So an operator can make a colleague
an operator technician on a site they run, but never a partner admin.
"""

from __future__ import annotations

from typing import Any

from leitstand.access.roles import ROLES, ROOT_ONLY_ROLES, Role, ScopeKind
from sqlalchemy import select

from leitstand.devices.models import Device, DeviceShare
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant, TenantKind
from leitstand.users.models import User
from leitstand.web.deps import Access
from leitstand.web.errors import forbidden, invalid, not_found

TARGET_MODELS: dict[ScopeKind, type[Any]] = {ScopeKind.tenant: Tenant, ScopeKind.site: Site, ScopeKind.device: Device}


def role_named(key: str) -> Role:
    role = ROLES.get(key)
    if role is None:
        raise invalid(f"Unknown role {key!r}; see GET /api/v1/roles.")
    return role


def check_within_grantee(access: Access, grantee: User, kind: ScopeKind, target: Any) -> None:
    """A grant reaches only the grantee's own organisation (and what lies below it), or a
    device shared with it: an administrator of two customers must not, by one wrong click,
    let one customer's user into the other's sites."""
    own = access.db.get(Tenant, grantee.tenant_id)
    if own is None:
        raise not_found("user")
    if kind == ScopeKind.device and access.db.scalar(
        select(DeviceShare.id).where(DeviceShare.device_id == target.id, DeviceShare.tenant_id == own.id)
    ) is not None:
        return
    target_tenant = target if kind == ScopeKind.tenant else access.db.get(Tenant, target.tenant_id)
    if target_tenant is None or not target_tenant.path.startswith(own.path):
        raise invalid(f"The {kind.value} lies outside the user's organisation; grant only within it.")


def check_grantable(access: Access, role: Role, kind: ScopeKind, target_id: int) -> Any:
    """Return the target if the principal may grant `role` on it; raise otherwise."""
    if kind not in role.grantable_on:
        raise invalid(f"The role {role.key} cannot be granted on a {kind.value}.")
    model = TARGET_MODELS[kind]
    target = access.db.get(model, target_id)
    if target is None:
        raise not_found(kind.value)
    if role.key in ROOT_ONLY_ROLES and not (kind == ScopeKind.tenant and target.kind == TenantKind.root):
        raise invalid(f"The role {role.key} can only be granted on the root tenant.")
    for permission in role.permissions:
        with access.scoped_for(permission) as session:
            if session.get(model, target_id) is None:
                raise forbidden(f"You cannot grant {role.key}: you lack {permission.value} there yourself.")
    return target
