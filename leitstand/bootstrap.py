"""Bringing an installation to a usable state: schema, shipped device types, root tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from leitstand.access.models import RoleGrant
from leitstand.access.roles import ROLES, ScopeKind
from leitstand.accounts.models import User
from leitstand.auth.secrets import SecretBox
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.db import migrate
from leitstand.devicetypes.service import sync_shipped_types
from leitstand.tenancy.models import Tenant, TenantKind, new_path_segment
from leitstand.tenancy.scope import system_session
from leitstand.users.service import set_password


def root_tenant(db: Session) -> Tenant | None:
    return db.scalar(select(Tenant).where(Tenant.parent_id.is_(None)))


def initialise(settings: Settings, factory: sessionmaker[Session], operator_name: str = "Leitstand") -> Tenant:
    """Migrate, sync device types and make sure a root tenant exists. Safe to repeat."""
    migrate.upgrade(settings.effective_database_url)
    return ensure_essentials(settings, factory, operator_name)


def ensure_essentials(settings: Settings, factory: sessionmaker[Session], operator_name: str = "Leitstand") -> Tenant:
    """What a migrated database needs before anyone logs in: shipped device types and the root tenant."""
    with system_session(factory, reason="initialise installation") as db:
        sync_shipped_types(db)
        root = root_tenant(db)
        if root is None:
            root = Tenant(kind=TenantKind.root, name=operator_name, path=f"/{new_path_segment()}/",
                          time_zone=settings.default_time_zone)
            db.add(root)
        db.commit()
        from leitstand.notifications.service import ensure_vapid_keys  # the Web Push key pair, made once

        ensure_vapid_keys(db, SecretBox(settings.resolved_secret_key()))
        return root


class UserExists(ValueError):
    pass


def create_user(
    db: Session, *, tenant: Tenant, email: str, display_name: str, password: str | None, role: str | None,
    language: str = "de",
) -> User:
    """Create a user with a password (no invitation) and optionally a role on their own tenant.
    The password must pass leitstand.auth.password_policy (PasswordRefused otherwise)."""
    email = email.lower()
    if db.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserExists(email)
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    if role is not None and tenant.kind not in ROLES[role].tenant_kinds:
        fits = ", ".join(sorted(ROLES[role].tenant_kinds))
        raise ValueError(f"{role} is made for {fits} tenants, not for a {tenant.kind} tenant")
    user = User(
        tenant_id=tenant.id, email=email, display_name=display_name, language=language,
        email_verified_at=clock.now() if password else None,
    )
    if password:
        set_password(db, user, password)
    db.add(user)
    db.flush()
    if role is not None:
        db.add(RoleGrant(user_id=user.id, tenant_id=tenant.id, role=role, scope_kind=ScopeKind.tenant, scope_tenant_id=tenant.id))
    return user
