"""tickets handed over to a desk; one role grant per user, role and target

`tickets.desk` names the support desk a ticket is handed over to: the partner above the
ticket's tenant or the platform (leitstand.support.models.TicketDesk). Until now every
desk above a ticket saw it. Existing tickets go to the partner where there is one; to
the platform where there is none (a partner's or the root's own ticket) or where a user
of the root tenant is assigned, since the platform was handling those already.

`role_grants` held the same grant (user, role, target) as often as it was sent. The
later copies are deleted (they gave nothing the first did not), then three partial
unique indexes, one per kind of target, keep it to one.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# (kind of target, the column naming it), as of this revision.
TARGETS = (('tenant', 'scope_tenant_id'), ('site', 'site_id'), ('device', 'device_id'))


def upgrade() -> None:
    # A plain ADD COLUMN on both backends: SQLite need not rebuild the table for it.
    op.add_column('tickets', sa.Column('desk', sa.String(length=20), server_default='partner', nullable=False))
    op.execute(
        "UPDATE tickets SET desk = 'platform'"
        " WHERE tenant_id IN (SELECT id FROM tenants WHERE kind IN ('root', 'partner'))"
        " OR assignee_id IN (SELECT users.id FROM users JOIN tenants ON tenants.id = users.tenant_id"
        " WHERE tenants.kind = 'root')"
    )

    same_target = " OR ".join(
        f"(later.scope_kind = '{kind}' AND earlier.{column} = later.{column})" for kind, column in TARGETS)
    op.execute(
        "DELETE FROM role_grants WHERE id IN (SELECT later.id FROM role_grants AS later JOIN role_grants AS earlier"
        " ON earlier.user_id = later.user_id AND earlier.role = later.role AND earlier.scope_kind = later.scope_kind"
        f" AND earlier.id < later.id AND ({same_target}))"
    )
    for kind, column in TARGETS:
        where = sa.text(f"scope_kind = '{kind}'")
        op.create_index(f'uq_role_grants_{kind}_target', 'role_grants', ['user_id', 'role', column], unique=True,
                        sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for kind, _ in TARGETS:
        op.drop_index(f'uq_role_grants_{kind}_target', table_name='role_grants')
    with op.batch_alter_table('tickets') as batch_op:
        batch_op.drop_column('desk')
