"""Every rule type, driven through the real ingest pipeline and the scheduler job."""

from __future__ import annotations

from sqlalchemy import select

from leitstand.alarms.evaluation import evaluate_time_based
from leitstand.alarms.models import Alarm, AlarmRule
from leitstand.alarms.service import ALARM_CHANGES, clear_alarm, raise_alarm
from leitstand.clock import clock
from leitstand.ingest.message import DeviceMessage, MessageKind
from leitstand.scheduler.loop import Scheduler
from leitstand.state.service import mark_offline
from leitstand.tenancy.scope import system_session
from tests.alarms.conftest import advance, alarms_of, error_event, open_alarms, telemetry


def run_scheduler_job(session_factory) -> int:  # type: ignore[no-untyped-def]
    with system_session(session_factory, reason="test: time-based alarm rules") as db:
        return evaluate_time_based(db)


def test_error_code_raises_with_catalogue_severity_and_steps_then_clears_on_recovery(world, ingestor):
    barrier = world.alpha.barrier

    ingestor.accept([error_event(barrier.serial_number, "E01")])

    [alarm] = open_alarms(world, barrier.id)
    assert (alarm.key, alarm.kind, alarm.code, alarm.severity) == ("barrier.errors:E01", "error_code", "E01", "critical")
    assert alarm.title == "Boom blocked" and alarm.title_de == "Schrankenbaum blockiert"
    assert alarm.steps["en"][0].startswith("Check the travel path")
    assert alarm.steps["de"][0].startswith("Fahrweg")
    assert alarm.site_id == barrier.site_id and alarm.tenant_id == barrier.tenant_id
    assert {"type": "alarm", "device_id": barrier.id, "alarm_id": alarm.id, "state": "active",
            "severity": "critical", "change": "raised"} in [u for _, u in ingestor.published]

    advance(5)
    ingestor.accept([error_event(barrier.serial_number, "E01", active=False)])

    [cleared] = alarms_of(world, barrier.id)
    assert (cleared.state, cleared.cleared_how, cleared.cleared_at) == ("cleared", "auto", clock.now())


def test_repeated_error_updates_the_open_alarm_and_other_codes_get_their_own(world, ingestor):
    barrier = world.alpha.barrier
    ingestor.accept([error_event(barrier.serial_number, "E02")])
    advance(60)
    ingestor.accept([error_event(barrier.serial_number, "E02"), error_event(barrier.serial_number, "E03")])

    alarms = {alarm.code: alarm for alarm in open_alarms(world, barrier.id)}
    assert set(alarms) == {"E02", "E03"}
    assert alarms["E02"].occurrences == 2 and alarms["E02"].last_seen_at == clock.now()
    assert alarms["E03"].severity == "minor"


def catalogue_alarms(world) -> list[Alarm]:  # type: ignore[no-untyped-def]
    world.db.expire_all()
    return list(world.db.scalars(select(Alarm).where(Alarm.kind == "unknown_code").order_by(Alarm.id)))


def test_an_unknown_code_raises_one_catalogue_warning_per_type_and_code(world, ingestor):
    """Not one per device or per message: one open warning on the root tenant (the platform
    keeps the shipped catalogue), at the device that sent the code first, with the count."""
    alpha, beta = world.alpha.barrier, world.beta.barrier
    ingestor.accept([error_event(alpha.serial_number, "E99"), error_event(beta.serial_number, "E99")])
    advance(60)
    ingestor.accept([error_event(beta.serial_number, "E99"), error_event(alpha.serial_number, "E99"),
                     error_event(beta.serial_number, "E98")])

    alarms = {alarm.code: alarm for alarm in catalogue_alarms(world)}
    assert set(alarms) == {"E99", "E98"}
    e99 = alarms["E99"]
    assert (e99.state, e99.severity, e99.tenant_id, e99.device_id) == ("active", "warning", world.root.id, alpha.id)
    assert e99.occurrences == 4 and e99.details["count"] == 4 and e99.last_seen_at == clock.now()
    assert (e99.details["type_key"], e99.details["first_device"]) == ("barrier", alpha.serial_number)
    assert "E99" in e99.title and "Barrier drive" in e99.title and "Schrankenantrieb" in e99.title_de
    assert e99.steps["en"] and e99.steps["de"]
    assert alarms["E98"].device_id == beta.id and alarms["E98"].occurrences == 1
    # No device alarm: the barrier's error rule means the codes of its catalogue.
    assert [alarm.kind for alarm in alarms_of(world, beta.id)] == ["unknown_code"]


