"""The heating engine's decisions (leitstand/heating/engine.py), over plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from leitstand.heating.engine import (
    Assignment,
    DeviceChange,
    EffectiveTarget,
    Level,
    Limits,
    Mode,
    ModeSetting,
    Plan,
    Reason,
    Source,
    ThermostatInputs,
    apply_budget,
    decide_send,
    effective_target,
    latest_per_device,
    local_slot,
    spread_offset,
    unconfirmed,
)

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS, WEEKEND = frozenset(range(5)), frozenset({5, 6})
DEFAULT_LIMITS = Limits(5, 30)


def day_plan(plan_id: int, day: float, night: float, start: int, end: int, *, low: float = 5, high: float = 30,
             overrule: int = 120) -> Plan:
    """`day` from hour `start` up to (not including) `end`, otherwise `night`."""
    return Plan(plan_id, tuple(day if start <= hour < end else night for hour in range(24)), low, high, overrule)


WERKTAG = day_plan(1, 21, 17, 6, 22)
WOCHENENDE = day_plan(2, 19, 16, 8, 23)


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


def inputs(*assignments: Assignment, plans: tuple[Plan, ...] = (WERKTAG, WOCHENENDE), **more) -> ThermostatInputs:
    return ThermostatInputs("Europe/Berlin", assignments, {plan.id: plan for plan in plans}, DEFAULT_LIMITS, **more)


BUILDING = (Assignment(1, WERKTAG.id, Level.building, WEEKDAYS), Assignment(2, WOCHENENDE.id, Level.building, WEEKEND))


# --- precedence (H51, Decision 1) ---------------------------------------------------------------


def test_building_plans_per_weekday() -> None:
    given = inputs(*BUILDING)
    # 2026-12-07 is a Monday, 2026-12-12 a Saturday.
    assert effective_target(given, berlin(2026, 12, 7, 6, 0)).celsius == 21
    assert effective_target(given, berlin(2026, 12, 7, 5, 59)).celsius == 17
    assert effective_target(given, berlin(2026, 12, 7, 22, 0)).celsius == 17
    saturday = effective_target(given, berlin(2026, 12, 12, 8, 0))
    assert (saturday.celsius, saturday.source, saturday.plan_id) == (19, Source.plan, WOCHENENDE.id)


def test_the_most_specific_level_wins_per_weekday() -> None:
    room_saturday = day_plan(3, 23, 15, 0, 24)
    own = day_plan(4, 24, 24, 0, 24)
    group = day_plan(5, 18, 18, 0, 24)
    saturday = berlin(2026, 12, 12, 8, 0)
    with_group = (*BUILDING, Assignment(3, group.id, Level.group, frozenset({5})))
    plans = (WERKTAG, WOCHENENDE, room_saturday, own, group)
    assert effective_target(inputs(*with_group, plans=plans), saturday).celsius == 18
    with_room = (*with_group, Assignment(4, room_saturday.id, Level.room, frozenset({5})))
    assert effective_target(inputs(*with_room, plans=plans), saturday).celsius == 23
    # The room's Saturday plan says nothing about Monday: the building's Werktag applies there.
    assert effective_target(inputs(*with_room, plans=plans), berlin(2026, 12, 7, 8, 0)).celsius == 21
    with_own = (*with_room, Assignment(5, own.id, Level.thermostat, frozenset({5})))
    assert effective_target(inputs(*with_own, plans=plans), saturday).celsius == 24


def test_two_groups_on_one_day_the_lower_assignment_id_wins() -> None:
    first, second = day_plan(3, 18, 18, 0, 24), day_plan(4, 22, 22, 0, 24)
    given = inputs(Assignment(9, second.id, Level.group, WEEKDAYS), Assignment(7, first.id, Level.group, WEEKDAYS),
                   plans=(first, second))
    assert effective_target(given, berlin(2026, 12, 7, 12, 0)).celsius == 18


def test_a_day_without_any_assignment_follows_the_fallback_plan_or_holds_nothing() -> None:
    only_weekdays = inputs(BUILDING[0])
    assert effective_target(only_weekdays, berlin(2026, 12, 12, 12, 0)).celsius is None
    fallback = day_plan(9, 20, 20, 0, 24)
    given = inputs(BUILDING[0], plans=(WERKTAG, fallback), fallback_plan_id=fallback.id)
    assert effective_target(given, berlin(2026, 12, 12, 12, 0)).celsius == 20


# --- modes ------------------------------------------------------------------------------------


def test_fix_and_manual_replace_the_plan_and_the_thermostat_mode_beats_the_room_mode() -> None:
    monday_noon = berlin(2026, 12, 7, 12, 0)
    fixed_room = inputs(*BUILDING, room_mode=ModeSetting(Mode.fix, 19.5))
    assert (effective_target(fixed_room, monday_noon).celsius, effective_target(fixed_room, monday_noon).source) == (19.5, Source.fix)
    manual_thermostat = inputs(*BUILDING, room_mode=ModeSetting(Mode.fix, 19.5),
                               thermostat_mode=ModeSetting(Mode.manual, 22))
    target = effective_target(manual_thermostat, monday_noon)
    assert (target.celsius, target.source, target.plan_id) == (22, Source.manual, WERKTAG.id)
    # The thermostat back on PLAN beats its room's FIX.
    planned = inputs(*BUILDING, room_mode=ModeSetting(Mode.fix, 19.5), thermostat_mode=ModeSetting(Mode.plan))
    assert effective_target(planned, monday_noon).source == Source.plan


# --- limits (Decision 3) --------------------------------------------------------------------------


def test_every_target_is_clamped_never_refused_and_shown_as_limited() -> None:
    narrow = day_plan(1, 21, 17, 6, 22, low=18, high=25)
    monday_noon = berlin(2026, 12, 7, 12, 0)
    manual = effective_target(inputs(BUILDING[0], plans=(narrow,), thermostat_mode=ModeSetting(Mode.manual, 27)), monday_noon)
    assert (manual.celsius, manual.clamped, manual.unclamped) == (25, True, 27)
    # The plan's own night value lies below its minimum: it is sent as the minimum.
    night = effective_target(inputs(BUILDING[0], plans=(narrow,)), berlin(2026, 12, 7, 3, 0))
    assert (night.celsius, night.clamped, night.unclamped) == (18, True, 17)
    fix = effective_target(inputs(BUILDING[0], plans=(narrow,), room_mode=ModeSetting(Mode.fix, 16)), monday_noon)
    assert (fix.celsius, fix.clamped) == (18, True)
    within = effective_target(inputs(BUILDING[0], plans=(narrow,)), monday_noon)
    assert (within.celsius, within.clamped, within.unclamped) == (21, False, 21)
    # Without any plan the default limits still hold.
    bare = effective_target(inputs(plans=(), thermostat_mode=ModeSetting(Mode.manual, 40)), monday_noon)
    assert (bare.celsius, bare.clamped) == (30, True)


# --- overrule (H54, Decision 2) -------------------------------------------------------------------


def test_a_change_at_the_device_is_honoured_for_the_overrule_minutes_then_the_plan_value_then_in_force() -> None:
    turned = DeviceChange(24, berlin(2026, 12, 7, 10, 0))
    given = inputs(*BUILDING, device_change=turned)
    during = effective_target(given, berlin(2026, 12, 7, 11, 59))
    assert (during.celsius, during.source, during.overrule_until) == (24, Source.overrule, berlin(2026, 12, 7, 12, 0))
    assert decide_send(during, last_sent=21).send is False
    after = effective_target(given, berlin(2026, 12, 7, 12, 0))
    assert (after.celsius, after.source) == (21, Source.plan)
    # The change at the device made the last sent target void (service.record_device_change).
    decision = decide_send(after, last_sent=None, reported=24)
    assert (decision.send, decision.reason) == (True, Reason.changed)


def test_a_plan_change_during_the_override_does_not_end_it() -> None:
    # Werktag goes from 21 to 17 at 22:00; the device was turned at 21:00.
    given = inputs(*BUILDING, device_change=DeviceChange(23, berlin(2026, 12, 7, 21, 0)))
    assert effective_target(given, berlin(2026, 12, 7, 22, 30)).source == Source.overrule
    resumed = effective_target(given, berlin(2026, 12, 7, 23, 0))
    assert (resumed.celsius, resumed.source) == (17, Source.plan)


def test_overrule_zero_restores_the_plan_at_the_next_opportunity() -> None:
    no_overrule = day_plan(1, 21, 17, 6, 22, overrule=0)
    given = inputs(BUILDING[0], plans=(no_overrule,), device_change=DeviceChange(24, berlin(2026, 12, 7, 10, 0)))
    target = effective_target(given, berlin(2026, 12, 7, 10, 0))
    assert (target.celsius, target.source) == (21, Source.plan)
    assert decide_send(target, last_sent=None, reported=24).send is True


def test_a_device_value_beyond_the_limits_is_answered_with_the_limit_at_once() -> None:
    narrow = day_plan(1, 21, 17, 6, 22, low=18, high=25)
    given = inputs(BUILDING[0], plans=(narrow,), device_change=DeviceChange(28, berlin(2026, 12, 7, 10, 0)))
    target = effective_target(given, berlin(2026, 12, 7, 10, 5))
    assert (target.celsius, target.source, target.clamped) == (25, Source.overrule, True)
    assert decide_send(target, last_sent=21).send is True


def test_overrule_applies_in_plan_mode_only() -> None:
    given = inputs(*BUILDING, thermostat_mode=ModeSetting(Mode.fix, 19),
                   device_change=DeviceChange(24, berlin(2026, 12, 7, 10, 0)))
    assert effective_target(given, berlin(2026, 12, 7, 10, 30)).source == Source.fix


# --- time (DH1) -------------------------------------------------------------------------------------


def test_the_23_hour_day_has_no_02_slot() -> None:
    marked = Plan(7, tuple(float(10 + hour) for hour in range(24)), 0, 40, 0)
    given = inputs(Assignment(1, 7, Level.building, frozenset(range(7))), plans=(marked,))
    # 2026-03-29, Europe/Berlin: 02:00 CET is followed by 03:00 CEST.
    before = datetime(2026, 3, 29, 0, 59, tzinfo=UTC)  # 01:59 CET
    after = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert effective_target(given, before).celsius == 11
    assert effective_target(given, after).celsius == 13
    hours = {local_slot(datetime(2026, 3, 28, 23, tzinfo=UTC) + timedelta(hours=step), "Europe/Berlin")[1]
             for step in range(23)}
    assert 2 not in hours and len(hours) == 23


def test_the_25_hour_day_runs_the_02_slot_twice_without_a_second_send() -> None:
    marked = Plan(7, tuple(float(10 + hour) for hour in range(24)), 0, 40, 0)
    given = inputs(Assignment(1, 7, Level.building, frozenset(range(7))), plans=(marked,))
    # 2026-10-25, Europe/Berlin: 02:00–02:59 CEST, then 02:00–02:59 CET again.
    first = effective_target(given, datetime(2026, 10, 25, 0, 30, tzinfo=UTC))  # 02:30 CEST
    second = effective_target(given, datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # 02:30 CET
    assert first.celsius == second.celsius == 12
    assert decide_send(second, last_sent=first.celsius).send is False
    assert effective_target(given, datetime(2026, 10, 25, 2, 0, tzinfo=UTC)).celsius == 13  # 03:00 CET
    # Sunday: the weekday is taken on the local calendar too.
    assert local_slot(datetime(2026, 10, 24, 22, 30, tzinfo=UTC), "Europe/Berlin") == (6, 0)


# --- what to send (DH2, DH3, DH4, DH7) ------------------------------------------------------------------


def target(celsius: float | None, source: Source = Source.plan) -> EffectiveTarget:
    return EffectiveTarget(celsius, source, 1, False, celsius)


def test_only_a_changed_target_is_sent_and_a_rejoin_sends_it_again() -> None:
    assert decide_send(target(21), last_sent=None).reason == Reason.changed
    assert decide_send(target(21), last_sent=21.05).reason == Reason.unchanged
    assert decide_send(target(21), last_sent=17).reason == Reason.changed
    rejoined = decide_send(target(21), last_sent=21, rejoined=True)
    assert (rejoined.send, rejoined.reason, rejoined.celsius) == (True, Reason.rejoined, 21)
    assert decide_send(target(21), last_sent=None, reported=21).reason == Reason.already_reported
    assert decide_send(target(None), last_sent=None).reason == Reason.nothing


def test_only_the_latest_queued_target_per_thermostat_stays() -> None:
    queued = [(1, 21.0, berlin(2026, 12, 7, 6, 0)), (2, 18.0, berlin(2026, 12, 7, 6, 0)),
              (1, 19.0, berlin(2026, 12, 7, 7, 0))]
    assert latest_per_device(queued) == {1: 19.0, 2: 18.0}


def test_the_daily_budget_defers_and_frees_after_24_hours() -> None:
    now = berlin(2026, 12, 7, 12, 0)
    sent = [now - timedelta(hours=23, minutes=59 - step) for step in range(10)]
    wanted = decide_send(target(21), last_sent=17)
    held = apply_budget(wanted, sent, now, budget=10)
    assert (held.send, held.reason, held.celsius) == (False, Reason.deferred, 21)
    assert apply_budget(wanted, sent[1:], now, budget=10).send is True
    assert apply_budget(wanted, sent, now, budget=None).send is True
    # An hour later the oldest sends have left the window: the latest deferred value goes out.
    later = decide_send(target(19), last_sent=17)
    assert apply_budget(later, sent, now + timedelta(minutes=5), budget=10) == later


def test_an_unconfirmed_target_is_noticed_after_the_timeout() -> None:
    sent = berlin(2026, 12, 7, 12, 0)
    limit = timedelta(minutes=60)
    assert unconfirmed(sent, None, sent + timedelta(minutes=61), limit)
    assert not unconfirmed(sent, None, sent + timedelta(minutes=59), limit)
    assert not unconfirmed(sent, sent + timedelta(minutes=5), sent + timedelta(hours=3), limit)


def test_sends_are_spread_but_each_device_keeps_its_offset() -> None:
    spread = timedelta(minutes=5)
    offsets = {spread_offset(device_id, spread) for device_id in range(50)}
    assert len(offsets) > 10 and all(timedelta(0) <= offset < spread for offset in offsets)
    assert spread_offset(7, spread) == spread_offset(7, spread)
