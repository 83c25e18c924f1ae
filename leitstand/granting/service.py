"""Granting roles without escalation, and only where they fit.

A principal may grant (or revoke) a role on a target only if they themselves hold
every permission of that role on that target. So an operator can make a colleague
an operator technician on a site they run, but never a partner admin. A role is
granted only on targets of the tenant kinds it is made for (`Role.tenant_kinds`).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from leitstand.access.roles import ROLES, Role, ScopeKind
from leitstand.access.rules import within_tenant
from leitstand.accounts.models import User
from leitstand.devices.models import Device, DeviceShare
from leitstand.i18n import Forbidden, Message, NotFound, Refusal
from leitstand.permissions import Permission
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session


class Access(Protocol):
    """What granting needs of the request (leitstand.web.deps.Access is one): the caller's
    session, a session factory, and a session scoped to another permission of the caller."""

    db: Session
    session_factory: sessionmaker[Session]

    def scoped_for(self, permission: Permission) -> Session: ...


TARGET_MODELS: dict[ScopeKind, type[Any]] = {ScopeKind.tenant: Tenant, ScopeKind.site: Site, ScopeKind.device: Device}


def role_named(key: str) -> Role:
    role = ROLES.get(key)
    if role is None:
        raise Refusal(Message("Unknown role %(role)s; see GET /api/v1/roles.", role=repr(key)))
    return role


def check_within_grantee(access: Access, grantee: User, kind: ScopeKind, target: Any) -> None:
    """A grant reaches only the grantee's own organisation (and what lies below it), or a
    device shared with it: an administrator of two customers must not, by one wrong click,
    let one customer's user into the other's sites."""
    own = access.db.get(Tenant, grantee.tenant_id)
    if own is None:
        raise NotFound("user")
    if kind == ScopeKind.device and access.db.scalar(
        select(DeviceShare.id).where(DeviceShare.device_id == target.id, DeviceShare.tenant_id == own.id)
    ) is not None:
        return
    target_tenant = target if kind == ScopeKind.tenant else access.db.get(Tenant, target.tenant_id)
    if target_tenant is None or not within_tenant(target_tenant.path, own.path):
        raise Refusal(Message("The %(target)s lies outside the user's organisation; grant only within it.",
                              target=Message(kind.value)))


def check_tenant_kind(access: Access, role: Role, kind: ScopeKind, target: Any) -> None:
    """The target (a tenant, or the tenant of a site or device) must be of a kind the role is made for."""
    if kind == ScopeKind.tenant:
        tenant_kind = target.kind
    else:
        # The caller may reach a site or device without seeing its tenant (a grant on one site).
        with system_session(access.session_factory, reason="the kind of a grant target's tenant") as system:
            tenant_kind = system.scalar(select(Tenant.kind).where(Tenant.id == target.tenant_id))
    if tenant_kind not in role.tenant_kinds:
        fits = ", ".join(sorted(role.tenant_kinds))
        if kind == ScopeKind.tenant:
            raise Refusal(Message("The role %(role)s is made for %(fits)s tenants; it cannot be granted on a %(tenant_kind)s tenant.",
                                  role=role.key, fits=fits, tenant_kind=tenant_kind))
        raise Refusal(Message(
            "The role %(role)s is made for %(fits)s tenants; it cannot be granted on a %(target)s of a %(tenant_kind)s tenant.",
            role=role.key, fits=fits, target=Message(kind.value), tenant_kind=tenant_kind))


def check_grantable(access: Access, role: Role, kind: ScopeKind, target_id: int) -> Any:
    """Return the target if the principal may grant `role` on it; raise otherwise."""
    if kind not in role.grantable_on:
        raise Refusal(Message("The role %(role)s cannot be granted on a %(target)s.", role=role.key, target=Message(kind.value)))
    model = TARGET_MODELS[kind]
    target = access.db.get(model, target_id)
    if target is None:
        raise NotFound(kind.value)
    check_tenant_kind(access, role, kind, target)
    for permission in role.permissions:
        with access.scoped_for(permission) as session:
            if session.get(model, target_id) is None:
                raise Forbidden(Message("You cannot grant %(role)s: you lack %(permission)s there yourself.",
                                         role=role.key, permission=permission.value))
    return target
