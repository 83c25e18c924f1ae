"""Throw-away Leitstand instances (SQLite file, PostgreSQL database) and a demo-like tenant to export."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from leitstand.accounts.models import User
from leitstand.alarms.models import Alarm, AlarmComment, AlarmRule
from leitstand.bootstrap import ensure_essentials, root_tenant
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.db import migrate
from leitstand.db.engine import make_engine
from leitstand.db.models import make_session_factory
from leitstand.auth.secrets import SecretBox
from leitstand.devices.bindings import bind_device
from leitstand.devices.connections import create_connection
from leitstand.devices.models import DeviceShare
from leitstand.maintenance import book
from leitstand.maintenance.models import InspectionEntry, MaintenancePlan
from leitstand.notifications.models import RoutingRule
from leitstand.state.models import DeviceEvent, DeviceState
from leitstand.support.models import SupportAccessCode, Ticket, TicketComment, TicketEvent
from leitstand.telemetry.store import Point, forget_known_partitions, write_points
from leitstand.tenancy.models import Tenant, TenantKind, new_path_segment
from leitstand.tenancy.scope import system_session
from tests.conftest import PG_SERVER_URL, service_unavailable
from tests.helpers.world import _organisation

PDF = b"%PDF-1.4\n% Leitstand test report\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
# A connection's secret: sealed at rest, and never in an export.
CONNECTION_SECRET = "lns-api-key-9c2e77"
START = datetime(2026, 3, 28, 0, 0, tzinfo=UTC)  # across the change to summer time in Berlin


@dataclass
class Instance:
    url: str
    settings: Settings
    factory: sessionmaker[Session]

    @property
    def backend(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"


def _instance(url: str, data_dir: Path) -> Instance:
    migrate.upgrade(url)
    settings = Settings(database_url=url, data_dir=data_dir, secret_key="test-installation-secret")
    factory = make_session_factory(make_engine(url))
    ensure_essentials(settings, factory)
    return Instance(url, settings, factory)


@pytest.fixture
def sqlite_instance(tmp_path: Path) -> Iterator[Instance]:
    instance = _instance(f"sqlite:///{tmp_path / 'sqlite' / 'leitstand.db'}", tmp_path / "sqlite-data")
    yield instance
    instance.factory.kw["bind"].dispose()


@pytest.fixture
def pg_instance(tmp_path: Path) -> Iterator[Instance]:
    name = f"leitstand_export_{secrets.token_hex(4)}"
    try:
        admin = create_engine(make_url(PG_SERVER_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - any connection failure means "not available"
        service_unavailable(f"PostgreSQL at {PG_SERVER_URL}: {error}")
    instance = _instance(make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False),
                         tmp_path / "pg-data")
    try:
        yield instance
    finally:
        instance.factory.kw["bind"].dispose()
        forget_known_partitions()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass(frozen=True)
class Seeded:
    partner_id: int
    customer_id: int
    other_partner_id: int
    points: int


def seed_tenant(instance: Instance, label: str = "Alpha", mark: str = "ALPHA-7Q") -> Seeded:
    """A partner with a customer and an end customer: sites, devices, users, telemetry, an event,
    an alarm with a comment, a maintenance plan and an inspection entry with a PDF, a ticket, a
    release code, a routing rule; plus a second partner that must never appear in the export."""
    with system_session(instance.factory, reason="test seeds a tenant") as db:
        root = root_tenant(db)
        assert root is not None
        org = _organisation(db, root, label, mark, {})
        other = _organisation(db, root, "Beta", "BETA-3Z", {})
        end = Tenant(parent_id=org.customer.id, kind=TenantKind.end_customer, name=f"{label} Endkunde",
                     path=f"{org.customer.path}{new_path_segment()}/")
        db.add(end)
        db.flush()
        db.add(DeviceShare(device_id=org.barrier.id, tenant_id=end.id, owner_tenant_id=org.customer.id))
        now = clock.now()
        db.add(DeviceState(device_id=org.barrier.id, tenant_id=org.customer.id, last_seen_at=now, online=True,
                           attributes={"firmware": "1.2"}, latest={"cycles": {"at": now.isoformat(), "value": 5}}))
        db.add(DeviceEvent(device_id=org.barrier.id, tenant_id=org.customer.id, at=now, kind="error", code="E01",
                           severity="major", data={"text": "Lichtschranke"}))
        rule = AlarmRule(tenant_id=org.customer.id, key="hot", name="Too hot", type_key="thermostat",
                         target_kind="site", site_id=org.site.id, condition={"kind": "threshold", "above": 30})
        alarm = Alarm(tenant_id=org.customer.id, device_id=org.barrier.id, site_id=org.room.id, key="barrier.errors:E01",
                      open_key="barrier.errors:E01", rule_key="barrier.errors", kind="error_code", code="E01",
                      severity="major", title="Photo eye blocked", acknowledged_by_id=org.operator.id,
                      acknowledged_at=now, state="acknowledged")
        db.add_all([rule, alarm])
        db.flush()
        db.add(AlarmComment(alarm_id=alarm.id, device_id=org.barrier.id, author_id=org.operator.id, text="Gereinigt"))
        plan = MaintenancePlan(device_id=org.barrier.id, tenant_id=org.customer.id, name="Jährliche Prüfung",
                               kind="interval", interval_months=12, lead_days=30, checklist=["Antrieb", "Lichtschranke"],
                               last_done_on=date(2026, 1, 10), due_on=date(2027, 1, 10), warn_on=date(2026, 12, 11))
        db.add(plan)
        db.flush()
        entry = InspectionEntry(device_id=org.barrier.id, tenant_id=org.customer.id, performed_on=date(2026, 1, 10),
                                technician_user_id=org.operator.id, technician_name="M. Muster",
                                checklist=[{"item": "Antrieb", "result": "ok", "note": ""}], findings="keine",
                                completed_plan_ids=[plan.id], counter_reading=100_000.5)
        db.add(entry)
        db.flush()
        book.store_attachment(db, instance.settings, entry, "Prüfbericht.pdf", PDF)
        ticket = Ticket(tenant_id=org.customer.id, device_id=org.barrier.id, ticket_class=2, title="Schranke hängt",
                        description="seit Montag", status="open", sla_policy="barrier-portal", updated_at=now,
                        reporter_id=org.operator.id)
        db.add(ticket)
        db.flush()
        db.add_all([TicketEvent(ticket_id=ticket.id, kind="opened", at=now),
                    TicketComment(ticket_id=ticket.id, author_id=org.operator.id, body="Bitte prüfen")])
        db.add(SupportAccessCode(tenant_id=org.customer.id, note="Ticket 1", code_hash="ab" * 32, hint="WXYZ",
                                 expires_at=now + timedelta(hours=48)))
        db.add(RoutingRule(tenant_id=org.customer.id, name="Alle", severities=["major"], site_ids=[org.site.id],
                           user_ids=[org.operator.id], channels=["email"]))
        # The customer's own network server, and the partner's, which a customer export leaves behind.
        box = SecretBox(instance.settings.resolved_secret_key())
        own = create_connection(db, box, tenant_id=org.customer.id, transport="chirpstack", name="ChirpStack",
                                settings={"url": "https://lns.example"}, secrets={"api_key": CONNECTION_SECRET})
        partners = create_connection(db, box, tenant_id=org.partner.id, transport="tts", name="TTS",
                                     secrets={"api_key": CONNECTION_SECRET})
        db.flush()
        bind_device(db, org.thermostat, own, "70B3D57ED0000001")
        bind_device(db, org.barrier, partners, "70B3D57ED0000002")
        db.commit()
        points = [Point(org.thermostat.id, "temperature", START + timedelta(minutes=15 * n), 20.0 + (n % 7) / 4,
                        "Europe/Berlin") for n in range(300)]
        points += [Point(org.barrier.id, "cycles", START + timedelta(hours=n), n * 10, "Europe/Berlin") for n in range(48)]
        points += [Point(org.barrier.id, "state", START + timedelta(hours=n, microseconds=250), "open, ok" if n % 2 else "",
                         "Europe/Berlin") for n in range(10)]
        points += [Point(other.thermostat.id, "temperature", START, 99.0, "Europe/Berlin")]
        write_points(db.connection(), points)
        db.commit()
        return Seeded(org.partner.id, org.customer.id, other.partner.id, len(points) - 1)


def users_of(instance: Instance) -> list[User]:
    with system_session(instance.factory, reason="test reads users") as db:
        return list(db.query(User).all())
