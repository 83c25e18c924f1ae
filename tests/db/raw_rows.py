"""Rows written with plain SQL at an old revision, for migration tests: the ORM models
describe the newest schema, not the one a migration starts from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text


def insert_tenant(connection: Connection, now: datetime, tenant_id: int = 1, kind: str = "root",
                  path: str = "/r/", parent_id: int | None = None, name: str | None = None) -> None:
    connection.execute(text(
        "INSERT INTO tenants (id, parent_id, kind, name, street, postal_code, city, country, time_zone,"
        " require_second_factor, path, sla_policy, created_at) VALUES (:id, :parent, :kind, :name, '', '',"
        " '', 'DE', 'Europe/Berlin', false, :path, 'barrier-portal', :now)"),
        {"id": tenant_id, "parent": parent_id, "kind": kind, "name": name or kind, "path": path, "now": now})
