"""Sites: where devices are. A tree of site → building → area/room, plus groups across rooms.

A site's `path` works like a tenant's: a grant on a site covers everything below it.
"""

from __future__ import annotations

import enum

from sqlalchemy import Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin
from leitstand.i18n import Message
from leitstand.tenancy.deletion import TenantDeleteBlocker
from leitstand.tenancy.scope import ScopedModel, site_visible, tenant_visible


class SiteKind(enum.StrEnum):
    site = "site"
    building = "building"
    area = "area"
    room = "room"


# What may sit directly below what; areas may nest (floor → wing → room).
ALLOWED_PARENT_KINDS: dict[SiteKind, frozenset[SiteKind | None]] = {
    SiteKind.site: frozenset({None}),
    SiteKind.building: frozenset({SiteKind.site}),
    SiteKind.area: frozenset({SiteKind.site, SiteKind.building, SiteKind.area}),
    SiteKind.room: frozenset({SiteKind.building, SiteKind.area}),
}


class Site(IdMixin, CreatedAtMixin, ScopedModel, Base):
    __tablename__ = "sites"
    __audited__ = True

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    street: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="DE")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    path: Mapped[str] = mapped_column(String(400), unique=True)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return site_visible(scope, cls.id)


SITES_BLOCK_TENANT_DELETE = TenantDeleteBlocker(
    Site.tenant_id, Message("The tenant still has sites; remove or move them first."))


class SiteGroup(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A named set of rooms or areas that cuts across the tree, e.g. "all meeting rooms"."""

    __tablename__ = "site_groups"
    __audited__ = True

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)


class SiteGroupMember(Base):
    __tablename__ = "site_group_members"
    __table_args__ = (UniqueConstraint("group_id", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("site_groups.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