def test_a_catalogue_alarm_cleared_by_hand_comes_back_while_the_code_keeps_coming(world, ingestor, system_db):
    from leitstand.alarms.service import clear_by_hand

    serial = world.alpha.barrier.serial_number
    ingestor.accept([error_event(serial, "E99")])
    [first] = catalogue_alarms(world)
    clear_by_hand(system_db, system_db.get(Alarm, first.id), None)
    system_db.commit()

    advance(60)
    ingestor.accept([error_event(serial, "E99")])

    cleared, again = catalogue_alarms(world)
    assert (cleared.id, cleared.state, again.state) == (first.id, "cleared", "active")
    assert again.details["count"] == 2  # the counter runs on; the alarm is a new episode


def test_threshold_with_duration_and_hysteresis(world, ingestor):
    """barrier.motor_hot: motor_temperature > 80 for 300 s; clears only at or below 75."""
    barrier = world.alpha.barrier
    serial = barrier.serial_number

    ingestor.accept([telemetry(serial, ("motor_temperature", 85))])
    advance(200)
    ingestor.accept([telemetry(serial, ("motor_temperature", 86))])
    assert alarms_of(world, barrier.id) == [], "not yet: the condition has held for 200 s only"

    advance(100)
    ingestor.accept([telemetry(serial, ("motor_temperature", 84))])
    [alarm] = open_alarms(world, barrier.id)
    assert (alarm.key, alarm.kind, alarm.severity, alarm.details["value"]) == ("barrier.motor_hot", "threshold", "minor", 84)

    advance(10)
    ingestor.accept([telemetry(serial, ("motor_temperature", 78))])  # below the limit, inside the band
    assert open_alarms(world, barrier.id), "hysteresis: 78 is not yet back past 80 - 5"

    advance(10)
    ingestor.accept([telemetry(serial, ("motor_temperature", 75))])
    [cleared] = alarms_of(world, barrier.id)
    assert (cleared.state, cleared.cleared_how) == ("cleared", "auto")


def test_threshold_dip_restarts_the_duration(world, ingestor):
    serial = world.alpha.barrier.serial_number
    ingestor.accept([telemetry(serial, ("motor_temperature", 90))])
    advance(250)
    ingestor.accept([telemetry(serial, ("motor_temperature", 70))])
    advance(100)
    ingestor.accept([telemetry(serial, ("motor_temperature", 90))])
    assert alarms_of(world, world.alpha.barrier.id) == []


def test_threshold_duration_elapsing_without_new_data_raises_in_the_scheduler(world, ingestor, session_factory):
    barrier = world.alpha.barrier
    ingestor.accept([telemetry(barrier.serial_number, ("motor_temperature", 95))])
    advance(299)
    run_scheduler_job(session_factory)
    assert alarms_of(world, barrier.id) == []

    advance(1)
    run_scheduler_job(session_factory)
    [alarm] = open_alarms(world, barrier.id)
    assert alarm.key == "barrier.motor_hot" and alarm.details["value"] == 95


def test_battery_low_raises_and_clears_with_its_band(world, ingestor):
    thermostat = world.alpha.thermostat
    ingestor.accept([telemetry(thermostat.serial_number, ("battery", 19))])
    [alarm] = open_alarms(world, thermostat.id)
    assert (alarm.key, alarm.kind, alarm.severity) == ("thermostat.battery_low", "battery_low", "warning")

    ingestor.accept([telemetry(thermostat.serial_number, ("battery", 22))])
    assert open_alarms(world, thermostat.id), "back above 20 but not above 20 + 5"
    ingestor.accept([telemetry(thermostat.serial_number, ("battery", 90))])
    assert open_alarms(world, thermostat.id) == []


