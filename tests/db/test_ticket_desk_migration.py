"""Migration 0012: tickets from before get their desk, and grants stored twice are kept once."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from leitstand.clock import clock
from leitstand.db import migrate
from leitstand.db.engine import make_engine
from tests.db.raw_rows import insert_tenant
from tests.db.test_migrations import fresh_database_url  # noqa: F401 - a scratch database per test

TENANTS = ((1, None, "root", "/r/"), (2, 1, "partner", "/r/p/"), (3, 2, "customer", "/r/p/c/"))
USERS = ((1, 1, "support@root.test"), (2, 3, "operator@customer.test"))
# (ticket id, tenant, assignee): the desk each should get.
TICKETS = {1: (3, None, "partner"), 2: (2, None, "platform"), 3: (3, 1, "platform"), 4: (3, 2, "partner")}
# (grant id, user, role, tenant target): 11 and 12 repeat 10; 13 is another role on the same target.
GRANTS = ((10, 2, "operator", 3), (11, 2, "operator", 3), (12, 2, "operator", 3), (13, 2, "read_only", 3),
          (14, 1, "platform_support", 1))


def test_tickets_get_their_desk_and_repeated_grants_are_kept_once(fresh_database_url: str) -> None:
    migrate.upgrade(fresh_database_url, "0011")
    engine = make_engine(fresh_database_url)
    now = clock.now().replace(tzinfo=None)
    try:
        with engine.begin() as connection:
            for tenant_id, parent_id, kind, path in TENANTS:
                insert_tenant(connection, now, tenant_id, kind, path, parent_id)
            for user_id, tenant_id, email in USERS:
                connection.execute(text(
                    "INSERT INTO users (id, tenant_id, email, display_name, language, is_active, totp_last_step,"
                    " created_at) VALUES (:id, :tenant, :email, :email, 'de', true, 0, :now)"),
                    {"id": user_id, "tenant": tenant_id, "email": email, "now": now})
            for ticket_id, (tenant_id, assignee_id, _) in TICKETS.items():
                connection.execute(text(
                    "INSERT INTO tickets (id, tenant_id, assignee_id, ticket_class, title, description, status,"
                    " sla_policy, sla_warning, updated_at, created_at) VALUES (:id, :tenant, :assignee, 2, 'x', '',"
                    " 'open', 'barrier-portal', false, :now, :now)"),
                    {"id": ticket_id, "tenant": tenant_id, "assignee": assignee_id, "now": now})
            for grant_id, user_id, role, target in GRANTS:
                connection.execute(text(
                    "INSERT INTO role_grants (id, user_id, tenant_id, role, scope_kind, scope_tenant_id, created_at)"
                    " VALUES (:id, :user, :target, :role, 'tenant', :target, :now)"),
                    {"id": grant_id, "user": user_id, "role": role, "target": target, "now": now})

        migrate.upgrade(fresh_database_url)

        with engine.connect() as connection:
            desks = dict(connection.execute(text("SELECT id, desk FROM tickets")).all())
            grants = set(connection.execute(text("SELECT id FROM role_grants")).scalars())
        assert desks == {ticket_id: desk for ticket_id, (_, _, desk) in TICKETS.items()}
        assert grants == {10, 13, 14}
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO role_grants (user_id, tenant_id, role, scope_kind, scope_tenant_id, created_at)"
                " VALUES (2, 3, 'operator', 'tenant', 3, :now)"), {"now": now})
    finally:
        engine.dispose()
