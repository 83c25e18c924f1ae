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


def insert_barrier_type(connection: Connection) -> None:
    connection.execute(text("INSERT INTO device_types (key, tenant_id, name, category, spec)"
                            " VALUES ('barrier', NULL, 'Barrier', 'barrier', '{}')"))


def insert_device(connection: Connection, now: datetime, device_id: int = 1, serial: str = "OLD-0001",
                  tenant_id: int = 1) -> None:
    """A barrier of tenant `tenant_id` (its type written by `insert_barrier_type`)."""
    connection.execute(text("INSERT INTO devices (id, tenant_id, type_key, serial_number, name, labels, created_at)"
                            " VALUES (:id, :tenant, 'barrier', :serial, 'Old barrier', '[]', :now)"),
                       {"id": device_id, "tenant": tenant_id, "serial": serial, "now": now})
