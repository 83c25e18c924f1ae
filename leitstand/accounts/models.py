"""The account row: people who log in, each of exactly one tenant, and their e-mail links.

Below the sign-in (leitstand.auth: it checks the password and second factors kept here) and the
accounts' routes and service (leitstand.users: they invite, change and list them), so both stand on it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, or_
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin
from leitstand.i18n import Message
from leitstand.tenancy.deletion import TenantDeleteBlocker
from leitstand.tenancy.scope import ScopedModel, tenant_visible


class User(IdMixin, CreatedAtMixin, ScopedModel, Base):
    __tablename__ = "users"
    __audited__ = True
    __audit_secret__ = frozenset({"password_hash", "totp_secret_encrypted"})

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="de")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    email_verified_at: Mapped[datetime | None]
    # TOTP secrets must be readable to verify codes, so they are encrypted, not hashed.
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        own = cls.id == scope.user_id if scope.user_id is not None else None
        tenant_rows = tenant_visible(scope, cls.tenant_id)
        return or_(tenant_rows, own) if own is not None else tenant_rows

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @property
    def has_totp(self) -> bool:
        return self.totp_secret_encrypted is not None


USERS_BLOCK_TENANT_DELETE = TenantDeleteBlocker(
    User.tenant_id, Message("The tenant still has users; remove or move them first."))


class EmailToken(IdMixin, CreatedAtMixin, Base):
    """A single-use link token sent by e-mail: an invitation or a password reset.

    Only its SHA-256 hash is stored; the token itself exists only in the e-mail.
    """

    __tablename__ = "email_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
