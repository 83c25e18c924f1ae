"""Running Leitstand on Mosquitto from the command line: `broker setup` makes the service
user once and then changes nothing; `simulate` and `demo` hand device credentials to
dynamic security the way a claim or rotation does; `simulate` reports what the broker
acknowledged, and refusals with their reason."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leitstand.cli import app as cli_app
from leitstand.config import Settings
from leitstand.devices.models import Device, DeviceCredential
from leitstand.simulator.devices import Barrier
from leitstand.simulator.fleet import Fleet, FleetMember
from leitstand.tenancy.scope import system_session
from leitstand.transports.mqtt.dynsec import SERVICE_ROLE, MosquittoDeviceAdmin, device_role
from tests.transports.mqtt_support import WAIT, Mosquitto, MqttProbe, add_device, start_mosquitto

ProbeFactory = Callable[..., MqttProbe]
NOT_AUTHORIZED = 135  # MQTT 5 CONNACK "Not authorized"


def cli_env(settings: Settings, mosquitto: Mosquitto, **overrides: str | None) -> dict[str, str | None]:
    """The environment of an operator's shell for this installation and broker."""
    return {
        "LEITSTAND_CONFIG": None, "LEITSTAND_DATABASE_URL": settings.effective_database_url,
        "LEITSTAND_DATA_DIR": str(settings.data_dir), "LEITSTAND_SECRET_KEY": settings.secret_key,
        "LEITSTAND_MQTT_BROKER": "mosquitto", "LEITSTAND_MQTT_HOST": "127.0.0.1",
        "LEITSTAND_MQTT_PORT": str(mosquitto.plain_port),
        "LEITSTAND_MQTT_ADMIN_USERNAME": mosquitto.admin_user, "LEITSTAND_MQTT_ADMIN_PASSWORD": mosquitto.admin_password,
        "LEITSTAND_MQTT_SERVICE_USERNAME": mosquitto.service_user,
        "LEITSTAND_MQTT_SERVICE_PASSWORD": mosquitto.service_password,
        "COLUMNS": "300", "NO_COLOR": "1", **overrides,
    }


def invoke(env: dict[str, str | None], *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli_app, list(args), env=env)


def dynsec_state(admin: MosquittoDeviceAdmin, username: str) -> list[Any]:
    answers = admin.execute([{"command": "getClient", "username": username},
                             {"command": "getRole", "rolename": SERVICE_ROLE}])
    return [answer.get("data") for answer in answers]


# --- leitstand broker setup ------------------------------------------------------------------------


