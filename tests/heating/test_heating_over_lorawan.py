"""The heating engine through a real network-server webhook and a stand-in of its downlink API, for
ChirpStack and for TTS (issue 17, must-show 1): a plan takes effect at its hour, the target is queued
on the network server, the server reports it sent, and the thermostat's next uplink reporting it
confirms it. Requirement H01."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leitstand.clock import clock
from leitstand.heating.models import ThermostatHeatingState
from leitstand.heating.sending import send_due_targets
from leitstand.runtime import Process
from leitstand.tenancy.scope import system_session
from tests.helpers.lorawan import (
    SECRET_HEADER, command_status, connect, licensed_thermostat, sent_report, status_frame, uplink_event, webhook_url,
)
from tests.helpers.network_server import FakeNetworkServer
from tests.helpers.world import World

# Monday 2026-12-07 in Europe/Berlin (UTC+1): 06:10 and 22:10 local, past any thermostat's spread offset.
MONDAY_0610 = datetime(2026, 12, 7, 5, 10, tzinfo=UTC)
MONDAY_2210 = datetime(2026, 12, 7, 21, 10, tzinfo=UTC)


def hours(day: float, night: float, start: int = 6, end: int = 22) -> list[dict[str, float]]:
    return [{"hour": hour, "celsius": day if start <= hour < end else night} for hour in range(24)]


def _run_heating_job(process: Process) -> int:
    with system_session(process.factory, reason="test: the scheduler's heating job") as db:
        return send_due_targets(db, process.settings, process.commands)


@pytest.mark.parametrize("kind", ["chirpstack", "tts"])
def test_a_plan_queues_its_target_on_the_network_server_and_the_next_uplink_confirms_it(
        kind: str, lorawan_process: Process, operator: TestClient, world: World,
        network_server: FakeNetworkServer) -> None:
    clock.freeze(MONDAY_0610)
    device_id = licensed_thermostat(world, f"ALPHA-HEAT-{kind}")
    connection = connect(operator, world, network_server, kind, device_id)
    webhook = TestClient(lorawan_process.app, headers={SECRET_HEADER: connection["webhook_secret"]})
    # The thermostat last reported 17 °C, before the day began.
    query, body = uplink_event(kind, MONDAY_0610 - timedelta(minutes=30), status_frame(17), "night")
    assert webhook.post(webhook_url(connection), params=query, json=body).status_code == 202

    # "21 °C Mon 06–22, otherwise 17 °C", for every day of its building.
    plan = operator.post("/api/v1/heating/plans", json={
        "name": "Büro Werktag", "site_id": world.alpha.building.id, "targets": hours(21, 17),
        "min_celsius": 5, "max_celsius": 30, "overrule_minutes": 120})
    assert plan.status_code == 201, plan.text
    assigned = operator.post("/api/v1/heating/assignments", json={
        "plan_id": plan.json()["id"], "level": "building", "target_id": world.alpha.building.id,
        "weekdays": list(range(7))})
    assert assigned.status_code == 201, assigned.text

    assert _run_heating_job(lorawan_process) >= 1
    downlinks = network_server.enqueued()
    assert len(downlinks) == 1
    [downlink] = downlinks
    frame = (base64.b64decode(downlink.body["queueItem"]["data"]) if kind == "chirpstack"
             else base64.b64decode(downlink.body["downlinks"][0]["frm_payload"]))
    assert frame == bytes.fromhex("512a")  # set target 21 °C, in 0.5 °C steps
    commands = operator.get(f"/api/v1/devices/{device_id}/commands").json()["items"]
    [command] = [entry for entry in commands if entry["name"] == "set_target_temperature"]
    assert command["status"] == "queued" and command["parameters"] == {"celsius": 21}

    # Nothing changed since: the next runs send nothing (no more downlinks than target changes).
    clock.freeze(MONDAY_0610 + timedelta(minutes=1))
    assert _run_heating_job(lorawan_process) == 0
    assert len(network_server.enqueued()) == 1

    query, body = sent_report(kind, MONDAY_0610 + timedelta(minutes=5), downlink, "sent-1")
    assert webhook.post(webhook_url(connection), params=query, json=body).status_code == 202
    assert command_status(operator, device_id, command["id"]) == "sent"
    query, body = uplink_event(kind, MONDAY_0610 + timedelta(minutes=6), status_frame(21), "day-1")
    assert webhook.post(webhook_url(connection), params=query, json=body).status_code == 202
    assert command_status(operator, device_id, command["id"]) == "confirmed"
    with system_session(lorawan_process.factory, reason="test") as db:
        state = db.query(ThermostatHeatingState).filter_by(device_id=device_id).one()
        assert state.last_sent_celsius == 21 and state.confirmed_at is not None

    # At 22:00 the plan falls to 17 °C: that goes out the same way.
    clock.freeze(MONDAY_2210)
    assert _run_heating_job(lorawan_process) >= 1
    latest: Any = network_server.enqueued()[-1]
    frame = (base64.b64decode(latest.body["queueItem"]["data"]) if kind == "chirpstack"
             else base64.b64decode(latest.body["downlinks"][0]["frm_payload"]))
    assert frame == bytes.fromhex("5122")


def test_the_job_steers_only_thermostats_heating_is_set_up_for(world: World, settings: Any) -> None:
    """A platform that gains the heating engine does not start sending targets to every thermostat
    it has: Alpha's thermostat gets one once a plan is assigned to its building, not before."""
    from leitstand.heating.service import targets_to_send

    clock.freeze(MONDAY_0610)
    assert [send.device_id for send in targets_to_send(world.db, MONDAY_0610, settings)] == []
    api = world.as_user("alpha_admin")
    plan = api.post("/api/v1/heating/plans", json={
        "name": "Werktag", "site_id": world.alpha.building.id, "targets": hours(21, 17),
        "min_celsius": 5, "max_celsius": 30, "overrule_minutes": 120}).json()
    assert api.post("/api/v1/heating/assignments", json={
        "plan_id": plan["id"], "level": "building", "target_id": world.alpha.building.id,
        "weekdays": list(range(7))}).status_code == 201
    planned = targets_to_send(world.db, MONDAY_0610, settings)
    assert [(send.device_id, send.celsius) for send in planned] == [(world.alpha.thermostat.id, 21)]
