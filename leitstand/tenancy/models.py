"""Tenants: the organisations that own devices and data, arranged as a tree.

root → partner (installer, reseller) → customer (operator) → end customer.
Each tenant carries a materialised `path` of random segments ("/a1b2c3d4/9f8e7d6c/"),
so "everything below this tenant" is one prefix match, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import enum
import secrets

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin
from leitstand.i18n import Message
from leitstand.tenancy.deletion import TenantDeleteBlocker
from leitstand.tenancy.scope import ScopedModel, tenant_visible


class TenantKind(enum.StrEnum):
    root = "root"
    partner = "partner"
    customer = "customer"
    end_customer = "end_customer"


# Which kind of tenant may sit directly below which.
ALLOWED_CHILD_KIND: dict[TenantKind, TenantKind] = {
    TenantKind.root: TenantKind.partner,
    TenantKind.partner: TenantKind.customer,
    TenantKind.customer: TenantKind.end_customer,
}


def new_path_segment() -> str:
    return secrets.token_hex(4)


def path_prefixes(path: str) -> list[str]:
    """'/a/b/c/' → ['/a/', '/a/b/', '/a/b/c/']: the paths of a tenant's or site's ancestors, and its own."""
    return [path[: end + 1] for end, char in enumerate(path) if char == "/" and end > 0]


class Tenant(IdMixin, CreatedAtMixin, ScopedModel, Base):
    __tablename__ = "tenants"
    __audited__ = True

    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    street: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="DE")
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    require_second_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    # Raw telemetry older than this many days is deleted; rollups stay. None keeps everything.
    telemetry_retention_days: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(400), unique=True)
    # The response-time promise of the tenant's support contract (a key of leitstand/support/sla_policies.toml).
    sla_policy: Mapped[str] = mapped_column(String(64), default="barrier-portal", server_default="barrier-portal")

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.id)

    @property
    def depth(self) -> int:
        return self.path.count("/") - 1


# A tenant's own children keep it too; the tenant routes ask this before the other packages' blockers.
CHILD_TENANTS_BLOCK_DELETE = TenantDeleteBlocker(
    Tenant.parent_id, Message("The tenant still has tenants; remove or move them first."))
