"""Migration 0016: every device from before gets its native binding, and the native namespace stays unique."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from leitstand.clock import clock
from leitstand.db import migrate
from leitstand.db.engine import make_engine
from tests.db.raw_rows import insert_barrier_type, insert_device, insert_tenant
from tests.db.test_migrations import fresh_database_url  # noqa: F401 - a scratch database per test

DEVICES = {1: "OLD-0001", 2: "OLD-0002", 3: "OLD-0003"}


def test_existing_devices_get_their_native_binding(fresh_database_url: str) -> None:
    migrate.upgrade(fresh_database_url, "0013")
    engine = make_engine(fresh_database_url)
    now = clock.now().replace(tzinfo=None)
    try:
        with engine.begin() as connection:
            insert_tenant(connection, now, name="Leitstand")
            insert_barrier_type(connection)
            for device_id, serial in DEVICES.items():
                insert_device(connection, now, device_id, serial)

        migrate.upgrade(fresh_database_url, "0016")

        with engine.connect() as connection:
            bindings = connection.execute(text(
                "SELECT device_id, transport, connection_id, external_id FROM device_bindings")).all()
        assert sorted(tuple(row) for row in bindings) == [(device_id, "native", None, serial)
                                                           for device_id, serial in DEVICES.items()]
        # A second native binding with the same serial is refused, although its connection is NULL.
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO device_bindings (device_id, transport, connection_id, external_id, created_at)"
                " VALUES (2, 'native', NULL, 'OLD-0001', :now)"), {"now": now})
    finally:
        engine.dispose()
