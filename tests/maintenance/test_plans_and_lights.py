"""Due points of interval and counter plans, the traffic light per plan, device and site."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.maintenance import service
from leitstand.maintenance.models import PlanKind
from leitstand.maintenance.traffic_light import Light, light_by_device, light_by_site, light_counts, plan_lights, site_light
from leitstand.state.models import DeviceState
from tests.helpers.world import World

NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)


def report_counter(db: Session, device: Device, key: str, value: float) -> None:
    """Set a device's latest counter reading as ingest would."""
    state = db.get(DeviceState, device.id)
    latest: dict[str, Any] = {key: {"at": NOW.isoformat(), "value": value}}
    if state is None:
        db.add(DeviceState(device_id=device.id, tenant_id=device.tenant_id, online=True, last_seen_at=NOW, latest=latest))
    else:
        state.latest = {**(state.latest or {}), **latest}
    db.commit()


def interval_plan(db: Session, device: Device, last_done_on: date, months: int = 12, lead_days: int = 0):  # type: ignore[no-untyped-def]
    plan = service.new_plan(db, device, {"name": "Annual", "kind": PlanKind.interval, "interval_months": months,
                                         "lead_days": lead_days, "last_done_on": last_done_on})
    db.commit()
    return plan


def counter_plan(db: Session, device: Device, every: int = 100_000, lead: int = 5_000, baseline: float | None = None):  # type: ignore[no-untyped-def]
    values: dict[str, Any] = {"name": "Cycles", "kind": PlanKind.counter, "counter_key": "cycles",
                              "counter_every": every, "lead_count": lead}
    if baseline is not None:
        values["baseline_count"] = baseline
    plan = service.new_plan(db, device, values)
    db.commit()
    return plan


def test_interval_plan_is_due_a_period_after_its_start_and_yellow_within_30_days(world: World) -> None:
    clock.freeze(NOW)
    db, barrier = world.db, world.alpha.barrier
    plan = interval_plan(db, barrier, date(2025, 8, 1))
    assert plan.due_on == date(2026, 8, 1) and plan.warn_on == date(2026, 7, 2)
    assert plan_lights(db, barrier.id)[plan.id][0] == Light.green  # 47 days ahead
    clock.freeze(datetime(2026, 7, 2, 8, tzinfo=UTC))
    assert plan_lights(db, barrier.id)[plan.id][0] == Light.yellow  # 30 days ahead
    clock.freeze(datetime(2026, 8, 1, 8, tzinfo=UTC))
    assert plan_lights(db, barrier.id)[plan.id][0] == Light.yellow  # due today: not yet overdue
    clock.freeze(datetime(2026, 8, 2, 8, tzinfo=UTC))
    assert plan_lights(db, barrier.id)[plan.id][0] == Light.red


def test_a_lead_time_longer_than_30_days_turns_yellow_earlier(world: World) -> None:
    clock.freeze(NOW)
    db, barrier = world.db, world.alpha.barrier
    plan = interval_plan(db, barrier, date(2025, 9, 1), lead_days=90)  # due 2026-09-01
    assert plan.warn_on == date(2026, 6, 3)
    assert plan_lights(db, barrier.id)[plan.id][0] == Light.yellow


def test_an_interval_plan_starts_at_commissioning_by_default(world: World) -> None:
    clock.freeze(NOW)
    barrier = world.alpha.barrier
    plan = service.new_plan(world.db, barrier, {"name": "Annual", "kind": PlanKind.interval, "interval_months": 12})
    assert plan.last_done_on == barrier.claimed_at.date()
    assert plan.due_on == service.add_months(barrier.claimed_at.date(), 12)


def test_counter_plan_follows_the_latest_reading(world: World) -> None:
    clock.freeze(NOW)
    db, barrier = world.db, world.alpha.barrier
    report_counter(db, barrier, "cycles", 20_000)
    plan = counter_plan(db, barrier)  # baseline: the current reading
    assert (plan.baseline_count, plan.due_count, plan.warn_count) == (20_000, 120_000, 115_000)
    assert plan_lights(db, barrier.id)[plan.id] == (Light.green, 20_000)
    report_counter(db, barrier, "cycles", 115_000)
    assert plan_lights(db, barrier.id)[plan.id][0] == Light.yellow
    report_counter(db, barrier, "cycles", 120_000)
    assert plan_lights(db, barrier.id)[plan.id][0] == Light.red


