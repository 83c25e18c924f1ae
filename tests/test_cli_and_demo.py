"""The command line (help, init, user create) and the demo fleet."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from leitstand.access.models import RoleGrant
from leitstand.access.roles import ROLES
from leitstand.accounts.models import User
from leitstand.cli import app as cli_app
from leitstand.config import Settings
from leitstand.db.engine import make_engine
from leitstand.db.models import make_session_factory
from leitstand.demo.seed import DEMO_PASSWORD, seed_demo
from leitstand.devices.models import Device, DeviceCredential, DeviceShare
from leitstand.devicetypes.spec import shipped_types
from leitstand.licenses.models import License
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant, TenantKind
from leitstand.tenancy.scope import system_session

# Mainland Germany's bounding box, generously rounded.
GERMANY_LATITUDE = (47.2, 55.1)
GERMANY_LONGITUDE = (5.8, 15.1)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str, **env: str | None):  # type: ignore[no-untyped-def]
    """Run the CLI with the shell's database settings removed, unless a test sets them."""
    environment: dict[str, str | None] = {
        "LEITSTAND_DATABASE_URL": None, "LEITSTAND_CONFIG": None, "LEITSTAND_NEW_USER_PASSWORD": None,
        "COLUMNS": "200", "NO_COLOR": "1", **env,
    }
    return runner.invoke(cli_app, list(args), env=environment)


# --- help -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["init"], ["serve"], ["demo"], ["user", "create"], ["user", "reset-second-factor"], ["db", "upgrade"],
     ["license", "renew"]],
    ids=lambda command: " ".join(command),
)
def test_help(runner, command):
    result = invoke(runner, *command, "--help")

    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert "--data-dir" in result.output


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_serve_and_demo_take_host_port_and_data_dir(runner, command):
    result = invoke(runner, command, "--help")

    for option in ("--host", "--port", "--data-dir"):
        assert option in result.output, option


def test_license_renew_help_names_the_today_option(runner):
    assert "--today" in invoke(runner, "license", "renew", "--help").output


def test_without_a_command_the_cli_shows_help(runner):
    result = invoke(runner)

    assert "init" in result.output and "serve" in result.output and "demo" in result.output


# --- init and user create on a fresh SQLite data dir -----------------------------------------