def test_offline_raises_after_its_time_and_clears_when_the_device_reports(world, ingestor, session_factory):
    barrier = world.alpha.barrier
    ingestor.accept([DeviceMessage(serial=barrier.serial_number, kind=MessageKind.heartbeat, received_at=clock.now())])
    advance(600)  # past the barrier's 300 s heartbeat: marked offline, but not yet for 900 s
    with system_session(session_factory, reason="test: offline detection") as db:
        mark_offline(db)
        db.commit()
    run_scheduler_job(session_factory)
    assert alarms_of(world, barrier.id) == []

    advance(300)
    run_scheduler_job(session_factory)
    [alarm] = open_alarms(world, barrier.id)
    assert (alarm.key, alarm.kind, alarm.severity) == ("barrier.offline", "offline", "major")
    run_scheduler_job(session_factory)
    assert alarms_of(world, barrier.id)[0].occurrences == 1, "a held condition is not raised again"

    advance(5)
    ingestor.accept([DeviceMessage(serial=barrier.serial_number, kind=MessageKind.heartbeat, received_at=clock.now())])
    [cleared] = alarms_of(world, barrier.id)
    assert (cleared.state, cleared.cleared_how) == ("cleared", "auto")


def test_no_data_for_a_key(world, ingestor, session_factory):
    """thermostat.no_temperature: temperature not reported for 7200 s, though other keys arrive."""
    thermostat = world.alpha.thermostat
    ingestor.accept([telemetry(thermostat.serial_number, ("temperature", 21.0), ("battery", 80))])
    advance(7000)
    ingestor.accept([telemetry(thermostat.serial_number, ("battery", 80))])
    run_scheduler_job(session_factory)
    assert alarms_of(world, thermostat.id) == []

    advance(200)
    run_scheduler_job(session_factory)
    [alarm] = open_alarms(world, thermostat.id)
    assert (alarm.key, alarm.kind) == ("thermostat.no_temperature", "no_data")

    ingestor.accept([telemetry(thermostat.serial_number, ("temperature", 20.5))])
    assert open_alarms(world, thermostat.id) == []


def test_maintenance_due_is_raised_and_cleared_through_the_service(world, system_db):
    barrier = world.alpha.barrier
    first = raise_alarm(system_db, device_id=barrier.id, kind="maintenance_due", key="maintenance:1",
                        severity="minor", title="Maintenance due", title_de="Wartung fällig")
    again = raise_alarm(system_db, device_id=barrier.id, kind="maintenance_due", key="maintenance:1",
                        severity="major", title="Maintenance due")
    system_db.commit()
    assert first.id == again.id and again.occurrences == 2 and again.severity == "major"

    clear_alarm(system_db, device_id=barrier.id, key="maintenance:1")
    system_db.commit()
    [alarm] = alarms_of(world, barrier.id)
    assert (alarm.kind, alarm.state, alarm.cleared_how) == ("maintenance_due", "cleared", "auto")

    # A new episode after clearing is a new alarm.
    raise_alarm(system_db, device_id=barrier.id, kind="maintenance_due", key="maintenance:1", severity="minor",
                title="Maintenance due")
    system_db.commit()
    assert [a.state for a in alarms_of(world, barrier.id)] == ["cleared", "active"]


def test_listeners_are_called_after_commit_only(world, session_factory, system_db):
    barrier = world.alpha.barrier
    seen = []
    ALARM_CHANGES.listeners(session_factory).subscribe(seen.append)

    raise_alarm(system_db, device_id=barrier.id, kind="maintenance_due", key="maintenance:9", severity="minor",
                title="Maintenance due")
    assert seen == [], "nothing before the commit"
    system_db.rollback()
    assert seen == [], "nothing for a rolled-back change"

    alarm = raise_alarm(system_db, device_id=barrier.id, kind="maintenance_due", key="maintenance:9",
                        severity="minor", title="Maintenance due")
    system_db.commit()
    [change] = seen
    assert (change.alarm_id, change.change, change.state, change.device_name, change.device_type_key) == (
        alarm.id, "raised", "active", barrier.name, "barrier")
    assert change.tenant_id == barrier.tenant_id and change.site_id == barrier.site_id


