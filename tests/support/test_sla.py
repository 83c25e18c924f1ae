"""SLA clocks: due instants per contract and ticket class, pauses, breach and warning.

The EV-charging policy (contract 002, calendar BW + RP, Mon–Fri 9–17) gives class 1
four business hours; most clock mechanics are pinned on it. Dates are in 2025;
Monday 16 June is an ordinary Monday.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from leitstand.support.calendars import get_calendar
from leitstand.support.sla import (
    ClockState,
    ResponseTarget,
    ResponseTime,
    SlaClock,
    SlaEvent,
    SlaPolicy,
    TicketClass,
    TimeUnit,
    WarningThreshold,
    compute_sla_clock,
    shipped_policies,
    sla_clock_for,
)

BERLIN = ZoneInfo("Europe/Berlin")

BARRIER_PORTAL = shipped_policies()["barrier-portal"]  # contract 000, Schleswig-Holstein
EV_CHARGING = shipped_policies()["ev-charging"]  # contract 002, BW + RP
MANAGED_HOSTING = shipped_policies()["managed-hosting"]  # contract 003, Hesse

OPENED, PAUSED, RESUMED, RESPONDED = SlaEvent.opened, SlaEvent.paused, SlaEvent.resumed, SlaEvent.responded


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


MONDAY_9 = at(2025, 6, 16, 9)


def critical_ev_clock(
    *events: tuple[datetime, SlaEvent], now: datetime, warning: WarningThreshold | None = None
) -> SlaClock:
    """Class 1 under contract 002 (4 business hours), opened Monday 9:00 unless `events` say otherwise."""
    records = events if any(event is OPENED for _, event in events) else ((MONDAY_9, OPENED), *events)
    target = EV_CHARGING.targets[TicketClass.critical]
    return compute_sla_clock(records, target, EV_CHARGING.service_calendar, now, warning or EV_CHARGING.warning)


# --- targets as the contracts state them ---------------------------------------


def test_shipped_policies_carry_the_contracts_targets() -> None:
    assert BARRIER_PORTAL.calendar == "schleswig-holstein"
    for ticket_class in (TicketClass.critical, TicketClass.important):
        target = BARRIER_PORTAL.targets[ticket_class]
        assert target.response == ResponseTime(amount=1, unit=TimeUnit.business_days)
        assert target.response_if_reported_outside_hours == ResponseTime(amount=3, unit=TimeUnit.business_days)
    assert TicketClass.general not in BARRIER_PORTAL.targets  # "innerhalb angemessener Frist"

    assert EV_CHARGING.calendar == "baden-wuerttemberg-rhineland-palatinate"
    assert EV_CHARGING.targets[TicketClass.critical].response == ResponseTime(amount=4, unit="business_hours")
    assert EV_CHARGING.targets[TicketClass.important].response == ResponseTime(amount=1, unit="business_days")
    assert EV_CHARGING.targets[TicketClass.general].response == ResponseTime(amount=5, unit="business_days")

    assert MANAGED_HOSTING.calendar == "hesse" and MANAGED_HOSTING.targets == {}  # hotline "kurzfristig"


def test_a_class_without_a_contractual_target_gets_no_clock() -> None:
    records = [(MONDAY_9, OPENED)]
    assert sla_clock_for(BARRIER_PORTAL, TicketClass.general, records, MONDAY_9) is None
    for ticket_class in TicketClass:
        assert sla_clock_for(MANAGED_HOSTING, ticket_class, records, MONDAY_9) is None


# --- the example: contract 000, class 2, one business day ---------------


def test_class_2_raised_friday_1530_is_due_monday_1530() -> None:
    opened = at(2025, 6, 13, 15, 30)
    clock = sla_clock_for(BARRIER_PORTAL, 2, [(opened, OPENED)], now=at(2025, 6, 16, 12))
    assert clock is not None
    assert clock.due_at == at(2025, 6, 16, 15, 30)
    assert clock.state is ClockState.running
    assert clock.target_time == hours(7)  # one SH business day
    assert clock.remaining == hours(3.5)  # Monday 12:00 → 15:30


def test_class_2_raised_friday_1530_before_whit_monday_is_due_tuesday_1530() -> None:
    clock = sla_clock_for(BARRIER_PORTAL, 2, [(at(2025, 6, 6, 15, 30), OPENED)], now=at(2025, 6, 6, 15, 30))
    assert clock is not None and clock.due_at == at(2025, 6, 10, 15, 30)


@pytest.mark.parametrize(
    "opened",
    [
        at(2025, 6, 14, 10),  # Saturday
        at(2025, 6, 13, 16),  # Friday at closing
        at(2025, 6, 16, 8, 59),  # Monday before opening
    ],
)
def test_contract_000_gives_three_business_days_when_reported_outside_office_hours(opened: datetime) -> None:
    clock = sla_clock_for(BARRIER_PORTAL, TicketClass.critical, [(opened, OPENED)], now=opened)
    assert clock is not None
    # Counted from Monday 9:00; Corpus Christi (Thu 19 June) is no holiday in SH.
    assert clock.due_at == at(2025, 6, 19, 9)
    assert clock.target_time == hours(3 * 7)


def test_one_business_day_clock_warns_in_its_last_quarter() -> None:
    records = [(at(2025, 6, 13, 15, 30), OPENED)]
    assert sla_clock_for(BARRIER_PORTAL, 2, records, at(2025, 6, 16, 13, 44)).warning is False  # type: ignore[union-attr]
    assert sla_clock_for(BARRIER_PORTAL, 2, records, at(2025, 6, 16, 13, 45)).warning is True  # type: ignore[union-attr]


def test_a_pause_pushes_a_business_day_target_out_by_the_paused_business_time() -> None:
    records = [(at(2025, 6, 13, 15, 30), OPENED), (at(2025, 6, 16, 10), PAUSED), (at(2025, 6, 16, 11), RESUMED)]
    clock = sla_clock_for(BARRIER_PORTAL, 2, records, now=at(2025, 6, 16, 12))
    assert clock is not None
    # Monday 15:30 + 1 h: 30 min until closing, 30 min on Tuesday.
    assert clock.due_at == at(2025, 6, 17, 9, 30)
    assert clock.paused_time == hours(1)


# --- contract 002 -----------------------------------------------------------------


def test_class_1_four_business_hours_carry_over_the_weekend() -> None:
    clock = critical_ev_clock((at(2025, 6, 13, 15), OPENED), now=at(2025, 6, 13, 15))
    assert clock.due_at == at(2025, 6, 16, 11)  # 2 h on Friday, 2 h on Monday


def test_class_1_skips_corpus_christi() -> None:
    clock = critical_ev_clock((at(2025, 6, 18, 15), OPENED), now=at(2025, 6, 18, 15))
    assert clock.due_at == at(2025, 6, 20, 11)  # Wed 15–17, Thu 19 June closed, Fri 9–11


def test_class_2_skips_epiphany() -> None:
    clock = sla_clock_for(EV_CHARGING, 2, [(at(2025, 1, 3, 10), OPENED)], now=at(2025, 1, 3, 10))
    assert clock is not None and clock.due_at == at(2025, 1, 7, 10)  # Monday 6 January is a BW holiday


def test_class_3_five_business_days() -> None:
    clock = sla_clock_for(EV_CHARGING, 3, [(MONDAY_9 + hours(1), OPENED)], now=MONDAY_9 + hours(1))
    # Mon 16 June + 5 business days, Corpus Christi (Thu 19) closed: Tue 17, Wed 18, Fri 20, Mon 23, Tue 24.
    assert clock is not None and clock.due_at == at(2025, 6, 24, 10)


def test_clock_across_the_autumn_dst_change() -> None:
    opened = at(2025, 10, 24, 15)  # Friday, +02:00; DST ends on Sunday
    clock = critical_ev_clock((opened, OPENED), now=at(2025, 10, 27, 11))
    assert clock.due_at == at(2025, 10, 27, 11) and clock.due_at.utcoffset() == hours(1)
    assert clock.state is ClockState.running and clock.remaining == timedelta(0)
    late = critical_ev_clock((opened, OPENED), now=at(2025, 10, 27, 11, 0, 1))
    assert late.state is ClockState.breached


# --- running, met, breached, warning ----------------------------------------------


def test_running_clock_reports_remaining_business_time() -> None:
    clock = critical_ev_clock(now=MONDAY_9 + hours(1))
    assert clock.state is ClockState.running
    assert clock.due_at == at(2025, 6, 16, 13)
    assert clock.remaining == hours(3) and clock.overdue == timedelta(0)
    assert clock.warning is False and clock.breached_at is None


def test_warning_starts_when_a_quarter_of_the_target_is_left() -> None:
    assert critical_ev_clock(now=at(2025, 6, 16, 11, 59)).warning is False
    assert critical_ev_clock(now=at(2025, 6, 16, 12)).warning is True


def test_warning_by_a_fixed_amount_of_business_time() -> None:
    threshold = WarningThreshold(fraction=None, business_minutes=30)
    assert critical_ev_clock(now=at(2025, 6, 16, 12, 29), warning=threshold).warning is False
    assert critical_ev_clock(now=at(2025, 6, 16, 12, 30), warning=threshold).warning is True
    never = WarningThreshold(fraction=None, business_minutes=None)
    assert critical_ev_clock(now=at(2025, 6, 16, 12, 59), warning=never).warning is False


def test_at_the_due_instant_the_clock_still_runs_and_one_second_later_it_is_breached() -> None:
    due = at(2025, 6, 16, 13)
    on_time = critical_ev_clock(now=due)
    assert on_time.state is ClockState.running and on_time.remaining == timedelta(0) and on_time.warning
    late = critical_ev_clock(now=due + timedelta(seconds=1))
    assert late.state is ClockState.breached
    assert late.breached_at == due and late.overdue == timedelta(seconds=1) and late.remaining == timedelta(0)
    assert late.warning is False


def test_breach_overdue_counts_business_time_only() -> None:
    clock = critical_ev_clock(now=at(2025, 6, 17, 10))  # Tuesday 10:00
    assert clock.state is ClockState.breached and clock.overdue == hours(4 + 1)  # Mon 13–17, Tue 9–10


def test_a_response_in_time_meets_the_target() -> None:
    clock = critical_ev_clock((at(2025, 6, 16, 12, 30), RESPONDED), now=at(2025, 6, 17, 10))
    assert clock.state is ClockState.met
    assert clock.responded_at == at(2025, 6, 16, 12, 30)
    assert clock.remaining == timedelta(minutes=30) and clock.warning is False


def test_a_response_exactly_at_the_due_instant_is_in_time() -> None:
    assert critical_ev_clock((at(2025, 6, 16, 13), RESPONDED), now=at(2025, 6, 17)).state is ClockState.met


def test_a_late_response_is_a_breach() -> None:
    clock = critical_ev_clock((at(2025, 6, 16, 13, 30), RESPONDED), now=at(2025, 6, 17, 10))
    assert clock.state is ClockState.breached
    assert clock.responded_at == at(2025, 6, 16, 13, 30)
    assert clock.overdue == timedelta(minutes=30)  # until the response, not until now


def test_only_the_first_response_counts() -> None:
    clock = critical_ev_clock((at(2025, 6, 16, 10), RESPONDED), (at(2025, 6, 16, 15), RESPONDED), now=at(2025, 6, 17))
    assert clock.state is ClockState.met and clock.responded_at == at(2025, 6, 16, 10)


# --- pauses: waiting for the customer ----------------------------------------------


def test_a_paused_clock_freezes_its_remaining_time_and_pushes_out_the_due_instant() -> None:
    clock = critical_ev_clock((at(2025, 6, 16, 10), PAUSED), now=at(2025, 6, 16, 15))
    assert clock.state is ClockState.paused
    assert clock.remaining == hours(3)  # as when it was paused
    assert clock.paused_time == hours(5)
    assert clock.due_at == at(2025, 6, 17, 10)  # 13:00 + 5 h: 4 h on Monday, 1 h on Tuesday


def test_a_paused_clock_does_not_breach() -> None:
    clock = critical_ev_clock((at(2025, 6, 16, 10), PAUSED), now=at(2025, 6, 20, 16))
    assert clock.state is ClockState.paused and clock.remaining == hours(3)


def test_after_resuming_the_clock_runs_against_the_pushed_due_instant() -> None:
    events = ((at(2025, 6, 16, 10), PAUSED), (at(2025, 6, 17, 10), RESUMED))
    clock = critical_ev_clock(*events, now=at(2025, 6, 17, 12))
    assert clock.paused_time == hours(8)  # Mon 10–17, Tue 9–10
    assert clock.due_at == at(2025, 6, 17, 13)
    assert clock.state is ClockState.running and clock.remaining == hours(1) and clock.warning is True
    assert critical_ev_clock(*events, now=at(2025, 6, 17, 13, 1)).state is ClockState.breached


def test_a_pause_over_the_weekend_costs_only_its_business_time() -> None:
    events = ((at(2025, 6, 13, 15), OPENED), (at(2025, 6, 13, 16), PAUSED), (at(2025, 6, 16, 9), RESUMED))
    clock = critical_ev_clock(*events, now=at(2025, 6, 16, 10))
    assert clock.paused_time == hours(1)
    assert clock.due_at == at(2025, 6, 16, 12)  # 11:00 without the pause
    assert clock.remaining == hours(2)


def test_a_response_while_paused_meets_the_target() -> None:
    events = ((at(2025, 6, 16, 12), PAUSED), (at(2025, 6, 17, 10), RESPONDED))
    clock = critical_ev_clock(*events, now=at(2025, 6, 18))
    assert clock.state is ClockState.met
    assert clock.paused_time == hours(6)  # Mon 12–17, Tue 9–10
    assert clock.due_at == at(2025, 6, 17, 11)
    assert clock.remaining == hours(1)


def test_a_pause_after_the_breach_does_not_undo_it() -> None:
    events = ((at(2025, 6, 16, 14), PAUSED), (at(2025, 6, 17, 9), RESUMED))
    clock = critical_ev_clock(*events, now=at(2025, 6, 16, 15))
    assert clock.state is ClockState.breached
    assert clock.paused_time == timedelta(0) and clock.due_at == at(2025, 6, 16, 13)
    assert clock.overdue == hours(2)


def test_repeated_pause_or_resume_records_change_nothing() -> None:
    events = (
        (at(2025, 6, 16, 10), PAUSED),
        (at(2025, 6, 16, 11), PAUSED),
        (at(2025, 6, 16, 12), RESUMED),
        (at(2025, 6, 16, 12, 30), RESUMED),
    )
    clock = critical_ev_clock(*events, now=at(2025, 6, 16, 13))
    assert clock.paused_time == hours(2) and clock.due_at == at(2025, 6, 16, 15)


def test_the_same_history_answers_what_the_clock_said_earlier() -> None:
    events = ((at(2025, 6, 16, 10), PAUSED), (at(2025, 6, 16, 11), RESUMED), (at(2025, 6, 16, 12, 30), RESPONDED))
    assert critical_ev_clock(*events, now=at(2025, 6, 16, 10, 30)).state is ClockState.paused
    earlier = critical_ev_clock(*events, now=at(2025, 6, 16, 12))
    assert earlier.state is ClockState.running and earlier.responded_at is None
    assert critical_ev_clock(*events, now=at(2025, 6, 16, 16)).state is ClockState.met


def test_records_may_come_in_any_order_and_as_plain_strings() -> None:
    records = [(at(2025, 6, 16, 11), "resumed"), (MONDAY_9, "opened"), (at(2025, 6, 16, 10), "paused")]
    clock = sla_clock_for(EV_CHARGING, 1, records, now=at(2025, 6, 16, 12))
    assert clock is not None and clock.due_at == at(2025, 6, 16, 14)


# --- Hesse: a target an operator declares for the hotline calendar --------------------


def test_hesse_one_business_day_ends_at_the_early_friday_closing() -> None:
    target = ResponseTarget(response=ResponseTime(amount=1, unit="business_days"))
    clock = compute_sla_clock([(at(2025, 6, 12, 16), OPENED)], target, get_calendar("hesse"), now=at(2025, 6, 13, 14))
    assert clock.due_at == at(2025, 6, 13, 15)  # Friday's hotline closes at 15:00, not 16:00
    assert clock.target_time == hours(8)  # Thu 16:00–16:30 and Fri 7:30–15:00
    assert clock.remaining == hours(1) and clock.warning is True


def test_hesse_business_hours_skip_christmas_eve_and_the_holidays() -> None:
    target = ResponseTarget(response=ResponseTime(amount=4, unit="business_hours"))
    opened = at(2025, 12, 23, 15)  # Tuesday
    clock = compute_sla_clock([(opened, OPENED)], target, get_calendar("hesse"), now=at(2025, 12, 29, 9, 59))
    assert clock.due_at == at(2025, 12, 29, 10)  # 1.5 h on Tue, 24.–28.12 closed, Mon 7:30 + 2.5 h
    assert clock.state is ClockState.running


# --- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "now", "message"),
    [
        ([(MONDAY_9, PAUSED)], MONDAY_9, "exactly one 'opened'"),
        ([(MONDAY_9, OPENED), (MONDAY_9 + hours(1), OPENED)], MONDAY_9, "exactly one 'opened'"),
        ([(MONDAY_9, OPENED), (MONDAY_9 - hours(1), PAUSED)], MONDAY_9, "before the ticket was opened"),
        ([(MONDAY_9, OPENED)], MONDAY_9 - hours(1), "now is before"),
        ([(datetime(2025, 6, 16, 9), OPENED)], MONDAY_9, "timezone-aware"),
    ],
)
def test_inconsistent_histories_are_refused(records: list, now: datetime, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        sla_clock_for(EV_CHARGING, 1, records, now)


def test_unknown_events_are_refused() -> None:
    with pytest.raises(ValueError):
        sla_clock_for(EV_CHARGING, 1, [(MONDAY_9, OPENED), (MONDAY_9, "escalated")], MONDAY_9)


def test_bad_policy_declarations_are_refused() -> None:
    with pytest.raises(ValidationError, match="no service calendar"):
        SlaPolicy(key="x", title="x", calendar="bavaria")
    with pytest.raises(ValidationError, match="whole number"):
        ResponseTime(amount=1.5, unit="business_days")
    with pytest.raises(ValidationError):
        ResponseTime(amount=0, unit="business_hours")
    assert ResponseTime(amount=0.5, unit="business_hours").due_from(MONDAY_9, get_calendar("hesse")) == at(
        2025, 6, 16, 9, 30
    )
