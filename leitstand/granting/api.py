"""Role routes: the declared roles, and grants of roles to users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from sqlalchemy import select

from leitstand.access.models import TARGET_COLUMNS, RoleGrant
from leitstand.access.roles import ROLES, ScopeKind
from leitstand.access.schemas import GrantCreate, GrantPublic, RolePublic
from leitstand.accounts.models import User
from leitstand.granting.service import check_grantable, check_within_grantee, role_named
from leitstand.permissions import Permission
from leitstand.web.crud import get_visible, read_page
from leitstand.web.deps import Access, CurrentPrincipal, requires
from leitstand.web.errors import conflict
from leitstand.web.types import FilterId, Limit, ObjectId, Offset, Page, PageRequest

router = APIRouter(tags=["roles"])
Reader = Annotated[Access, requires(Permission.grant_read)]
Writer = Annotated[Access, requires(Permission.grant_write)]


@router.get("/roles", response_model=list[RolePublic])
def list_roles(principal: CurrentPrincipal) -> list[RolePublic]:
    return [
        RolePublic(
            key=role.key, label_en=role.label_en, label_de=role.label_de,
            permissions=sorted(p.value for p in role.permissions), grantable_on=sorted(role.grantable_on),
            tenant_kinds=sorted(role.tenant_kinds),
        )
        for role in ROLES.values()
    ]


@router.get("/role-grants", response_model=Page[GrantPublic])
def list_grants(access: Reader, user_id: FilterId = None, limit: Limit = 50, offset: Offset = 0) -> Page[GrantPublic]:
    statement = select(RoleGrant).order_by(RoleGrant.id)
    if user_id is not None:
        statement = statement.where(RoleGrant.user_id == user_id)
    return read_page(access.db, statement, PageRequest(limit, offset), GrantPublic.model_validate)


@router.post("/role-grants", response_model=GrantPublic, status_code=201,
             responses={200: {"description": "The user holds this grant already: the existing grant.",
                              "model": GrantPublic}})
def create_grant(body: GrantCreate, access: Writer, response: Response) -> RoleGrant:
    """Grant a role. Granting what the user holds already changes nothing and answers 200 with that grant."""
    user = get_visible(access.db, User, body.user_id, "user")
    role = role_named(body.role)
    target_id = {ScopeKind.tenant: body.tenant_id, ScopeKind.site: body.site_id, ScopeKind.device: body.device_id}[
        body.scope_kind
    ]
    assert target_id is not None
    target = check_grantable(access, role, body.scope_kind, target_id)
    check_within_grantee(access, user, body.scope_kind, target)
    existing = access.db.scalar(select(RoleGrant).where(
        RoleGrant.user_id == user.id, RoleGrant.role == role.key, RoleGrant.scope_kind == body.scope_kind,
        getattr(RoleGrant, TARGET_COLUMNS[body.scope_kind]) == target_id))
    if existing is not None:
        response.status_code = 200
        return existing
    grant = RoleGrant(
        user_id=user.id, tenant_id=user.tenant_id, role=role.key, scope_kind=body.scope_kind,
        scope_tenant_id=body.tenant_id, site_id=body.site_id, device_id=body.device_id,
    )
    access.db.add(grant)
    access.db.commit()
    return grant


@router.get("/role-grants/{grant_id}", response_model=GrantPublic)
def get_grant(grant_id: ObjectId, access: Reader) -> RoleGrant:
    return get_visible(access.db, RoleGrant, grant_id, "role grant")


@router.delete("/role-grants/{grant_id}", status_code=204)
def delete_grant(grant_id: ObjectId, access: Writer) -> Response:
    grant = get_visible(access.db, RoleGrant, grant_id, "role grant")
    if grant.user_id == access.principal.user_id:
        raise conflict("You cannot revoke your own grants; ask another administrator.")
    kind = ScopeKind(grant.scope_kind)
    target_id = {ScopeKind.tenant: grant.scope_tenant_id, ScopeKind.site: grant.site_id, ScopeKind.device: grant.device_id}[kind]
    assert target_id is not None
    check_grantable(access, role_named(grant.role), kind, target_id)
    access.db.delete(grant)
    access.db.commit()
    return Response(status_code=204)
