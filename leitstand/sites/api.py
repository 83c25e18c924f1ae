"""Site routes: the tree of sites, buildings, areas and rooms, and groups across it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from leitstand.permissions import Permission
from leitstand.sites.models import ALLOWED_PARENT_KINDS, Site, SiteGroup, SiteGroupMember, SiteKind
from leitstand.sites.schemas import (
    SiteCreate,
    SiteGroupCreate,
    SiteGroupPublic,
    SiteGroupUpdate,
    SitePublic,
    SiteUpdate,
)
from leitstand.tenancy.models import Tenant, new_path_segment
from leitstand.web.crud import apply_changes, contains, get_visible, read_page
from leitstand.web.deps import Access, requires
from leitstand.web.errors import Message, conflict, invalid
from leitstand.web.types import FilterId, Limit, ObjectId, Offset, Page, PageRequest, SearchText

router = APIRouter(tags=["sites"])
Reader = Annotated[Access, requires(Permission.site_read)]
Writer = Annotated[Access, requires(Permission.site_write)]


@router.get("/sites", response_model=Page[SitePublic])
def list_sites(
    access: Reader,
    tenant_id: FilterId = None,
    parent_id: FilterId = None,
    top_level: Annotated[bool, Query(description="Only sites without a parent.")] = False,
    kind: Annotated[SiteKind | None, Query()] = None,
    q: SearchText = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SitePublic]:
    statement = select(Site).order_by(Site.name, Site.id)
    if tenant_id is not None:
        statement = statement.where(Site.tenant_id == tenant_id)
    if parent_id is not None:
        statement = statement.where(Site.parent_id == parent_id)
    if top_level:
        statement = statement.where(Site.parent_id.is_(None))
    if kind is not None:
        statement = statement.where(Site.kind == kind)
    if q:
        statement = statement.where(contains(Site.name, q) | contains(Site.city, q) | contains(Site.street, q))
    return read_page(access.db, statement, PageRequest(limit, offset), SitePublic.model_validate)


@router.post("/sites", response_model=SitePublic, status_code=201)
def create_site(body: SiteCreate, access: Writer) -> Site:
    db = access.db
    parent = get_visible(db, Site, body.parent_id, "parent site") if body.parent_id else None
    parent_kind = SiteKind(parent.kind) if parent else None
    if parent_kind not in ALLOWED_PARENT_KINDS[body.kind]:
        if parent_kind is None:
            raise invalid(Message("A %(kind)s cannot be placed at the top.", kind=Message(body.kind.value)))
        raise invalid(Message("A %(kind)s cannot be placed below a %(parent)s.", kind=Message(body.kind.value),
                              parent=Message(parent_kind.value)))
    if parent is not None:
        if body.tenant_id not in (None, parent.tenant_id):
            raise invalid("A child site belongs to its parent's tenant.")
        tenant_id, path_prefix = parent.tenant_id, parent.path
    else:
        if body.tenant_id is None:
            raise invalid("A top-level site needs tenant_id.")
        tenant_id, path_prefix = get_visible(db, Tenant, body.tenant_id, "tenant").id, "/"
    site = Site(
        tenant_id=tenant_id, path=f"{path_prefix}{new_path_segment()}/",
        **body.model_dump(exclude={"tenant_id"}),
    )
    db.add(site)
    db.commit()
    return site


@router.get("/sites/{site_id}", response_model=SitePublic)
def get_site(site_id: ObjectId, access: Reader) -> Site:
    return get_visible(access.db, Site, site_id, "site")


@router.patch("/sites/{site_id}", response_model=SitePublic)
def update_site(site_id: ObjectId, body: SiteUpdate, access: Writer) -> Site:
    site = get_visible(access.db, Site, site_id, "site")
    apply_changes(site, body)
    access.db.commit()
    return site


@router.delete("/sites/{site_id}", status_code=204)
def delete_site(site_id: ObjectId, access: Writer) -> Response:
    """Delete a site that has nothing below it. Devices there stay, without a site."""
    db = access.db
    site = get_visible(db, Site, site_id, "site")
    if db.scalar(select(exists().where(Site.parent_id == site.id))):
        raise conflict("The site has buildings, areas or rooms below it; delete those first.")
    db.delete(site)
    db.commit()
    return Response(status_code=204)


def _group_public(db: Session, group: SiteGroup) -> SiteGroupPublic:
    members = db.scalars(select(SiteGroupMember.site_id).where(SiteGroupMember.group_id == group.id).order_by(SiteGroupMember.site_id))
    return SiteGroupPublic(id=group.id, tenant_id=group.tenant_id, name=group.name, site_ids=list(members))


def _set_members(db: Session, group: SiteGroup, site_ids: list[int]) -> None:
    for site_id in set(site_ids):
        site = get_visible(db, Site, site_id, "site")
        if site.tenant_id != group.tenant_id:
            raise invalid("A group holds sites of its own tenant only.")
    db.execute(delete(SiteGroupMember).where(SiteGroupMember.group_id == group.id))
    db.add_all(SiteGroupMember(group_id=group.id, site_id=site_id) for site_id in sorted(set(site_ids)))


@router.get("/site-groups", response_model=Page[SiteGroupPublic])
def list_site_groups(access: Reader, tenant_id: FilterId = None, limit: Limit = 50, offset: Offset = 0) -> Page[SiteGroupPublic]:
    statement = select(SiteGroup).order_by(SiteGroup.name, SiteGroup.id)
    if tenant_id is not None:
        statement = statement.where(SiteGroup.tenant_id == tenant_id)
    return read_page(access.db, statement, PageRequest(limit, offset), lambda group: _group_public(access.db, group))


@router.post("/site-groups", response_model=SiteGroupPublic, status_code=201)
def create_site_group(body: SiteGroupCreate, access: Writer) -> SiteGroupPublic:
    tenant = get_visible(access.db, Tenant, body.tenant_id, "tenant")
    group = SiteGroup(tenant_id=tenant.id, name=body.name)
    access.db.add(group)
    access.db.flush()
    _set_members(access.db, group, body.site_ids)
    access.db.commit()
    return _group_public(access.db, group)


@router.get("/site-groups/{group_id}", response_model=SiteGroupPublic)
def get_site_group(group_id: ObjectId, access: Reader) -> SiteGroupPublic:
    return _group_public(access.db, get_visible(access.db, SiteGroup, group_id, "site group"))


@router.patch("/site-groups/{group_id}", response_model=SiteGroupPublic)
def update_site_group(group_id: ObjectId, body: SiteGroupUpdate, access: Writer) -> SiteGroupPublic:
    group = get_visible(access.db, SiteGroup, group_id, "site group")
    if body.name is not None:
        group.name = body.name
    if body.site_ids is not None:
        _set_members(access.db, group, body.site_ids)
    access.db.commit()
    return _group_public(access.db, group)


@router.delete("/site-groups/{group_id}", status_code=204)
def delete_site_group(group_id: ObjectId, access: Writer) -> Response:
    access.db.delete(get_visible(access.db, SiteGroup, group_id, "site group"))
    access.db.commit()
    return Response(status_code=204)
