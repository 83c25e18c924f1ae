"""What keeps a tenant from being deleted: rows that still belong to it.

Users, sites and devices stand on floors above tenancy, so tenancy cannot look at their
tables itself. Each package that owns such rows declares a `TenantDeleteBlocker` beside its
model, and the composition root (leitstand.app) hands the list to the tenant routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import QueryableAttribute, Session

from leitstand.i18n import Message


@dataclass(frozen=True)
class TenantDeleteBlocker:
    """Rows of one kind that keep a tenant while any of them belongs to it.

    owner: the column that names the tenant a row belongs to.
    refusal: what the refused delete says (a problem's detail).
    """

    owner: QueryableAttribute[Any]
    refusal: Message

    def holds(self, db: Session, tenant_id: int) -> bool:
        """Whether a row of this kind still belongs to the tenant (asked on the caller's session)."""
        return bool(db.scalar(select(exists().where(self.owner == tenant_id))))
