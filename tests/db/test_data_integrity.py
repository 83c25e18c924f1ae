"""The database refuses what the API's models refuse, and migration 0009 repairs rows from before.

SQLAlchemy stores Python None in a JSON column as the JSON value null, which NOT NULL lets
through: a device with "labels": null took down every device list of its tenant (issue 13,
defect 1). Every JSON column now has a CHECK on the kind of value it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import JSON, CheckConstraint, text
from sqlalchemy.exc import IntegrityError, StatementError

from leitstand.auth.models import ApiToken
from leitstand.auth.secrets import new_token, token_digest
from leitstand.bootstrap import create_user, ensure_essentials
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.db import migrate
from leitstand.db.engine import make_engine
from leitstand.db.models import Base, make_session_factory
from leitstand.devices.models import Device
from leitstand.permissions import Permission
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session
from tests.db.raw_rows import insert_tenant
from tests.db.test_migrations import fresh_database_url  # noqa: F401 - a scratch database per test


def test_every_json_column_checks_the_kind_of_value_it_holds() -> None:
    unchecked = []
    for table in Base.metadata.sorted_tables:
        names = {str(c.name) for c in table.constraints if isinstance(c, CheckConstraint)}
        for column in table.columns:
            if isinstance(column.type, JSON) and not any(n.startswith(f"ck_{table.name}_{column.name}_is_") for n in names):
                unchecked.append(f"{table.name}.{column.name}")
    assert unchecked == []


def refused(db, statement: str, **values) -> bool:  # type: ignore[no-untyped-def]
    try:
        with db.begin_nested():
            db.execute(text(statement), values)
    except (IntegrityError, StatementError):
        return True
    return False


def test_the_database_refuses_null_where_the_models_want_a_list_or_an_object(world) -> None:  # type: ignore[no-untyped-def]
    db = world.db
    barrier = world.alpha.barrier

    assert refused(db, "UPDATE devices SET labels = 'null' WHERE id = :id", id=barrier.id)
    assert refused(db, "UPDATE devices SET labels = '{}' WHERE id = :id", id=barrier.id)
    assert refused(db, "UPDATE commands SET parameters = '[]' WHERE id = :id", id=world.alpha.command.id)
    assert refused(db, "UPDATE api_tokens SET scopes = 'null' WHERE id = :id", id=world.alpha.token.id)
    assert not refused(db, "UPDATE devices SET labels = '[\"ok\"]' WHERE id = :id", id=barrier.id)
    # Through the ORM, where the bug came from: None in a JSON column is the JSON value null.
    barrier.labels = None
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def _insert_broken_rows(url: str) -> None:
    """Rows as the bug left them, written at revision 0008 (before the constraints)."""
    engine = make_engine(url)
    now = clock.now().replace(tzinfo=None)
    with engine.begin() as connection:
        insert_tenant(connection, now, name="Leitstand")
        # A JSON null where an object belongs (the type spec is written anew at start).
        connection.execute(text("INSERT INTO device_types (key, tenant_id, name, category, spec)"
                                " VALUES ('barrier', NULL, 'Barrier', 'barrier', 'null')"))
        for device_id, serial, labels in ((1, "OLD-0001", "null"), (2, "OLD-0002", '"nord"'), (3, "OLD-0003", '["süd"]')):
            connection.execute(text(
                "INSERT INTO devices (id, tenant_id, type_key, serial_number, name, labels, created_at)"
                " VALUES (:id, 1, 'barrier', :serial, :serial, :labels, :now)"),
                {"id": device_id, "serial": serial, "labels": labels, "now": now})
    engine.dispose()


def test_upgrade_repairs_rows_the_bug_left_and_the_api_lists_them(fresh_database_url: str, tmp_path: Path) -> None:
    migrate.upgrade(fresh_database_url, "0008")
    _insert_broken_rows(fresh_database_url)

    migrate.upgrade(fresh_database_url)

    settings = Settings(database_url=fresh_database_url, data_dir=tmp_path / "data", secret_key="integrity-test")
    engine = make_engine(fresh_database_url)
    factory = make_session_factory(engine)
    try:
        with engine.connect() as connection:
            labels = dict(connection.execute(text("SELECT serial_number, labels FROM devices")).all())
            # A JSON column reads back as text on SQLite and as parsed JSON on PostgreSQL.
            assert {serial: value if isinstance(value, list) else json.loads(value)
                    for serial, value in labels.items()} == {"OLD-0001": [], "OLD-0002": [], "OLD-0003": ["süd"]}
        ensure_essentials(settings, factory)
        with system_session(factory, reason="test setup") as db:
            root = db.get(Tenant, 1)
            assert root is not None
            admin = create_user(db, tenant=root, email="ops@example.org", display_name="Ops", password=None,
                                role="platform_admin")
            raw = new_token("lst_")
            db.add(ApiToken(user_id=admin.id, name="test", prefix=raw[:10], token_hash=token_digest(raw),
                            scopes=[p.value for p in Permission]))
            db.commit()
            assert db.get(Device, 1).labels == []  # type: ignore[union-attr]
        from leitstand.runtime import app_without_transports

        with app_without_transports(settings) as app, TestClient(app, base_url="http://localhost:8000") as client:
            response = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {raw}"})
        assert response.status_code == 200, response.text
        assert {item["serial_number"]: item["labels"] for item in response.json()["items"]} == {
            "OLD-0001": [], "OLD-0002": [], "OLD-0003": ["süd"]}
        with engine.begin() as connection, pytest.raises(IntegrityError):
            connection.execute(text("UPDATE devices SET labels = 'null' WHERE id = 1"))
    finally:
        engine.dispose()


def _request_models_and_tables() -> list[tuple[type, type]]:
    from leitstand.alarms.models import AlarmRule
    from leitstand.alarms.schemas import AlarmRuleCreate, AlarmRuleUpdate
    from leitstand.auth.models import WebAuthnKey, YubiKey
    from leitstand.devices.schemas import DeviceCreate, DeviceUpdate
    from leitstand.maintenance.models import InspectionEntry, MaintenancePlan
    from leitstand.maintenance.schemas import EntryCreate, EntryUpdate, PlanCreate, PlanUpdate
    from leitstand.notifications.models import RoutingRule, Webhook
    from leitstand.notifications.schemas import RuleCreate, RuleUpdate, WebhookCreate, WebhookUpdate
    from leitstand.sites.models import Site, SiteGroup
    from leitstand.sites.schemas import SiteCreate, SiteGroupCreate, SiteGroupUpdate, SiteUpdate
    from leitstand.support.models import SupportAccessCode, Ticket
    from leitstand.support.schemas import SupportAccessCreate, TicketCreate
    from leitstand.tenancy.schemas import TenantCreate, TenantUpdate
    from leitstand.users.me_api import MeUpdate, TokenCreate, WebAuthnEnrol, YubiKeyEnrol
    from leitstand.accounts.models import User
    from leitstand.users.schemas import UserCreate, UserUpdate

    return [
        (TenantCreate, Tenant), (TenantUpdate, Tenant), (SiteCreate, Site), (SiteUpdate, Site),
        (SiteGroupCreate, SiteGroup), (SiteGroupUpdate, SiteGroup), (UserCreate, User), (UserUpdate, User),
        (MeUpdate, User), (DeviceCreate, Device), (DeviceUpdate, Device), (TokenCreate, ApiToken),
        (YubiKeyEnrol, YubiKey), (WebAuthnEnrol, WebAuthnKey), (TicketCreate, Ticket),
        (SupportAccessCreate, SupportAccessCode), (PlanCreate, MaintenancePlan), (PlanUpdate, MaintenancePlan),
        (EntryCreate, InspectionEntry), (EntryUpdate, InspectionEntry), (RuleCreate, RoutingRule),
        (RuleUpdate, RoutingRule), (WebhookCreate, Webhook), (WebhookUpdate, Webhook),
        (AlarmRuleCreate, AlarmRule), (AlarmRuleUpdate, AlarmRule),
    ]


def _max_length(node: dict) -> int | None:  # type: ignore[type-arg]
    """The longest text a field's schema lets through: None if unbounded, 0 if only a pattern or
    a list of values bound it (they are short by construction: keys, zones, enums)."""
    options = [option for option in node.get("anyOf", [node]) if option.get("type") != "null"]
    lengths = []
    for option in options:
        if "maxLength" in option:
            lengths.append(option["maxLength"])
        elif {"pattern", "enum", "$ref"} & option.keys():
            lengths.append(0)
        else:
            return None
    return max(lengths) if lengths else None


def test_text_the_api_takes_fits_its_column() -> None:
    """PostgreSQL refuses a longer value with an error (a 500); SQLite stores it. A city of 200
    characters once passed the API and failed the VARCHAR(100) on PostgreSQL."""
    too_long = []
    for model, table_model in _request_models_and_tables():
        columns = table_model.__table__.columns
        for field, node in model.model_json_schema()["properties"].items():
            length = getattr(getattr(columns.get(field), "type", None), "length", None)
            if length is not None and (_max_length(node) is None or _max_length(node) > length):  # type: ignore[operator]
                too_long.append(f"{model.__name__}.{field}: {_max_length(node)} > {table_model.__tablename__}.{field} {length}")
    assert too_long == []