def test_a_counter_plan_without_a_reading_is_green(world: World) -> None:
    clock.freeze(NOW)
    plan = counter_plan(world.db, world.alpha.barrier, baseline=0)
    assert plan_lights(world.db, world.alpha.barrier.id)[plan.id] == (Light.green, None)


def test_device_shows_its_worst_plan_and_site_its_worst_device(world: World) -> None:
    clock.freeze(NOW)
    db, alpha = world.db, world.alpha
    interval_plan(db, alpha.barrier, date(2025, 12, 1))  # green
    report_counter(db, alpha.barrier, "cycles", 130_000)
    counter_plan(db, alpha.barrier, baseline=0)  # red
    interval_plan(db, alpha.thermostat, date(2024, 6, 20), months=24)  # due 2026-06-20: yellow
    assert light_by_device(db) == {alpha.barrier.id: Light.red, alpha.thermostat.id: Light.yellow}
    assert light_counts(db) == {Light.green: 0, Light.yellow: 1, Light.red: 1}
    assert light_by_site(db) == {alpha.room.id: Light.red}
    assert site_light(db, alpha.site) == Light.red
    assert site_light(db, world.beta.site) is None  # no plans there


def test_inactive_plans_and_decommissioned_devices_have_no_light(world: World) -> None:
    clock.freeze(NOW)
    db, alpha = world.db, world.alpha
    plan = interval_plan(db, alpha.barrier, date(2020, 1, 1))
    plan.active = False
    db.commit()
    assert light_by_device(db) == {}


def test_defaults_of_a_device_type_are_applied_once(world: World) -> None:
    clock.freeze(NOW)
    db, barrier = world.db, world.alpha.barrier
    created = service.apply_defaults(db, barrier)
    db.commit()
    assert sorted((plan.kind, plan.interval_months, plan.counter_every) for plan in created) == [
        ("counter", None, 100_000), ("interval", 12, None)]
    assert created[0].checklist == service.checklist_for("barrier") and created[0].checklist
    assert service.apply_defaults(db, barrier) == []
    thermostat_plans = service.apply_defaults(db, world.alpha.thermostat)
    assert [(plan.name, plan.interval_months) for plan in thermostat_plans] == [("Battery check", 24)]


@pytest.mark.parametrize("next_due_override", [None, date(2027, 3, 1)])
def test_an_inspection_that_completes_plans_resets_them(world: World, next_due_override: date | None) -> None:
    clock.freeze(NOW)
    db, barrier = world.db, world.alpha.barrier
    yearly = interval_plan(db, barrier, date(2025, 1, 1))  # overdue since 2026-01-01
    report_counter(db, barrier, "cycles", 104_000)
    cycles = counter_plan(db, barrier, baseline=0)  # overdue at 100 000
    assert light_by_device(db)[barrier.id] == Light.red
    entry = service.record_inspection(db, barrier, {
        "performed_on": date(2026, 6, 14), "technician_name": "M. Weber", "checklist": [], "findings": "",
        "signature_name": "M. Weber", "next_due_on": next_due_override, "completed_plan_ids": [yearly.id, cycles.id],
    }, user_id=None)
    db.commit()
    assert entry.counter_reading == 104_000
    assert yearly.last_done_on == date(2026, 6, 14)
    assert yearly.due_on == (next_due_override or date(2027, 6, 14))
    assert cycles.baseline_count == 104_000 and cycles.due_count == 204_000
    assert light_by_device(db)[barrier.id] == Light.green


def test_an_inspection_cannot_complete_another_devices_plan(world: World) -> None:
    clock.freeze(NOW)
    db = world.db
    foreign = interval_plan(db, world.alpha.thermostat, date(2025, 1, 1))
    with pytest.raises(service.PlanNotOfDevice):
        service.record_inspection(db, world.alpha.barrier, {
            "performed_on": date(2026, 6, 14), "technician_name": "X", "completed_plan_ids": [foreign.id]}, user_id=None)
    db.rollback()


def test_the_light_of_ten_thousand_devices_is_one_aggregate(world: World) -> None:
    """Not a benchmark: it shows the counts come from SQL (no per-device Python loop) by
    counting the statements run."""
    from sqlalchemy import event

    clock.freeze(NOW)
    db = world.db
    interval_plan(db, world.alpha.barrier, date(2025, 1, 1))
    statements: list[str] = []
    engine = db.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        light_counts(db)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) == 2  # the counter keys in use, then the aggregate
