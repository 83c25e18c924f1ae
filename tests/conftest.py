"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL: a throw-away database per test run on 127.0.0.1 (LEITSTAND_TEST_PG_URL
names the server). Each test starts from empty tables. Where PostgreSQL is not
reachable the PostgreSQL half is skipped, unless LEITSTAND_REQUIRE_SERVICES=1
(set by CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from leitstand.auth.secrets import use_cheap_hashing_for_tests
from leitstand.bootstrap import ensure_essentials
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.db.engine import make_engine
from leitstand.db.models import Base, make_session_factory
from leitstand.tenancy.scope import system_session

use_cheap_hashing_for_tests()

PG_SERVER_URL = os.environ.get("LEITSTAND_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_SERVICES = os.environ.get("LEITSTAND_REQUIRE_SERVICES") == "1"
BACKENDS = [b.strip() for b in os.environ.get("LEITSTAND_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]

# Fixtures of the LoRaWAN tests (a process with the transport, a stand-in network server), shared by
# tests/transports/lorawan and tests/heating.
pytest_plugins = ["tests.helpers.lorawan"]


# Where a second backend adds nothing but minutes, a test runs on one: browser tests check the
# page (the queries behind it are tested on both backends), schemathesis checks the schema against
# the server (on PostgreSQL, the production store). `one_backend(name)` says so for a test;
# `every_backend` keeps a browser test on both (the walks that open every page).
BROWSER_BACKEND = "sqlite"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip: the summary counts them) a test's run on a backend it does not need."""
    keep, drop = [], []
    for item in items:
        backend = getattr(getattr(item, "callspec", None), "params", {}).get("database_url")
        wanted = _only_backend(item)
        (drop if backend is not None and wanted is not None and wanted in BACKENDS and backend != wanted
         else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _only_backend(item: pytest.Item) -> str | None:
    if (marker := item.get_closest_marker("one_backend")) is not None:
        return str(marker.args[0])
    if "browser" in getattr(item, "fixturenames", ()) and item.get_closest_marker("every_backend") is None:
        return BROWSER_BACKEND
    return None


def service_unavailable(message: str) -> None:
    """Skip locally, fail in CI: a missing service must never silently shrink the suite."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {message}")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    url = make_url(PG_SERVER_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "leitstand.db"
        yield f"sqlite:///{path}"
        return
    name = f"leitstand_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        admin = _pg_admin_engine()
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - any connection failure means "not available"
        service_unavailable(f"PostgreSQL at {PG_SERVER_URL}: {error}")
    url = make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


class _KeepingHandler:
    def __init__(self, received: list) -> None:  # type: ignore[type-arg]
        self.received = received

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802 - aiosmtpd's hook name
        from email import message_from_bytes

        self.received.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.received: list = []  # type: ignore[type-arg]
        self.port = free_port()
        self.controller = Controller(_KeepingHandler(self.received), hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list:  # type: ignore[type-arg]
        """What arrived, once the mail queued in the background (leitstand.mail.outbox) is out."""
        from leitstand.mail.outbox import sender

        assert sender.wait_until_sent(timeout=30), "background mail still unsent after 30 s"
        return self.received

    def to(self, address: str) -> list:  # type: ignore[type-arg]
        return [message for message in self.messages if message["To"] == address]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture
def smtp(smtp_server: SmtpSink) -> SmtpSink:
    smtp_server.messages.clear()
    return smtp_server


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    from leitstand.db import migrate

    migrate.upgrade(database_url)
    return database_url


def _empty_all_tables(engine) -> None:  # type: ignore[no-untyped-def]
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def settings(migrated: str, tmp_path: Path, smtp_server: SmtpSink) -> Settings:
    return Settings(
        database_url=migrated, data_dir=tmp_path / "data", secret_key="test-installation-secret",
        smtp_port=smtp_server.port, public_url="http://localhost:8000",
    )


@pytest.fixture
def session_factory(settings: Settings):  # type: ignore[no-untyped-def]
    engine = make_engine(settings.effective_database_url)
    _empty_all_tables(engine)
    factory = make_session_factory(engine)
    ensure_essentials(settings, factory)
    yield factory
    engine.dispose()


@pytest.fixture
def system_db(session_factory):  # type: ignore[no-untyped-def]
    with system_session(session_factory, reason="test setup") as db:
        yield db


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    yield
    clock.unfreeze()


@pytest.fixture
def app(settings: Settings, session_factory):  # type: ignore[no-untyped-def]
    from leitstand.runtime import app_without_transports
    from tests.helpers.transports import RecordingTransport

    with app_without_transports(settings) as application:
        # Commands of the test app's devices leave through a transport the test can look at.
        application.state.recording_transport = RecordingTransport()
        application.state.commands.attach("native", application.state.recording_transport)
        yield application


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://localhost:8000") as test_client:
        yield test_client


@pytest.fixture
def world(app, system_db):  # type: ignore[no-untyped-def]
    from tests.helpers.world import World

    return World.build(app, system_db)


# The test device types (tests/devicetypes/catalog): declared only while a test asks for one.
TEST_DEVICE_TYPES = Path(__file__).parent / "devicetypes" / "catalog"


@pytest.fixture
def binary_thermostat():  # type: ignore[no-untyped-def]
    """A thermostat type that speaks the binary payload of the `thermostat-binary-v1` codec.
    A test that stores devices of it runs `sync_shipped_types` to write its `DeviceType` row."""
    from leitstand.devicetypes.spec import extra_catalog, spec_for

    with extra_catalog(TEST_DEVICE_TYPES):
        yield spec_for("binary_thermostat")
