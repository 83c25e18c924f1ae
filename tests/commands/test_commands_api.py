"""Sending commands: validation against the device type, license gate, idempotency, timeouts, audit."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from leitstand.audit.models import AuditEntry
from leitstand.clock import clock
from leitstand.transports.base import Handover
from leitstand.commands.models import Command
from leitstand.commands.service import expire_overdue
from leitstand.ingest.message import CommandOutcome, DeviceMessage, MessageKind
from leitstand.licenses.models import License
from leitstand.licenses.service import term_end
from tests.helpers.world import World


def commands_url(device_id: int) -> str:
    return f"/api/v1/devices/{device_id}/commands"


def license_thermostat(world: World) -> None:
    today = clock.now().date()
    world.db.add(License(device_id=world.alpha.thermostat.id, tenant_id=world.alpha.customer.id,
                         starts_on=today, ends_on=term_end(today, 12), term_months=12, auto_renew=True))
    world.db.commit()


def test_a_command_is_stored_handed_to_the_transport_and_marked_sent(world, app):
    response = world.as_user("alpha_operator").post(commands_url(world.alpha.barrier.id), json={"name": "open"})

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "sent" and body["sent_at"] is not None
    [sent] = app.state.recording_transport.sent
    assert (sent.serial, sent.name, sent.command_id) == (world.alpha.barrier.serial_number, "open", body["id"])
    listed = world.as_user("alpha_operator").get(commands_url(world.alpha.barrier.id)).json()["items"]
    assert body["id"] in [item["id"] for item in listed]


def test_a_network_that_holds_the_downlink_leaves_the_command_queued_until_the_device_answers(world, app):
    app.state.recording_transport.hand_over_as = Handover.queued  # as a LoRaWAN network server does
    api = world.as_user("alpha_operator")
    url = commands_url(world.alpha.barrier.id)

    queued = api.post(url, json={"name": "open"}).json()

    assert queued["status"] == "queued" and queued["queued_at"] is not None and queued["sent_at"] is None
    assert [item["id"] for item in api.get(url, params={"status": "queued"}).json()["items"]] == [queued["id"]]

    # The device's next uplink fetched it; it answers with JSON v1's "succeeded".
    for outcome in (CommandOutcome.delivered, CommandOutcome.succeeded):
        app.state.ingestor.accept([DeviceMessage(
            serial=world.alpha.barrier.serial_number, kind=MessageKind.command_result, received_at=clock.now(),
            command_id=queued["id"], command_outcome=outcome, command_detail="opened")])

    answered = api.get(f"{url}/{queued['id']}").json()
    assert answered["status"] == "confirmed" and answered["detail"] == "opened"
    assert answered["queued_at"] == queued["queued_at"] and answered["finished_at"] is not None
    confirmed = [item["id"] for item in api.get(url, params={"status": "confirmed"}).json()["items"]]
    assert confirmed == [queued["id"], world.alpha.command.public_id]  # the world's earlier command, too


def test_the_api_names_the_seven_states_and_refuses_the_old_names(world):
    api = world.as_user("alpha_operator")
    schema = api.get("/api/v1/openapi.json").json()
    status = schema["components"]["schemas"]["CommandStatus"]

    assert status["enum"] == ["requested", "queued", "sent", "delivered", "confirmed", "failed", "expired"]
    for old in ("succeeded", "timed_out"):
        assert api.get(commands_url(world.alpha.barrier.id), params={"status": old}).status_code == 422


def test_commands_are_checked_against_the_device_type(world):
    license_thermostat(world)
    api = world.as_user("alpha_operator")
    url = commands_url(world.alpha.thermostat.id)
    cases = [
        ({"name": "open"}, "unknown-command"),  # a thermostat has no "open"
        ({"name": "set_target_temperature"}, "invalid-parameters"),  # celsius missing
        ({"name": "set_target_temperature", "parameters": {"celsius": 50}}, "invalid-parameters"),
        ({"name": "set_target_temperature", "parameters": {"celsius": "warm"}}, "invalid-parameters"),
        ({"name": "set_target_temperature", "parameters": {"celsius": 21, "fan": 1}}, "invalid-parameters"),
    ]
    for body, kind in cases:
        response = api.post(url, json=body)
        assert response.status_code == 422, body
        assert response.json()["type"].endswith(kind), body

    assert api.post(url, json={"name": "set_target_temperature", "parameters": {"celsius": 21.5}}).status_code == 201


def test_a_device_without_an_active_license_gets_no_commands(world, app):
    response = world.as_user("alpha_operator").post(commands_url(world.alpha.thermostat.id),
                                                  json={"name": "set_target_temperature", "parameters": {"celsius": 20}})

    assert response.status_code == 409
    assert response.json()["type"].endswith("license-inactive")
    assert "ohne Lizenz" in response.json()["detail"]  # "unlicensed", in the German user's language
    assert app.state.recording_transport.sent == []


def test_an_expired_license_refuses_commands(world):
    world.alpha.license.ends_on = clock.now().date() - timedelta(days=1)
    world.db.commit()

    response = world.as_user("alpha_operator").post(commands_url(world.alpha.barrier.id), json={"name": "open"})

    assert response.status_code == 409
    assert "abgelaufen" in response.json()["detail"]


def test_the_same_idempotency_key_returns_the_first_command(world, app):
    api = world.as_user("alpha_operator")
    first = api.post(commands_url(world.alpha.barrier.id), json={"name": "open", "idempotency_key": "tap-17"})
    again = api.post(commands_url(world.alpha.barrier.id), json={"name": "open", "idempotency_key": "tap-17"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len(app.state.recording_transport.sent) == 1

    other = api.post(commands_url(world.alpha.barrier.id), json={"name": "close", "idempotency_key": "tap-17"})
    assert other.status_code == 409
    assert other.json()["type"].endswith("idempotency-conflict")


def test_a_transport_failure_leaves_the_command_requested_with_the_reason(world, app):
    app.state.recording_transport.fail_with = "broker unreachable"

    response = world.as_user("alpha_operator").post(commands_url(world.alpha.barrier.id), json={"name": "close"})

    assert response.status_code == 201
    assert response.json()["status"] == "requested"
    assert "broker unreachable" in response.json()["detail"]


def test_unanswered_commands_time_out_after_their_deadline(world, system_db):
    clock.freeze()
    api = world.as_user("alpha_operator")
    quick = api.post(commands_url(world.alpha.barrier.id), json={"name": "open", "timeout_seconds": 5}).json()
    slow = api.post(commands_url(world.alpha.barrier.id), json={"name": "close", "timeout_seconds": 60}).json()

    clock.advance(timedelta(seconds=6))
    assert expire_overdue(system_db) == 1
    system_db.commit()

    assert api.get(f"{commands_url(world.alpha.barrier.id)}/{quick['id']}").json()["status"] == "expired"
    assert api.get(f"{commands_url(world.alpha.barrier.id)}/{slow['id']}").json()["status"] == "sent"


def test_every_command_is_audited_with_who_sent_it(world):
    sent = world.as_user("alpha_operator").post(commands_url(world.alpha.barrier.id), json={"name": "open"}).json()

    command = world.db.scalar(select(Command).where(Command.public_id == sent["id"]))
    entry = world.db.scalar(select(AuditEntry).where(AuditEntry.action == "commands.create",
                                                     AuditEntry.target_id == str(command.id)))
    assert entry is not None
    assert entry.actor == world.alpha.operator.email
    assert entry.tenant_id == world.alpha.customer.id
    assert entry.changes["name"] == "open"


def test_a_read_only_user_can_follow_but_not_send_commands(world):
    reader = world.as_user("alpha_reader")

    assert reader.post(commands_url(world.alpha.barrier.id), json={"name": "open"}).status_code == 403
    assert reader.get(commands_url(world.alpha.barrier.id)).status_code == 200
    stored = world.db.scalars(select(Command.idempotency_key).where(Command.device_id == world.alpha.barrier.id)).all()
    assert stored == ["alpha-first"]


def test_a_command_needs_the_permission_its_device_type_declares(world, app):
    # The end customer may operate the barrier shared with them, but restarting its controller
    # is maintenance: the barrier's type declares `reboot` as needing maintenance.write.
    end_customer = world.as_user("alpha_end")
    url = commands_url(world.alpha.barrier.id)

    refused = end_customer.post(url, json={"name": "reboot"})
    assert refused.status_code == 403, refused.text
    assert "maintenance.write" in refused.json()["detail"]
    assert end_customer.post(url, json={"name": "open"}).status_code == 201
    assert world.as_user("alpha_operator").post(url, json={"name": "reboot"}).status_code == 201
    assert [sent.name for sent in app.state.recording_transport.sent] == ["open", "reboot"]