def test_listener_gets_received_at_and_steps_from_ingest(world, session_factory, ingestor):
    seen = []
    listeners = ALARM_CHANGES.listeners(session_factory)
    listeners.subscribe(lambda change: 1 / 0)  # a broken listener harms nobody
    listeners.subscribe(seen.append)
    ingestor.accept([error_event(world.alpha.barrier.serial_number, "E02")])
    [change] = seen
    assert change.received_at == clock.now() and change.steps_de[0].startswith("Linsen")


def test_tenant_rule_overrides_and_disables_defaults(world, ingestor):
    barrier, db = world.alpha.barrier, world.db
    db.add(AlarmRule(tenant_id=world.alpha.customer.id, key="barrier.motor_hot", name="Motor hot (site)",
                     severity="critical", type_key="barrier", target_kind="site", site_id=world.alpha.site.id,
                     condition={"kind": "threshold", "key": "motor_temperature", "operator": ">", "value": 60}))
    db.add(AlarmRule(tenant_id=world.alpha.partner.id, key="barrier.errors", name="Errors off", enabled=False,
                     type_key="barrier", target_kind="device_type", condition={"kind": "error_code"}))
    db.commit()

    ingestor.accept([telemetry(barrier.serial_number, ("motor_temperature", 65)),
                     error_event(barrier.serial_number, "E01")])

    [alarm] = open_alarms(world, barrier.id)
    assert (alarm.key, alarm.severity, alarm.title) == ("barrier.motor_hot", "critical", "Motor hot (site)")


def test_rule_for_one_device_applies_to_that_device_only(world, ingestor, session_factory):
    beta_barrier = world.beta.barrier
    world.db.add(AlarmRule(tenant_id=world.alpha.customer.id, key="barrier.cycles_high", name="Cycles",
                           severity="warning", type_key="barrier", target_kind="device", device_id=world.alpha.barrier.id,
                           condition={"kind": "threshold", "key": "cycles", "operator": ">", "value": 1000}))
    world.db.commit()
    ingestor.accept([telemetry(world.alpha.barrier.serial_number, ("cycles", 2000)),
                     telemetry(beta_barrier.serial_number, ("cycles", 2000))])
    assert [a.key for a in open_alarms(world, world.alpha.barrier.id)] == ["barrier.cycles_high"]
    assert open_alarms(world, beta_barrier.id) == []


def test_scheduler_runs_the_alarm_job(world, ingestor, session_factory):
    published = []
    scheduler = Scheduler(session_factory, lambda tenant_id, update: published.append(update))
    ingestor.accept([telemetry(world.alpha.barrier.serial_number, ("motor_temperature", 99))])
    advance(400)
    results = scheduler.run_due()
    assert results["alarm rules over time"] == 1
    assert any(update["type"] == "alarm" for update in published)


def test_one_batch_costs_a_fixed_number_of_queries(world, ingestor, session_factory):
    """Rules are evaluated per batch, not per message: more messages, no more queries."""
    from sqlalchemy import event

    engine = session_factory.kw["bind"]
    counts = []

    def count_batch(messages):  # type: ignore[no-untyped-def]
        batch = _batch_of(ingestor, messages)
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            ingestor.subscribers[0](batch)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        counts.append(len(statements))

    def _batch_of(ingest, messages):  # type: ignore[no-untyped-def]
        from leitstand.ingest.apply import BatchWriter

        devices = ingest.directory.lookup([m.serial for m in messages])
        with system_session(session_factory, reason="test") as db:
            batch = BatchWriter(db, ingest.ports)
            for message in messages:
                batch.add(devices[message.serial], message, True)
        return batch.ingested()

    serial = world.alpha.barrier.serial_number
    ingestor.accept([telemetry(serial, ("motor_temperature", 20))])  # warm the rule cache
    count_batch([telemetry(serial, ("motor_temperature", 20))])
    count_batch([telemetry(serial, ("motor_temperature", 20 + n)) for n in range(20)]
                + [telemetry(world.beta.barrier.serial_number, ("motor_temperature", 20))])
    assert counts[0] == counts[1]

