"""Migration 0010: events stored before it with a code outside the catalogue come out marked."""

from __future__ import annotations

from sqlalchemy import text

from leitstand.clock import clock
from leitstand.db import migrate
from leitstand.db.engine import make_engine
from tests.db.raw_rows import insert_barrier_type, insert_device, insert_tenant
from tests.db.test_migrations import fresh_database_url  # noqa: F401 - a scratch database per test


def test_events_of_unknown_codes_from_before_are_marked(fresh_database_url: str) -> None:
    migrate.upgrade(fresh_database_url, "0009")
    engine = make_engine(fresh_database_url)
    now = clock.now().replace(tzinfo=None)
    try:
        with engine.begin() as connection:
            insert_tenant(connection, now, name="Leitstand")
            insert_barrier_type(connection)
            insert_device(connection, now)
            # Before 0010, kind "event" was how ingest stored a code its catalogue lacked.
            for kind, code, severity in (("event", "E99", ""), ("error", "E01", "critical"), ("state", "position=open", "")):
                connection.execute(text(
                    "INSERT INTO device_events (device_id, tenant_id, at, kind, code, severity, data)"
                    " VALUES (1, 1, :now, :kind, :code, :severity, '{}')"), {"now": now, "kind": kind, "code": code,
                                                                            "severity": severity})

        migrate.upgrade(fresh_database_url)

        with engine.connect() as connection:
            marked = dict(connection.execute(text("SELECT code, unknown_code FROM device_events")).all())
        assert {code: bool(flag) for code, flag in marked.items()} == {"E99": True, "E01": False, "position=open": False}
    finally:
        engine.dispose()
