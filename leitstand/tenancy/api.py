"""Tenant routes: the organisation tree."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from leitstand.permissions import Permission
from leitstand.tenancy.deletion import TenantDeleteBlocker
from leitstand.tenancy.models import ALLOWED_CHILD_KIND, CHILD_TENANTS_BLOCK_DELETE, Tenant, TenantKind, new_path_segment
from leitstand.tenancy.schemas import TenantCreate, TenantPublic, TenantUpdate
from leitstand.web.crud import apply_changes, contains, get_visible, read_page
from leitstand.web.deps import Access, requires
from leitstand.web.errors import conflict, invalid
from leitstand.web.types import FilterId, Limit, ObjectId, Offset, Page, PageRequest, SearchText

router = APIRouter(prefix="/tenants", tags=["tenants"])
Reader = Annotated[Access, requires(Permission.tenant_read)]
Writer = Annotated[Access, requires(Permission.tenant_write)]


@router.get("", response_model=Page[TenantPublic])
def list_tenants(
    access: Reader,
    parent_id: FilterId = None,
    kind: Annotated[TenantKind | None, Query()] = None,
    q: SearchText = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TenantPublic]:
    statement = select(Tenant).order_by(Tenant.path)
    if parent_id is not None:
        statement = statement.where(Tenant.parent_id == parent_id)
    if kind is not None:
        statement = statement.where(Tenant.kind == kind)
    if q:
        statement = statement.where(contains(Tenant.name, q))
    return read_page(access.db, statement, PageRequest(limit, offset), TenantPublic.model_validate)


@router.post("", response_model=TenantPublic, status_code=201)
def create_tenant(body: TenantCreate, access: Writer) -> Tenant:
    parent = get_visible(access.db, Tenant, body.parent_id, "parent tenant")
    kind = ALLOWED_CHILD_KIND.get(TenantKind(parent.kind))
    if kind is None:
        raise invalid("An end customer cannot have tenants below it.")
    tenant = Tenant(
        kind=kind, parent_id=parent.id, path=f"{parent.path}{new_path_segment()}/",
        **body.model_dump(exclude={"parent_id"}),
    )
    access.db.add(tenant)
    access.db.commit()
    return tenant


@router.get("/{tenant_id}", response_model=TenantPublic)
def get_tenant(tenant_id: ObjectId, access: Reader) -> Tenant:
    return get_visible(access.db, Tenant, tenant_id, "tenant")


@router.patch("/{tenant_id}", response_model=TenantPublic)
def update_tenant(tenant_id: ObjectId, body: TenantUpdate, access: Writer) -> Tenant:
    tenant = get_visible(access.db, Tenant, tenant_id, "tenant")
    apply_changes(tenant, body)
    access.db.commit()
    return tenant


def delete_blockers(request: Request) -> tuple[TenantDeleteBlocker, ...]:
    """The packages' blockers, as the composition root handed them over (leitstand.app)."""
    return (CHILD_TENANTS_BLOCK_DELETE, *request.app.state.tenant_delete_blockers)


@router.delete("/{tenant_id}", status_code=204)
def delete_tenant(tenant_id: ObjectId, request: Request, access: Writer) -> Response:
    """Delete an empty tenant. One that still has tenants, users, sites or devices is refused."""
    db = access.db
    tenant = get_visible(db, Tenant, tenant_id, "tenant")
    if tenant.kind == TenantKind.root or tenant.id == access.principal.tenant_id:
        raise conflict("The root tenant and your own tenant cannot be deleted.")
    for blocker in delete_blockers(request):
        if blocker.holds(db, tenant.id):
            raise conflict(blocker.refusal)
    db.delete(tenant)
    db.commit()
    return Response(status_code=204)