def open_sqlite(data_dir: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(Settings(data_dir=data_dir).effective_database_url)
    return engine, make_session_factory(engine)


def test_init_and_user_create_on_a_fresh_data_dir(runner, tmp_path):
    data_dir = tmp_path / "fresh"

    initialised = invoke(runner, "init", "--data-dir", str(data_dir))
    created = invoke(runner, "user", "create", "Chef@Example.com", "--name", "Chefin", "--password", "a long enough secret",
                     "--data-dir", str(data_dir))

    assert initialised.exit_code == 0, initialised.output
    assert created.exit_code == 0, created.output
    assert (data_dir / "leitstand.db").exists()
    engine, factory = open_sqlite(data_dir)
    try:
        with system_session(factory, reason="test check") as db:
            root = db.scalar(select(Tenant).where(Tenant.parent_id.is_(None)))
            user = db.scalar(select(User).where(User.email == "chef@example.com"))
            assert root is not None and root.kind == TenantKind.root
            assert user is not None and user.display_name == "Chefin" and user.tenant_id == root.id
            grants = db.scalars(select(RoleGrant).where(RoleGrant.user_id == user.id)).all()
            assert [(g.role, g.scope_tenant_id) for g in grants] == [("platform_admin", root.id)]
            assert set(db.scalars(select(Device.type_key).distinct())) == set()
    finally:
        engine.dispose()


def test_init_is_repeatable_and_creates_no_account(runner, tmp_path):
    """ASVS 2.5.4: no default account (admin, root) exists; the first one is made with `user create`."""
    data_dir = str(tmp_path / "again")

    assert invoke(runner, "init", "--data-dir", data_dir).exit_code == 0
    assert invoke(runner, "init", "--data-dir", data_dir).exit_code == 0
    assert invoke(runner, "db", "upgrade", "--data-dir", data_dir).exit_code == 0

    engine, factory = open_sqlite(tmp_path / "again")
    try:
        with system_session(factory, reason="test check") as db:
            assert db.scalar(select(func.count()).select_from(Tenant)) == 1
            assert db.scalar(select(func.count()).select_from(User)) == 0
    finally:
        engine.dispose()


def test_the_created_user_can_log_in(runner, tmp_path):
    from fastapi.testclient import TestClient

    from leitstand.runtime import app_without_transports

    data_dir = tmp_path / "login"
    invoke(runner, "init", "--data-dir", str(data_dir))
    invoke(runner, "user", "create", "ops@example.com", "--data-dir", str(data_dir),
           LEITSTAND_NEW_USER_PASSWORD="a long enough secret")

    with app_without_transports(Settings(data_dir=data_dir, database_url="")) as app, TestClient(app) as client:
        response = client.post("/api/v1/auth/login", json={"email": "ops@example.com", "password": "a long enough secret"})
    assert response.status_code == 200, response.text


def test_user_create_refuses_duplicates_short_passwords_and_unknown_roles(runner, tmp_path):
    data_dir = str(tmp_path / "refusals")
    invoke(runner, "init", "--data-dir", data_dir)
    invoke(runner, "user", "create", "dup@example.com", "--password", "a long enough secret", "--data-dir", data_dir)

    duplicate = invoke(runner, "user", "create", "dup@example.com", "--password", "a long enough secret", "--data-dir", data_dir)
    short = invoke(runner, "user", "create", "short@example.com", "--password", "short", "--data-dir", data_dir)
    unknown_role = invoke(runner, "user", "create", "role@example.com", "--password", "a long enough secret",
                          "--role", "overlord", "--data-dir", data_dir)

    assert duplicate.exit_code == 1
    assert short.exit_code == 2
    assert unknown_role.exit_code == 2


def test_reset_second_factor_removes_the_factors_audits_and_mails(runner, tmp_path, smtp):
    """ASVS 2.5.7: the operator's way out for a lost factor with no recovery code left."""
    from leitstand.audit.models import AuditEntry
    from leitstand.auth.models import LoginSession, YubiKey

    data_dir = tmp_path / "reset"
    invoke(runner, "init", "--data-dir", str(data_dir))
    invoke(runner, "user", "create", "ops@example.com", "--password", "a long enough secret", "--data-dir", str(data_dir))
    engine, factory = open_sqlite(data_dir)
    try:
        with system_session(factory, reason="test setup") as db:
            user = db.scalar(select(User).where(User.email == "ops@example.com"))
            assert user is not None
            user.totp_secret_encrypted = b"sealed seed"
            db.add(YubiKey(user_id=user.id, name="lost", public_id="cccccccccccb", secret_encrypted=b"sealed"))
            db.commit()
        mail = {"LEITSTAND_SMTP_PORT": str(smtp.port)}

        unknown = invoke(runner, "user", "reset-second-factor", "nobody@example.com", "--reason", "x", "--yes",
                         "--data-dir", str(data_dir), **mail)
        blank = invoke(runner, "user", "reset-second-factor", "ops@example.com", "--reason", "  ", "--yes",
                       "--data-dir", str(data_dir), **mail)
        declined = invoke(runner, "user", "reset-second-factor", "ops@example.com", "--reason", "ticket 12",
                          "--data-dir", str(data_dir), **mail)
        reset = invoke(runner, "user", "reset-second-factor", "Ops@Example.com", "--reason", "ticket 12, ID checked",
                       "--yes", "--data-dir", str(data_dir), **mail)

        assert unknown.exit_code == 1 and blank.exit_code == 2 and declined.exit_code == 1
        assert reset.exit_code == 0, reset.output
        assert "YubiKeys 1" in reset.output and "The user was mailed." in reset.output
        with system_session(factory, reason="test check") as db:
            user = db.scalar(select(User).where(User.email == "ops@example.com"))
            assert user is not None and not user.has_totp
            assert db.scalar(select(func.count()).select_from(YubiKey)) == 0
            assert db.scalar(select(func.count()).select_from(LoginSession)) == 0
            [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "auth.second_factor_reset")).all()
            assert entry.changes["reason"] == "ticket 12, ID checked"
            assert entry.actor.startswith("leitstand user reset-second-factor")
            [key_removed] = db.scalars(select(AuditEntry).where(AuditEntry.action == "yubikeys.delete")).all()
            assert key_removed.actor == entry.actor
        [sent] = smtp.to("ops@example.com")
        assert "ticket 12, ID checked" in sent.get_payload(decode=True).decode()
    finally:
        engine.dispose()


