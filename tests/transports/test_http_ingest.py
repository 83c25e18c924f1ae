"""HTTP ingest: the MQTT payloads over HTTP, authenticated by the device's own credential."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from leitstand.clock import clock
from leitstand.commands.models import Command, CommandStatus
from leitstand.devices.claiming import issue_credentials
from leitstand.devices.models import Device
from leitstand.state.models import DeviceState, IngestRejection
from leitstand.telemetry.models import TelemetryPoint
from leitstand.transports.http.api import BAD_CREDENTIALS

INGEST = "/api/v1/ingest"


class DeviceClient:
    """A device speaking HTTP ingest with its credential."""

    def __init__(self, world, device: Device, secret: str) -> None:  # type: ignore[no-untyped-def]
        self.world, self.device, self.secret = world, device, secret

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.device.serial_number}:{self.secret}"}

    def post(self, kind: str, payload=None, **kwargs):  # type: ignore[no-untyped-def]
        headers = {**self.auth, **kwargs.pop("headers", {})}
        if payload is not None:
            kwargs["json"] = payload
        return self.world.client.post(f"{INGEST}/{kind}", headers=headers, **kwargs)


def with_credentials(world, device: Device) -> DeviceClient:  # type: ignore[no-untyped-def]
    device = world.db.get(Device, device.id)
    _, secret = issue_credentials(world.db, device)
    world.db.commit()
    return DeviceClient(world, device, secret)


@pytest.fixture
def barrier(world) -> DeviceClient:  # type: ignore[no-untyped-def]
    """Alpha's barrier: claimed, licensed, with credentials."""
    return with_credentials(world, world.alpha.barrier)


def points(world, device: Device) -> list[TelemetryPoint]:  # type: ignore[no-untyped-def]
    world.db.expire_all()
    return list(world.db.scalars(select(TelemetryPoint).where(TelemetryPoint.device_id == device.id)
                                 .order_by(TelemetryPoint.key, TelemetryPoint.ts)))


def rejections(world, device: Device) -> dict[str, int]:  # type: ignore[no-untyped-def]
    world.db.expire_all()
    rows = world.db.scalars(select(IngestRejection).where(IngestRejection.device_id == device.id))
    return {row.reason: row.count for row in rows}


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()  # type: ignore[no-any-return]


# --- storing ---------------------------------------------------------------------------


def test_telemetry_is_committed_before_202_and_visible_in_the_store(world, barrier):
    at = (clock.now() - timedelta(minutes=1)).replace(microsecond=0)

    response = barrier.post("telemetry", {"ts": at.isoformat(), "values": {"motor_temperature": 41.5, "position": "open"}})

    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1, "points_written": 2}
    stored = {point.key: point for point in points(world, barrier.device)}
    assert stored["motor_temperature"].num == 41.5
    assert stored["motor_temperature"].ts == at
    assert stored["position"].txt == "open"


def test_a_batch_with_timestamps_is_stored_point_by_point(world, barrier):
    now = clock.now().replace(microsecond=0)
    batch = [{"ts": (now - timedelta(minutes=m)).isoformat(), "values": {"cycles": float(100 + m)}} for m in range(3)]

    response = barrier.post("telemetry", {"batch": batch})

    assert response.status_code == 202, response.text
    assert [point.num for point in points(world, barrier.device)] == [102.0, 101.0, 100.0]


def test_heartbeat_without_a_body_marks_the_device_seen(world, barrier):
    response = barrier.post("heartbeat", content=b"")

    assert response.status_code == 202, response.text
    world.db.expire_all()
    state = world.db.get(DeviceState, barrier.device.id)
    assert state is not None and state.last_seen_at is not None


def test_attributes_and_events_are_accepted(world, barrier):
    assert barrier.post("attributes", {"attributes": {"firmware": "2.4.1"}}).status_code == 202
    assert barrier.post("events", {"code": "E01", "data": {"cycle": 12}}).status_code == 202
    world.db.expire_all()
    assert world.db.get(DeviceState, barrier.device.id).attributes["firmware"] == "2.4.1"


def test_a_command_result_moves_the_command_on(world, barrier):
    device = barrier.device
    command = Command(public_id="0123456789abcdef", device_id=device.id, tenant_id=device.tenant_id, name="open",
                      parameters={}, idempotency_key="k1", status=CommandStatus.sent,
                      expires_at=clock.now() + timedelta(minutes=5))
    world.db.add(command)
    world.db.commit()

    response = barrier.post("commands/0123456789abcdef", {"status": "succeeded", "detail": "opened"})

    assert response.status_code == 202, response.text
    world.db.expire_all()
    assert world.db.get(Command, command.id).status == CommandStatus.confirmed  # the device says "succeeded"


def test_a_result_for_an_unknown_command_is_refused_and_counted(world, barrier):
    body = assert_problem(barrier.post("commands/feedfacefeedface", {"status": "succeeded"}), 404)

    assert body["reason"] == "unknown_command"
    assert rejections(world, barrier.device) == {"unknown_command": 1}


# --- bad input: refused, counted, nothing stored ------------------------------------------


