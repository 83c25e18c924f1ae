"""Recording the audit log, in one place.

Changes to audited models are recorded by a flush listener, so no service can
forget them. Events that change no row (a login, a failed login, an export) are
recorded with `record()`. The actor comes from the request context.
"""

from __future__ import annotations

import contextvars
import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import event, inspect, insert
from sqlalchemy.orm import Session

from leitstand.audit.models import AuditEntry
from leitstand.db.base import Base, utcnow


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    tenant_id: int | None
    label: str
    source_ip: str = ""


SYSTEM_ACTOR = Actor(user_id=None, tenant_id=None, label="system")
current_actor: contextvars.ContextVar[Actor] = contextvars.ContextVar("leitstand_actor", default=SYSTEM_ACTOR)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return "<bytes>"
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _tenant_of(obj: Any, actor: Actor) -> int | None:
    from leitstand.tenancy.models import Tenant

    if isinstance(obj, Tenant):
        return obj.id
    # Personal records (tokens, keys) have no tenant of their own: they count to their owner's.
    return getattr(obj, "owner_tenant_id", None) or getattr(obj, "tenant_id", None) or actor.tenant_id


def _changes(obj: Base, kind: str) -> dict[str, Any]:
    state = inspect(obj)
    secret = type(obj).__audit_secret__
    changes: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if kind == "update" and not history.has_changes():
            continue
        if kind == "delete":
            continue
        new = history.added[0] if history.added else getattr(obj, attr.key)
        if kind == "create" and new is None:
            continue
        if attr.key in secret:
            changes[attr.key] = "<changed>"
        elif kind == "update":
            old = history.deleted[0] if history.deleted else None
            changes[attr.key] = [_plain(old), _plain(new)]
        else:
            changes[attr.key] = _plain(new)
    return changes


def _entry(obj: Base, kind: str, actor: Actor) -> dict[str, Any]:
    # New rows have no identity key until the flush is finalised; the mapper reads the primary key.
    identity = inspect(obj).mapper.primary_key_from_instance(obj)
    return {
        "at": utcnow(),
        "tenant_id": _tenant_of(obj, actor),
        "actor_user_id": actor.user_id,
        "actor": actor.label,
        "action": f"{obj.__tablename__}.{kind}",
        "outcome": "success",
        "target_type": obj.__tablename__,
        "target_id": ",".join(str(part) for part in identity if part is not None),
        "changes": _changes(obj, kind),
        "source_ip": actor.source_ip,
    }


@event.listens_for(Session, "after_flush")
def _record_changes(session: Session, flush_context: Any) -> None:
    actor = current_actor.get()
    rows = []
    for kind, objects in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            if not isinstance(obj, Base) or not type(obj).__audited__:
                continue
            if kind == "update" and not session.is_modified(obj, include_collections=False):
                continue
            rows.append(_entry(obj, kind, actor))
    if rows:
        # Core insert on the flush's own connection: the entry commits or rolls back with the change.
        session.connection().execute(insert(AuditEntry.__table__), rows)


def record(
    session: Session,
    action: str,
    *,
    outcome: str = "success",
    tenant_id: int | None = None,
    target_type: str = "",
    target_id: Any = "",
    details: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> None:
    """Record an event that is not a row change (logins, exports, refused access)."""
    actor = actor or current_actor.get()
    session.add(
        AuditEntry(
            tenant_id=tenant_id if tenant_id is not None else actor.tenant_id,
            actor_user_id=actor.user_id,
            actor=actor.label,
            action=action,
            outcome=outcome,
            target_type=target_type,
            target_id=str(target_id),
            changes=details or {},
            source_ip=actor.source_ip,
        )
    )
