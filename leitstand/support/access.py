"""Support access: a customer admin's release code lets platform support read their data for 48 hours.

The code is shown once and stored as a SHA-256 hash. Platform support (a user holding
the `platform_support` role on the root tenant) redeems it; from then on, every time
that user's principal is loaded (`auth.principal.resolve_grants`), each of their
redeemed, unexpired and unrevoked codes adds a `read_only` grant on the code's tenant
or device. Scoping stays the one mechanism it is: a support grant is just a grant.
Because grants are resolved per request, a revoked or expired code stops working on
the very next request.

Every request a principal makes while holding support grants is audited for the
customer (`support.view`, one entry per code, with method and path), so the customer
sees exactly what support looked at while their code was valid.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.access.roles import PLATFORM_SUPPORT_ROLE, ScopeKind
from leitstand.access.rules import ResolvedGrant
from leitstand.audit.models import AuditEntry
from leitstand.audit.recorder import Actor, record
from leitstand.auth.secrets import token_digest
from leitstand.clock import clock
from leitstand.support.models import SupportAccessCode
from leitstand.tenancy.models import Tenant

VALIDITY = timedelta(hours=48)
SUPPORT_ROLE_GRANTED = "read_only"  # what a redeemed code lets support do: look, never change
VIEW_ACTION = "support.view"
# Unambiguous upper-case letters and digits, read out over the phone without confusion (no 0/O, 1/I/L).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_GROUPS, GROUP_LENGTH = 4, 5  # 20 characters, about 99 bits


def new_code() -> str:
    groups = ("".join(secrets.choice(CODE_ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(CODE_GROUPS))
    return "-".join(groups)


def normalise(code: str) -> str:
    """Codes are compared without case, spaces or dashes, as people type them."""
    compact = "".join(character for character in code.upper() if character.isalnum())
    return "-".join(compact[i:i + GROUP_LENGTH] for i in range(0, len(compact), GROUP_LENGTH))


def code_digest(code: str) -> str:
    return token_digest(normalise(code))


def is_active(code: SupportAccessCode) -> bool:
    return code.revoked_at is None and code.expires_at > clock.now()


def code_state(code: SupportAccessCode) -> str:
    if code.revoked_at is not None:
        return "revoked"
    if code.expires_at <= clock.now():
        return "expired"
    return "redeemed" if code.redeemed_by_id is not None else "issued"


def issue_code(db: Session, *, tenant: Tenant, device_id: int | None, note: str, created_by: int) -> tuple[SupportAccessCode, str]:
    """A new release code; the plain code is returned here once and never stored."""
    plain = new_code()
    code = SupportAccessCode(
        tenant_id=tenant.id, device_id=device_id, note=note, code_hash=code_digest(plain), hint=plain[-4:],
        created_by_id=created_by, expires_at=clock.now() + VALIDITY,
    )
    db.add(code)
    return code, plain


def holds_platform_support(grants: Any) -> bool:
    """Only a platform_support grant on the root tenant makes someone platform support."""
    return any(grant.role == PLATFORM_SUPPORT_ROLE and grant.covers_everything for grant in grants)


def holds_support_access(principal: Any) -> bool:
    """Whether the principal reads a customer's data under a redeemed, still valid release code now."""
    return any(grant.support_code_id is not None for grant in principal.grants)


def support_access_grants(db: Session, user_id: int, grants: tuple[Any, ...]) -> tuple[Any, ...]:
    """The read-only grants a platform support user holds through redeemed, still valid codes.

    A grant source (`access.rules.GRANT_SOURCES`): called on every principal load, with a system session.
    """
    if not holds_platform_support(grants):
        return ()  # losing the role ends every support access at once
    rows = db.execute(
        select(SupportAccessCode.id, SupportAccessCode.device_id, Tenant.path)
        .join(Tenant, Tenant.id == SupportAccessCode.tenant_id)
        .where(SupportAccessCode.redeemed_by_id == user_id, SupportAccessCode.revoked_at.is_(None),
               SupportAccessCode.expires_at > clock.now())
    )
    return tuple(
        ResolvedGrant(role=SUPPORT_ROLE_GRANTED, kind=ScopeKind.device, device_id=device_id, support_code_id=code_id)
        if device_id is not None else
        ResolvedGrant(role=SUPPORT_ROLE_GRANTED, kind=ScopeKind.tenant, tenant_path=path, support_code_id=code_id)
        for code_id, device_id, path in rows
    )


def record_support_views(db: Session, principal: Any, method: str, path: str, source_ip: str = "") -> None:
    """Audit a request made while holding support grants: one `support.view` per code, in the
    customer's tenant. `db` is the request's authentication session (a system session)."""
    code_ids = sorted({grant.support_code_id for grant in principal.grants if grant.support_code_id is not None})
    if not code_ids:
        return
    actor = Actor(principal.user_id, principal.tenant_id, principal.email, source_ip)
    rows = db.execute(select(SupportAccessCode.id, SupportAccessCode.tenant_id).where(SupportAccessCode.id.in_(code_ids)))
    tenants = {code_id: tenant_id for code_id, tenant_id in rows}
    for code_id in code_ids:
        record(db, VIEW_ACTION, tenant_id=tenants.get(code_id), target_type=SupportAccessCode.__tablename__,
               target_id=code_id, details={"method": method, "path": path, "code_id": code_id}, actor=actor)
    db.commit()


def views_of(db: Session, code: SupportAccessCode, limit: int = 500) -> list[AuditEntry]:
    return list(db.scalars(
        select(AuditEntry).where(AuditEntry.action == VIEW_ACTION, AuditEntry.target_type == SupportAccessCode.__tablename__,
                                 AuditEntry.target_id == str(code.id), AuditEntry.tenant_id == code.tenant_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)))