@pytest.mark.parametrize("payload, reason", [
    (b'{"values": {"motor_temperature": NaN}}', "malformed"),
    (b'{"values": {"motor_temperature": Infinity}}', "malformed"),
    (b'{"values": {"motor_temperature": 1e999}}', "malformed"),
    (b'{"values": {"motor_temperature": ', "malformed"),
    (b'[1, 2, 3]', "malformed"),
    (b'{"values": {"motor_temperature": "hot"}}', "bad_value"),
    (b'{"values": {"motor_temperature": 500}}', "bad_value"),
    (b'{"values": {"no_such_key": 1}}', "unknown_key"),
    (b'{"ts": "2001-01-01T00:00:00Z", "values": {"motor_temperature": 20}}', "bad_timestamp"),
    (b'{"values": {"motor_temperature": 20}, "serial": "BETA-BAR-0001"}', "malformed"),
], ids=["nan", "infinity", "overflow", "truncated", "not-an-object", "wrong-type", "out-of-range", "unknown-key",
        "far-past", "foreign-field"])
def test_bad_telemetry_is_refused_and_counted_on_the_device(world, barrier, payload, reason):
    response = barrier.post("telemetry", content=payload, headers={"content-type": "application/json"})

    body = assert_problem(response, 422)
    assert body["reason"] == reason
    assert rejections(world, barrier.device) == {reason: 1}
    assert points(world, barrier.device) == []


def test_an_oversized_body_is_refused_with_413_and_counted(world, barrier):
    payload = b'{"values": {"motor_temperature": 20}, "pad": "' + b"x" * (64 * 1024) + b'"}'

    assert_problem(barrier.post("telemetry", content=payload, headers={"content-type": "application/json"}), 413)

    assert rejections(world, barrier.device) == {"oversized": 1}
    assert points(world, barrier.device) == []


def test_an_oversized_body_without_content_length_is_refused_too(world, barrier):
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 8192

    assert_problem(barrier.post("telemetry", content=chunks(), headers={"content-type": "application/json"}), 413)
    assert rejections(world, barrier.device) == {"oversized": 1}


def test_telemetry_of_an_unlicensed_device_is_dropped_but_its_heartbeat_counts(world):
    thermostat = with_credentials(world, world.alpha.thermostat)  # no license

    dropped = thermostat.post("telemetry", {"values": {"temperature": 21.0}})
    heartbeat = thermostat.post("heartbeat", {})

    assert assert_problem(dropped, 403)["reason"] == "unlicensed"
    assert heartbeat.status_code == 202
    assert points(world, thermostat.device) == []
    assert rejections(world, thermostat.device) == {"unlicensed": 1}


# --- authentication -------------------------------------------------------------------------


def test_http_basic_with_the_same_pair_works(world, barrier):
    token = base64.b64encode(f"{barrier.device.serial_number}:{barrier.secret}".encode()).decode()

    response = world.client.post(f"{INGEST}/heartbeat", headers={"Authorization": f"Basic {token}"}, json={})

    assert response.status_code == 202, response.text


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer nocolon", "Bearer ALPHA-BAR-0001:wrong-secret", "Basic !!!", "Digest abc",
])
def test_missing_or_unknown_credentials_get_401(world, barrier, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = world.client.post(f"{INGEST}/telemetry", headers=headers, json={"values": {"motor_temperature": 20}})

    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert points(world, barrier.device) == []
    # Counted in the metrics, not on the device: an unauthenticated caller must not move its counters.
    assert rejections(world, barrier.device) == {}
    assert world.app.state.ingestor.totals.rejected[BAD_CREDENTIALS] == 1


def test_a_users_api_token_is_no_device_credential(world, barrier):
    response = world.as_user("alpha_operator").post(f"{INGEST}/telemetry", json={"values": {"motor_temperature": 20}})

    assert_problem(response, 401)


def test_a_revoked_credential_gets_401(world, barrier):
    replacement = with_credentials(world, barrier.device)  # revokes the first

    assert_problem(barrier.post("heartbeat", {}), 401)
    assert replacement.post("heartbeat", {}).status_code == 202


def test_one_devices_credential_cannot_write_another_devices_data(world, barrier):
    victim = with_credentials(world, world.beta.barrier)
    attacker = barrier

    # The victim's serial with the attacker's secret: refused.
    forged = world.client.post(
        f"{INGEST}/telemetry", headers={"Authorization": f"Bearer {victim.device.serial_number}:{attacker.secret}"},
        json={"values": {"motor_temperature": 99.0}},
    )
    # The attacker's own credential naming the victim in the payload: refused as malformed.
    smuggled = attacker.post("telemetry", {"values": {"motor_temperature": 99.0}, "serial": victim.device.serial_number})
    # Whatever the attacker sends with its credential lands on its own device.
    own = attacker.post("telemetry", {"values": {"motor_temperature": 55.0}})

    assert_problem(forged, 401)
    assert_problem(smuggled, 422)
    assert own.status_code == 202
    assert points(world, victim.device) == []
    assert rejections(world, victim.device) == {}
    assert [point.num for point in points(world, attacker.device)] == [55.0]


def test_unknown_kinds_are_refused(world, barrier):
    response = barrier.post("firmware", {"values": {}})

    assert response.status_code in (404, 422)
    total = world.db.scalar(select(func.count()).select_from(TelemetryPoint)) or 0
    assert total == 0


@pytest.mark.parametrize("path", ["teleportation", "commands", "commands/" + "c" * 33, "commands/%23"],
                         ids=["unknown-kind", "result-without-command", "command-id-too-long", "wildcard-command-id"])
def test_a_path_outside_the_topic_scheme_is_refused_and_counted_on_the_device(world, barrier, path):
    response = barrier.post(path, {"values": {"motor_temperature": 20}})

    body = assert_problem(response, 422)
    assert body["reason"] == "malformed"
    assert rejections(world, barrier.device) == {"malformed": 1}
