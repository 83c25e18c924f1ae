"""Role grants: a role given to a user on a tenant subtree, a site or a single device."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin
from leitstand.tenancy.scope import ScopedModel, tenant_visible

# The column naming each kind of grant's target.
TARGET_COLUMNS = {"tenant": "scope_tenant_id", "site": "site_id", "device": "device_id"}


def _one_grant_per_target(kind: str, target_column: str) -> Index:
    # Partial, one per kind: a plain unique constraint would never fire, as NULLs differ from each other.
    where = text(f"scope_kind = '{kind}'")
    return Index(f"uq_role_grants_{kind}_target", "user_id", "role", target_column, unique=True,
                 sqlite_where=where, postgresql_where=where)


class RoleGrant(IdMixin, CreatedAtMixin, ScopedModel, Base):
    __tablename__ = "role_grants"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(
            "(scope_kind = 'tenant' AND scope_tenant_id IS NOT NULL)"
            " OR (scope_kind = 'site' AND site_id IS NOT NULL)"
            " OR (scope_kind = 'device' AND device_id IS NOT NULL)",
            name="scope_target",
        ),
        # The same role for the same user on the same target is one grant.
        *(_one_grant_per_target(kind, column) for kind, column in TARGET_COLUMNS.items()),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The grantee's tenant: a grant is visible to whoever administers that user.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    scope_kind: Mapped[str] = mapped_column(String(10))
    scope_tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)
