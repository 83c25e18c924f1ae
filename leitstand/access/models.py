"""Role grants: a role given to a user on a tenant subtree, a site or a single device."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin
from leitstand.tenancy.scope import ScopedModel, tenant_visible


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
