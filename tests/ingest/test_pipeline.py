"""Ingest from canonical messages to stored data: validation, the license gate, live state,
events, command results, and the refusals that must never break a batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leitstand.clock import clock
from leitstand.commands.models import Command
from leitstand.ingest.message import CommandOutcome, DeviceMessage, MessageKind, Reading
from leitstand.state.models import DeviceEvent, DeviceState, IngestRejection
from leitstand.state.service import mark_offline
from leitstand.telemetry.models import TelemetryPoint
from tests.helpers.ingest import bare_ingestor
from tests.helpers.world import World

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def ingestor(session_factory, world: World):  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    published: list = []
    ingest = bare_ingestor(session_factory, listeners=[lambda tenant_id, update: published.append((tenant_id, update))])
    ingest.published = published  # type: ignore[attr-defined]
    return ingest


def telemetry(serial: str, *readings: tuple[str, object], at: datetime = NOW) -> DeviceMessage:
    return DeviceMessage(serial=serial, kind=MessageKind.telemetry, received_at=NOW,
                         readings=tuple(Reading(key, at, value) for key, value in readings))  # type: ignore[arg-type]


def points(world: World, device_id: int) -> list[tuple[str, float | None, str | None]]:
    world.db.expire_all()
    rows = world.db.execute(select(TelemetryPoint.key, TelemetryPoint.num, TelemetryPoint.txt)
                            .where(TelemetryPoint.device_id == device_id).order_by(TelemetryPoint.key))
    return [tuple(row) for row in rows]  # type: ignore[misc]


def rejections(world: World, device_id: int) -> dict[str, int]:
    world.db.expire_all()
    rows = world.db.scalars(select(IngestRejection).where(IngestRejection.device_id == device_id))
    return {row.reason: row.count for row in rows}


def test_telemetry_is_stored_and_updates_live_state(world, ingestor):
    barrier = world.alpha.barrier

    report = ingestor.accept([telemetry(barrier.serial_number, ("cycles", 1200), ("position", "closed"))])

    assert (report.accepted, report.points_written) == (1, 2)
    assert points(world, barrier.id) == [("cycles", 1200.0, None), ("position", None, "closed")]
    state = world.db.get(DeviceState, barrier.id)
    assert state.online and state.last_seen_at == NOW
    assert state.latest["cycles"]["value"] == 1200
    kinds = set(world.db.scalars(select(DeviceEvent.code).where(DeviceEvent.device_id == barrier.id)))
    assert kinds == {"online", "position=closed"}
    assert any(update["type"] == "device" and update["device_id"] == barrier.id for _, update in ingestor.published)
    assert all(tenant_id == world.alpha.customer.id for tenant_id, _ in ingestor.published)


def test_a_redelivered_batch_changes_nothing(world, ingestor):
    batch = [telemetry(world.alpha.barrier.serial_number, ("cycles", 5))]
    ingestor.accept(batch)
    again = ingestor.accept(batch)

    assert again.points_written == 0
    assert points(world, world.alpha.barrier.id) == [("cycles", 5.0, None)]


@pytest.mark.parametrize(
    ("reading", "reason"),
    [
        (("cycles", float("nan")), "bad_value"),
        (("cycles", float("inf")), "bad_value"),
        (("cycles", "many"), "bad_value"),
        (("cycles", True), "bad_value"),
        (("motor_temperature", 500.0), "bad_value"),
        (("position", "flying"), "bad_value"),
        (("humidity", 40.0), "unknown_key"),
    ],
)
def test_bad_values_are_refused_and_counted_without_breaking_the_batch(world, ingestor, reading, reason):
    barrier, good = world.alpha.barrier, world.beta.barrier

    report = ingestor.accept([telemetry(barrier.serial_number, ("cycles", 1), reading),
                              telemetry(good.serial_number, ("cycles", 7))])

    assert report.accepted == 1 and report.rejected[reason] == 1
    assert points(world, barrier.id) == []  # the whole refused message, not half of it
    assert points(world, good.id) == [("cycles", 7.0, None)]
    assert rejections(world, barrier.id) == {reason: 1}


@pytest.mark.parametrize("offset", [timedelta(days=400), -timedelta(hours=2)])
def test_implausible_timestamps_are_refused(world, ingestor, offset):
    report = ingestor.accept([telemetry(world.alpha.barrier.serial_number, ("cycles", 1), at=NOW - offset)])

    assert report.rejected["bad_timestamp"] == 1
    assert points(world, world.alpha.barrier.id) == []


def test_an_unknown_device_is_refused_and_counted(world, ingestor):
    report = ingestor.accept([telemetry("NO-SUCH-DEVICE", ("cycles", 1))])

    assert report.rejected["unknown_device"] == 1
    assert ingestor.totals.rejected["unknown_device"] == 1
    assert world.db.scalar(select(func.count()).select_from(TelemetryPoint)) == 0


def test_an_unlicensed_device_keeps_its_heartbeat_but_loses_its_data(world, ingestor):
    thermostat = world.alpha.thermostat  # has no license
    heartbeat = DeviceMessage(serial=thermostat.serial_number, kind=MessageKind.heartbeat, received_at=NOW)

    report = ingestor.accept([telemetry(thermostat.serial_number, ("temperature", 21.0)), heartbeat])

    assert report.rejected["unlicensed"] == 1 and report.accepted == 1
    assert points(world, thermostat.id) == []
    state = world.db.get(DeviceState, thermostat.id)
    assert state.last_seen_at == NOW and state.online
    assert rejections(world, thermostat.id) == {"unlicensed": 1}


def test_a_decommissioned_device_is_refused(world, ingestor):
    world.alpha.barrier.decommissioned_at = NOW
    world.db.commit()

    report = ingestor.accept([telemetry(world.alpha.barrier.serial_number, ("cycles", 1))])

    assert report.rejected["decommissioned"] == 1


def test_error_codes_become_events_once_with_their_severity(world, ingestor):
    event = DeviceMessage(serial=world.alpha.barrier.serial_number, kind=MessageKind.event, received_at=NOW,
                          sent_at=NOW - timedelta(seconds=3), event_code="E01", event_data={"cycle": 5})

    ingestor.accept([event])
    ingestor.accept([event])

    stored = world.db.scalars(select(DeviceEvent).where(DeviceEvent.kind == "error")).all()
    assert [(e.code, e.severity, e.at) for e in stored] == [("E01", "critical", NOW - timedelta(seconds=3))]
    assert not stored[0].unknown_code


def test_a_code_outside_the_catalogue_is_kept_marked_and_counted_per_type(world, ingestor):
    """Newer firmware sends codes the type's catalogue does not know yet: nothing of the
    message is lost, the event says so, and the type's counter tells the catalogue's keeper."""
    from leitstand.devicetypes.models import UnknownEventCode

    def event(serial: str, code: str, seconds: int) -> DeviceMessage:
        return DeviceMessage(serial=serial, kind=MessageKind.event, received_at=NOW + timedelta(seconds=seconds),
                             sent_at=NOW + timedelta(seconds=seconds), event_code=code, event_data={"torque": seconds})

    alpha, beta = world.alpha.barrier, world.beta.barrier
    report = ingestor.accept([event(alpha.serial_number, "E99", 0), event(beta.serial_number, "E99", 1),
                              event(alpha.serial_number, "E01", 2)])
    ingestor.accept([event(beta.serial_number, "E99", 3), event(beta.serial_number, "F7", 4)])

    assert report.accepted == 3 and not report.rejected
    world.db.expire_all()
    stored = world.db.execute(select(DeviceEvent.device_id, DeviceEvent.code, DeviceEvent.kind, DeviceEvent.severity,
                                     DeviceEvent.unknown_code, DeviceEvent.data)
                              .where(DeviceEvent.code.in_(["E99", "E01", "F7"])).order_by(DeviceEvent.at)).all()
    assert [tuple(row) for row in stored] == [
        (alpha.id, "E99", "event", "", True, {"torque": 0}),
        (beta.id, "E99", "event", "", True, {"torque": 1}),
        (alpha.id, "E01", "error", "critical", False, {"torque": 2}),
        (beta.id, "E99", "event", "", True, {"torque": 3}),
        (beta.id, "F7", "event", "", True, {"torque": 4}),
    ]
    counters = {row.code: row for row in world.db.scalars(select(UnknownEventCode)
                                                          .where(UnknownEventCode.type_key == "barrier"))}
    assert set(counters) == {"E99", "F7"}
    e99 = counters["E99"]
    assert (e99.count, e99.first_device_id, e99.tenant_id) == (3, alpha.id, world.root.id)
    assert (e99.first_seen_at, e99.last_seen_at) == (NOW, NOW + timedelta(seconds=3))
    assert counters["F7"].count == 1 and counters["F7"].first_device_id == beta.id
    live = [update for _, update in ingestor.published if update["type"] == "event" and update["code"] == "E99"]
    assert [update["unknown_code"] for update in live] == [True, True, True]


def test_command_results_move_the_command_forward_only(world, ingestor, system_db):
    command = Command(public_id="c0ffee00c0ffee00", device_id=world.alpha.barrier.id, tenant_id=world.alpha.customer.id,
                      name="open", parameters={}, idempotency_key="k1", status="sent", expires_at=NOW + timedelta(seconds=30))
    system_db.add(command)
    system_db.commit()

    def result(outcome: CommandOutcome) -> DeviceMessage:
        return DeviceMessage(serial=world.alpha.barrier.serial_number, kind=MessageKind.command_result,
                             received_at=NOW, command_id=command.public_id, command_outcome=outcome)

    ingestor.accept([result(CommandOutcome.delivered)])
    ingestor.accept([result(CommandOutcome.succeeded)])
    ingestor.accept([result(CommandOutcome.delivered)])  # late duplicate

    system_db.expire_all()
    stored = system_db.get(Command, command.id)
    assert stored.status == "confirmed" and stored.delivered_at == NOW and stored.finished_at == NOW

    report = ingestor.accept([DeviceMessage(serial=world.beta.barrier.serial_number, kind=MessageKind.command_result,
                                            received_at=NOW, command_id=command.public_id,
                                            command_outcome=CommandOutcome.failed)])
    assert report.rejected["unknown_command"] == 1  # another device cannot answer for this one


def test_a_queued_command_answered_by_its_device_is_confirmed_and_published_so(world, ingestor, system_db):
    # A network server held the downlink (queued); the device's answers skip the sent step.
    command = Command(public_id="feedc0defeedc0de", device_id=world.alpha.barrier.id, tenant_id=world.alpha.customer.id,
                      name="open", parameters={}, idempotency_key="k2", status="queued", queued_at=NOW,
                      expires_at=NOW + timedelta(seconds=30))
    system_db.add(command)
    system_db.commit()

    for outcome in (CommandOutcome.delivered, CommandOutcome.succeeded):
        ingestor.accept([DeviceMessage(serial=world.alpha.barrier.serial_number, kind=MessageKind.command_result,
                                       received_at=NOW, command_id=command.public_id, command_outcome=outcome,
                                       command_detail="opened")])

    system_db.expire_all()
    stored = system_db.get(Command, command.id)
    assert (stored.status, stored.queued_at, stored.delivered_at, stored.finished_at, stored.detail) == (
        "confirmed", NOW, NOW, NOW, "opened")
    live = [update["status"] for _, update in ingestor.published
            if update["type"] == "command" and update["command_id"] == command.public_id]
    assert live == ["delivered", "confirmed"]


def test_a_device_that_misses_its_heartbeat_goes_offline(world, ingestor, system_db):
    barrier = world.alpha.barrier  # barrier heartbeat: 300 s
    ingestor.accept([telemetry(barrier.serial_number, ("cycles", 1))])

    clock.advance(timedelta(seconds=400))
    assert mark_offline(system_db) == []
    clock.advance(timedelta(seconds=100))
    updates = mark_offline(system_db)
    system_db.commit()

    assert [(update["device_id"], update["online"]) for _, update in updates] == [(barrier.id, False)]
    assert not system_db.get(DeviceState, barrier.id).online
    assert system_db.scalar(select(DeviceEvent.code).where(DeviceEvent.code == "offline")) == "offline"


def test_an_unlicensed_device_is_expected_only_every_24_hours(world, ingestor, system_db):
    thermostat = world.alpha.thermostat
    ingestor.accept([DeviceMessage(serial=thermostat.serial_number, kind=MessageKind.heartbeat, received_at=NOW)])

    clock.advance(timedelta(hours=30))
    assert mark_offline(system_db) == []
    clock.advance(timedelta(hours=7))
    assert len(mark_offline(system_db)) == 1
