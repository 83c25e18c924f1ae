"""Simulated devices behave like real ones: a barrier opens and counts a cycle, a thermostat
takes a new target; and a simulated fleet drives a whole running Leitstand."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from leitstand.ingest.message import CommandOutcome, CommandRequest, MessageKind
from leitstand.runtime import start
from leitstand.simulator.devices import Barrier, Thermostat
from leitstand.simulator.fleet import Fleet, prepare_fleet
from tests.conftest import free_port
from tests.test_runtime import WAIT, Waiter

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def command(name: str, **parameters: object) -> CommandRequest:
    return CommandRequest(serial="BAR-1", command_id="c1", name=name, parameters=dict(parameters),
                          expires_at=NOW + timedelta(seconds=30))


def test_a_barrier_opens_counts_a_cycle_and_reports_success():
    barrier = Barrier(serial="BAR-1", rng=random.Random(1))
    cycles = barrier.cycles

    answers = barrier.execute(command("open"), NOW)

    outcomes = [m.command_outcome for m in answers if m.kind == MessageKind.command_result]
    assert outcomes == [CommandOutcome.delivered, CommandOutcome.succeeded]
    assert barrier.position == "open" and barrier.cycles == cycles + 1
    reported = {r.key: r.value for m in answers if m.kind == MessageKind.telemetry for r in m.readings}
    assert reported["position"] == "open" and reported["cycles"] == cycles + 1


def test_a_reported_fault_recovers_after_a_few_ticks_with_the_same_code_inactive():
    barrier = Barrier(serial="SIM-FAULT", rng=random.Random(3), error_rate=0.0, recovery_ticks=2)
    fault = barrier.report_fault("E01", NOW)
    first, second = barrier.tick(NOW), barrier.tick(NOW)

    assert (fault.event_code, fault.event_data) == ("E01", {})
    assert [m for m in first if m.kind == MessageKind.event] == []
    recovered = [m for m in second if m.kind == MessageKind.event]
    assert [(m.event_code, m.event_data) for m in recovered] == [("E01", {"active": False})]
    assert barrier.active_faults == {}


def test_unknown_commands_and_bad_parameters_fail_like_on_a_real_device():
    thermostat = Thermostat(serial="THM-1", rng=random.Random(1))

    unknown = thermostat.execute(command("open"), NOW)
    too_hot = thermostat.execute(command("set_target_temperature", celsius=45), NOW)
    fine = thermostat.execute(command("set_target_temperature", celsius=22.5), NOW)

    assert unknown[-1].command_outcome == CommandOutcome.failed
    assert too_hot[-1].command_outcome == CommandOutcome.failed
    assert fine[-1].command_outcome == CommandOutcome.succeeded and thermostat.target == 22.5


def test_a_simulated_fleet_drives_a_running_leitstand(settings, world, session_factory):
    settings = settings.model_copy(update={"mqtt_port": free_port(), "port": free_port()})
    process, app = start(settings, "all")
    try:
        members = prepare_fleet(session_factory, 3)
        barrier = next(m for m in members if m.device.serial == world.alpha.barrier.serial_number)
        reported = Waiter(lambda u: u["type"] == "device" and "cycles" in u.get("latest", {}))
        answered = Waiter(lambda u: u["type"] == "command" and u["status"] == "confirmed")
        app.state.ingestor.listeners += [reported, answered]
        fleet = Fleet(members, settings.mqtt_host, settings.mqtt_port, telemetry_every=0.2, offline_rate=0.0)
        runner = threading.Thread(target=fleet.run, daemon=True)
        runner.start()
        try:
            assert reported.seen.wait(WAIT)
            token = world.token_for("alpha_operator")
            api = TestClient(app, base_url="http://localhost:8000")
            sent = api.post(f"/api/v1/devices/{world.alpha.barrier.id}/commands", json={"name": "open"},
                            headers={"Authorization": f"Bearer {token}"})
            assert sent.status_code == 201, sent.text
            assert answered.seen.wait(WAIT)
            state = api.get(f"/api/v1/devices/{world.alpha.barrier.id}/state",
                            headers={"Authorization": f"Bearer {token}"}).json()
            assert state["online"] is True
            assert barrier.device.position == "open"  # type: ignore[attr-defined]
        finally:
            fleet.stop()
            runner.join(timeout=WAIT)
    finally:
        process.stop()


def test_a_thermostat_names_the_gateway_its_uplinks_come_through_once():
    thermostat = Thermostat(serial="THM-1", rng=random.Random(1), gateway="GW-1")

    first, second = thermostat.tick(NOW), thermostat.tick(NOW + timedelta(minutes=15))

    assert [m.attributes for m in first if m.kind == MessageKind.attributes] == [{"gateway": "GW-1"}]
    assert not [m for m in second if m.kind == MessageKind.attributes]


def test_the_fleet_puts_each_thermostat_behind_the_gateway_of_its_building(world, session_factory):
    from datetime import date

    from leitstand.devices.models import Device
    from leitstand.licenses.models import License
    from leitstand.licenses.service import term_end

    gateway = Device(tenant_id=world.alpha.customer.id, type_key="gateway", serial_number="ALPHA-GW-0001",
                     name="Alpha Gateway", site_id=world.alpha.building.id)
    world.db.add(gateway)
    world.alpha.thermostat.claimed_at = datetime.now(UTC)  # only claimed devices log in
    starts = date.today() - timedelta(days=30)
    world.db.add(License(device_id=world.alpha.thermostat.id, tenant_id=world.alpha.customer.id, starts_on=starts,
                         ends_on=term_end(starts, 12), term_months=12, auto_renew=True))
    world.db.commit()

    members = {member.device.serial: member.device for member in prepare_fleet(session_factory, 10)}

    assert members[world.alpha.thermostat.serial_number].gateway == "ALPHA-GW-0001"
    assert members[world.alpha.barrier.serial_number].gateway is None