def test_user_create_before_init_fails_cleanly(runner, tmp_path):
    data_dir = tmp_path / "uninitialised"
    invoke(runner, "db", "upgrade", "--data-dir", str(data_dir))  # schema, but no root tenant yet

    result = invoke(runner, "user", "create", "early@example.com", "--password", "a long enough secret",
                    "--data-dir", str(data_dir))

    assert result.exit_code == 2
    assert "init" in result.output


# --- the demo fleet --------------------------------------------------------------------------


@pytest.fixture
def demo(system_db):  # type: ignore[no-untyped-def]
    return system_db, seed_demo(system_db).logins


def test_demo_tenants(demo):
    db, _ = demo
    partners = db.scalars(select(Tenant).where(Tenant.kind == TenantKind.partner)).all()
    assert len(partners) == 1
    customers = db.scalars(select(Tenant).where(Tenant.parent_id == partners[0].id)).all()
    assert len(customers) == 2
    assert {customer.kind for customer in customers} == {TenantKind.customer}
    end_customers = db.scalars(select(Tenant).where(Tenant.kind == TenantKind.end_customer)).all()
    assert len(end_customers) == 1
    assert end_customers[0].parent_id in {customer.id for customer in customers}
    for tenant in [*partners, *customers, *end_customers]:
        assert tenant.street and tenant.postal_code and tenant.city


def test_demo_sites_are_real_places_in_germany(demo):
    db, _ = demo
    top_level = db.scalars(select(Site).where(Site.parent_id.is_(None))).all()

    assert len(top_level) >= 6
    for site in top_level:
        assert site.street and site.city and len(site.postal_code) == 5 and site.postal_code.isdigit(), site.name
        assert site.country == "DE"
        assert GERMANY_LATITUDE[0] <= site.latitude <= GERMANY_LATITUDE[1], site.name
        assert GERMANY_LONGITUDE[0] <= site.longitude <= GERMANY_LONGITUDE[1], site.name
    # Every site below a top-level one belongs to the same tenant.
    for child in db.scalars(select(Site).where(Site.parent_id.is_not(None))):
        parent = db.get(Site, child.parent_id)
        assert parent is not None and parent.tenant_id == child.tenant_id
        assert child.path.startswith(parent.path)


def test_demo_devices(demo):
    db, _ = demo
    devices = db.scalars(select(Device)).all()

    assert 50 <= len(devices) <= 70
    assert {device.type_key for device in devices} == set(shipped_types())
    assert all(device.claim_secret_hash and device.claim_secret_hash.startswith("$argon2") for device in devices)
    for device in devices:
        site = db.get(Site, device.site_id)
        assert site is not None and site.tenant_id == device.tenant_id, device.name
    assert len({device.serial_number for device in devices}) == len(devices)
    assert db.scalar(select(func.count()).select_from(License)) < len(devices)  # some are unlicensed
    assert db.scalar(select(func.count()).select_from(DeviceShare)) >= 1


def test_demo_devices_have_credentials_as_claimed_devices_do(demo):
    db, _ = demo

    live = db.scalars(select(DeviceCredential.device_id).where(DeviceCredential.revoked_at.is_(None))).all()

    assert sorted(live) == sorted(db.scalars(select(Device.id)))  # one each