@pytest.fixture
def fresh_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto whose dynamic security knows only its admin, as after `mosquitto_ctrl dynsec init`."""
    broker = start_mosquitto(tmp_path / "fresh-mosquitto")
    with broker.admin() as admin:  # start_mosquitto made the service user; undo that
        admin.execute([{"command": "deleteClient", "username": broker.service_user},
                       {"command": "deleteRole", "rolename": SERVICE_ROLE}])
    yield broker
    broker.process.terminate()
    broker.process.wait(WAIT)


def test_broker_setup_creates_the_service_user_and_a_second_run_changes_nothing(
        fresh_mosquitto: Mosquitto, settings: Settings, mqtt_probe: ProbeFactory) -> None:
    env = cli_env(settings, fresh_mosquitto)

    first = invoke(env, "broker", "setup")

    assert first.exit_code == 0, first.output
    assert f"created role {SERVICE_ROLE}" in first.output
    assert f"created user {fresh_mosquitto.service_user}" in first.output
    service = mqtt_probe(fresh_mosquitto.plain_port, fresh_mosquitto.service_user, fresh_mosquitto.service_password,
                         client_id=f"leitstand-setup-{secrets.token_hex(3)}")
    assert not service.connect().is_failure
    assert not service.subscribe("$share/ingest/ls/v1/+/up/#").is_failure
    service.close()
    with fresh_mosquitto.admin() as admin:
        before = dynsec_state(admin, fresh_mosquitto.service_user)

        second = invoke(env, "broker", "setup")

        assert second.exit_code == 0, second.output
        assert "nothing changed" in second.output
        assert "created" not in second.output and "set the" not in second.output
        assert dynsec_state(admin, fresh_mosquitto.service_user) == before

        # A new service password is set (and only that).
        changed = invoke({**env, "LEITSTAND_MQTT_SERVICE_PASSWORD": "a-new-service-password"}, "broker", "setup")
        assert changed.exit_code == 0, changed.output
        assert f"set the password of user {fresh_mosquitto.service_user}" in changed.output
        assert "created" not in changed.output
        assert admin.can_log_in(fresh_mosquitto.service_user, "a-new-service-password")


def test_broker_setup_names_what_is_missing(settings: Settings, mosquitto: Mosquitto) -> None:
    embedded = invoke(cli_env(settings, mosquitto, LEITSTAND_MQTT_BROKER="embedded"), "broker", "setup")
    no_admin = invoke(cli_env(settings, mosquitto, LEITSTAND_MQTT_ADMIN_USERNAME=None), "broker", "setup")

    assert embedded.exit_code == 1 and "for Mosquitto" in embedded.output
    assert no_admin.exit_code == 1 and "LEITSTAND_MQTT_ADMIN_USERNAME" in no_admin.output


# --- leitstand simulate ----------------------------------------------------------------------------


def live_credentials(session_factory: Any, serial: str) -> list[int]:
    with system_session(session_factory, reason="test check") as db:
        return list(db.scalars(select(DeviceCredential.id).join(Device, Device.id == DeviceCredential.device_id)
                               .where(Device.serial_number == serial, DeviceCredential.revoked_at.is_(None))))


def test_simulate_on_mosquitto_logs_its_devices_in_and_counts_what_the_broker_acknowledged(
        mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, settings: Settings, session_factory: Any,
        system_db: Any, mqtt_probe: ProbeFactory) -> None:
    devices = [add_device(system_db, type_key=type_key) for type_key in ("barrier", "thermostat")]
    for device in devices:
        dynsec.provision(device.serial, device.secret)  # as claimed: database and broker agree
    try:
        result = invoke(cli_env(settings, mosquitto), "simulate", "--devices", "2", "--every", "0.2",
                        "--minutes", "0.01")

        assert result.exit_code == 0, result.output
        acknowledged = re.search(r"Acknowledged by the broker: (\d+) publishes", result.output)
        assert acknowledged is not None, result.output
        # Each device: a heartbeat and telemetry per tick, the first tick at once.
        assert int(acknowledged.group(1)) >= 2 * len(devices), result.output
        assert "; 0 failures." in result.output and "failed" not in result.output
        for device in devices:
            # Rotated in the database and in the broker alike: the old secret is refused.
            assert len(live_credentials(session_factory, device.serial)) == 1
            assert live_credentials(session_factory, device.serial) != [device.credential.id]
            refused = mqtt_probe(mosquitto.tls_port, device.serial, device.secret, tls_ca=mosquitto.pki.ca_file)
            assert refused.connect().value == NOT_AUTHORIZED
    finally:
        for device in devices:
            dynsec.revoke(device.serial)


def test_simulate_on_mosquitto_without_the_admin_login_changes_nothing_and_says_why(
        mosquitto: Mosquitto, settings: Settings, session_factory: Any, system_db: Any) -> None:
    device = add_device(system_db)

    result = invoke(cli_env(settings, mosquitto, LEITSTAND_MQTT_ADMIN_USERNAME=None), "simulate", "--devices", "1",
                    "--every", "0.2", "--minutes", "0.01")

    assert result.exit_code == 1, result.output
    assert "LEITSTAND_MQTT_ADMIN_USERNAME" in result.output
    assert live_credentials(session_factory, device.serial) == [device.credential.id]


def test_a_refused_login_is_a_failure_with_its_reason_not_a_publish(
        mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, system_db: Any) -> None:
    import random

    device = add_device(system_db)
    dynsec.provision(device.serial, device.secret)
    try:
        member = FleetMember(device=Barrier(serial=device.serial, rng=random.Random(1)), password="not-its-secret")
        fleet = Fleet([member], "127.0.0.1", mosquitto.plain_port, telemetry_every=0.2, offline_rate=0.0)

        stats = fleet.run(timedelta(seconds=0.5))
    finally:
        dynsec.revoke(device.serial)

    assert stats.acknowledged == 0
    assert {reason: serials for reason, serials in stats.failures.items()} == {
        "login refused: Not authorized": [device.serial]}


# --- leitstand demo --------------------------------------------------------------------------------


def test_demo_on_mosquitto_gives_every_device_its_broker_user(
        mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, settings: Settings, session_factory: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import leitstand.cli

    monkeypatch.setattr(leitstand.cli, "_serve", lambda *args, **kwargs: None)  # seed, report, but do not serve

    result = invoke(cli_env(settings, mosquitto), "demo")

    assert result.exit_code == 0, result.output
    with system_session(session_factory, reason="test check") as db:
        serials = list(db.scalars(select(Device.serial_number)))
        credentialed = set(db.scalars(select(Device.serial_number).join(
            DeviceCredential, DeviceCredential.device_id == Device.id).where(DeviceCredential.revoked_at.is_(None))))
    try:
        assert f"{len(serials)} of {len(serials)} demo devices have credentials in the database and in Mosquitto" \
            in result.output
        assert credentialed == set(serials)
        answers = dynsec.execute([{"command": "getClient", "username": serial} for serial in serials],
                                 tolerate=["Client not found"])
        missing = [serial for serial, answer in zip(serials, answers, strict=True) if answer.get("error")]
        assert missing == []
        roles = {serial: [role["rolename"] for role in answer["data"]["client"]["roles"]]
                 for serial, answer in zip(serials, answers, strict=True)}
        assert roles == {serial: [device_role(serial)] for serial in serials}
    finally:
        for serial in serials:
            dynsec.revoke(serial)