def test_demo_has_users_for_every_role(demo):
    db, logins = demo
    roles = set(db.scalars(select(RoleGrant.role).distinct()))

    assert roles == set(ROLES)
    assert {login.email for login in logins} == set(db.scalars(select(User.email)))
    assert all(db.scalar(select(User).where(User.email == login.email)).has_password for login in logins)


def test_demo_admin_can_log_in(demo, client):
    response = client.post("/api/v1/auth/login", json={"email": "admin@example.com", "password": DEMO_PASSWORD})

    assert response.status_code == 200, response.text
    assert response.json()["second_factor_required"] is False
    me = client.get("/api/v1/devices", params={"limit": 500})
    assert me.status_code == 200
    assert me.json()["total"] == demo[0].scalar(select(func.count()).select_from(Device))


def test_demo_refuses_a_populated_installation(demo):
    db, _ = demo

    with pytest.raises(RuntimeError):
        seed_demo(db)


# --- `leitstand demo` serves a fleet that is alive (or not, with --no-simulate) ----------------

SIMULATED_TYPES = ("barrier", "bollard", "thermostat")
LIVE_DATA_WAIT = 120.0  # the demo's start and its devices' first reports, on a busy 2-core machine


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_demo(tmp_path: Path, *options: str):  # type: ignore[no-untyped-def]
    """`leitstand demo` in a fresh process on a fresh SQLite data dir; serving once it returns."""
    from tests.test_cli_smoke import Installation, _shell_env

    data_dir = tmp_path / "demo"
    port = _free_port()
    running = Installation(data_dir, _shell_env(data_dir)).start("demo", "--port", str(port), *options)
    try:
        running.wait_for("Application startup complete")
    except BaseException:
        running.stop()
        raise
    return running, f"http://127.0.0.1:{port}", data_dir


def test_the_demo_simulates_its_fleet_by_default_and_stores_its_telemetry(tmp_path):
    import time

    import httpx

    running, url, _data_dir = _start_demo(tmp_path)
    try:
        with httpx.Client(base_url=url, timeout=30) as api:
            login = api.post("/api/v1/auth/login", json={"email": "admin@example.com", "password": DEMO_PASSWORD})
            assert login.status_code == 200, login.text
            devices = api.get("/api/v1/devices", params={"limit": 500}).json()["items"]
            simulated = [device["id"] for device in devices if device["type_key"] in SIMULATED_TYPES]
            deadline = time.monotonic() + LIVE_DATA_WAIT
            values: list[object] = []
            attempt = 0
            while not values:  # round the devices: unlicensed ones have their telemetry refused
                assert time.monotonic() < deadline, "no telemetry from the simulated fleet:\n" + "".join(running.seen)
                device_id = simulated[attempt % len(simulated)]
                attempt += 1
                latest = api.get(f"/api/v1/devices/{device_id}/telemetry/latest")
                assert latest.status_code == 200, latest.text
                values = latest.json()["values"]
    finally:
        _interrupt(running)
    output = " ".join("".join(running.seen).split())
    assert "demo fleet stopped" in output and "0 failures" in output, output[-4000:]  # stopped with the demo


def _interrupt(running) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C, as a newcomer stops the demo; the rest of its output is read to the end."""
    import signal

    if running.process.poll() is None:
        running.process.send_signal(signal.SIGINT)
    running.process.wait(120)
    while (line := running.lines.get(timeout=120)) is not None:
        running.seen.append(line)


def test_the_demo_without_simulation_starts_no_fleet(tmp_path):
    running, _url, data_dir = _start_demo(tmp_path, "--no-simulate")
    running.stop()

    # The fleet, when it starts, gives its devices fresh credentials (revoking the seed's).
    engine, factory = open_sqlite(data_dir)
    try:
        with system_session(factory, reason="test check") as db:
            credentials = db.scalar(select(func.count()).select_from(DeviceCredential))
            devices = db.scalar(select(func.count()).select_from(Device))
    finally:
        engine.dispose()
    assert credentials == devices  # the seed's one each, none rotated
    assert "Simulating" not in "".join(running.seen)
