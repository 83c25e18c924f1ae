"""Business-time arithmetic on the three service calendars the reference contracts name.

All dates are in 2025 unless a case says otherwise; their weekdays and holidays
are noted where they matter.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from leitstand.support.calendars import WEEKDAYS, ServiceCalendar, get_calendar, shipped_calendars

BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")

SH = get_calendar("schleswig-holstein")
BW_RP = get_calendar("baden-wuerttemberg-rhineland-palatinate")
HESSE = get_calendar("hesse")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


def make_calendar(**fields: object) -> ServiceCalendar:
    return ServiceCalendar.model_validate({"key": "test", "title": "test", **fields})


ROUND_THE_CLOCK = make_calendar(hours={weekday: ["00:00-24:00"] for weekday in WEEKDAYS})


def test_the_contracts_three_calendars_ship_as_data() -> None:
    assert set(shipped_calendars()) == {"schleswig-holstein", "baden-wuerttemberg-rhineland-palatinate", "hesse"}
    assert all(calendar.time_zone == "Europe/Berlin" for calendar in shipped_calendars().values())
    assert SH.holiday_states == ("SH",) and BW_RP.holiday_states == ("BW", "RP") and HESSE.holiday_states == ("HE",)


# --- opening and closing boundaries ------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "instant", "expected"),
    [
        # Schleswig-Holstein, Mon–Fri 9–16 (Mon 16 June 2025)
        (SH, at(2025, 6, 16, 8, 59, 59), False),
        (SH, at(2025, 6, 16, 9), True),
        (SH, at(2025, 6, 16, 15, 59, 59), True),
        (SH, at(2025, 6, 16, 16), False),
        (SH, at(2025, 6, 14, 12), False),  # Saturday
        # Baden-Württemberg + Rhineland-Palatinate, Mon–Fri 9–17
        (BW_RP, at(2025, 6, 16, 9), True),
        (BW_RP, at(2025, 6, 16, 16, 30), True),
        (BW_RP, at(2025, 6, 16, 17), False),
        (BW_RP, at(2025, 6, 15, 12), False),  # Sunday
        # Hesse, Mon–Thu 7:30–16:30, Fri 7:30–15:00
        (HESSE, at(2025, 6, 16, 7, 29), False),
        (HESSE, at(2025, 6, 16, 7, 30), True),
        (HESSE, at(2025, 6, 18, 16, 29), True),  # Wednesday
        (HESSE, at(2025, 6, 18, 16, 30), False),
        (HESSE, at(2025, 6, 13, 7, 30), True),  # Friday
        (HESSE, at(2025, 6, 13, 14, 59), True),
        (HESSE, at(2025, 6, 13, 15), False),  # Friday closes at 15:00
        (HESSE, at(2025, 6, 13, 16), False),
    ],
)
def test_open_includes_the_opening_and_excludes_the_closing_instant(
    calendar: ServiceCalendar, instant: datetime, expected: bool
) -> None:
    assert calendar.is_open(instant) is expected


def test_is_open_takes_any_time_zone_and_judges_in_berlin_time() -> None:
    assert SH.is_open(datetime(2025, 6, 16, 7, 0, tzinfo=UTC))  # 09:00 CEST
    assert not SH.is_open(datetime(2025, 6, 16, 14, 0, tzinfo=UTC))  # 16:00 CEST


def test_next_opening() -> None:
    assert SH.next_opening(at(2025, 6, 16, 10)) == at(2025, 6, 16, 10)  # open: now
    assert SH.next_opening(at(2025, 6, 16, 7)) == at(2025, 6, 16, 9)
    assert SH.next_opening(at(2025, 6, 13, 16)) == at(2025, 6, 16, 9)  # Friday closing → Monday
    assert SH.next_opening(at(2025, 6, 6, 16)) == at(2025, 6, 10, 9)  # Whit Monday 9 June is closed
    assert HESSE.next_opening(at(2025, 6, 13, 15)) == at(2025, 6, 16, 7, 30)


def test_returned_instants_are_in_the_calendar_time_zone() -> None:
    due = SH.add_business_time(datetime(2025, 6, 16, 7, 0, tzinfo=UTC), hours(1))
    assert due == at(2025, 6, 16, 10) and due.tzinfo == BERLIN


# --- the example: one business day ------------------------------------


def test_one_business_day_from_friday_1530_is_monday_1530_in_a_normal_week() -> None:
    assert SH.add_business_days(at(2025, 6, 13, 15, 30), 1) == at(2025, 6, 16, 15, 30)


def test_one_business_day_from_friday_1530_is_tuesday_1530_when_monday_is_a_holiday() -> None:
    assert SH.closure_reason(date(2025, 6, 9)) is not None  # Whit Monday (Pfingstmontag)
    assert SH.add_business_days(at(2025, 6, 6, 15, 30), 1) == at(2025, 6, 10, 15, 30)
    # Easter Monday 2024 (1 April) the same way; Good Friday is closed too, so Thursday.
    assert SH.add_business_days(at(2024, 3, 28, 15, 30), 1) == at(2024, 4, 2, 15, 30)


def test_a_business_day_counts_from_the_next_opening_when_raised_outside_hours() -> None:
    assert SH.add_business_days(at(2025, 6, 14, 11), 1) == at(2025, 6, 17, 9)  # Saturday → Tue 9:00
    assert SH.add_business_days(at(2025, 6, 16, 16), 1) == at(2025, 6, 18, 9)  # Mon at closing → Wed 9:00
    assert SH.add_business_days(at(2025, 6, 16, 12), 0) == at(2025, 6, 16, 12)


def test_business_hours_run_out_at_the_closing_not_at_the_next_opening() -> None:
    assert SH.add_business_time(at(2025, 6, 16, 15), hours(1)) == at(2025, 6, 16, 16)
    assert SH.add_business_time(at(2025, 6, 16, 15), hours(1) + timedelta(seconds=1)) == at(2025, 6, 17, 9, 0, 1)
    assert SH.add_business_time(at(2025, 6, 14, 11), hours(0)) == at(2025, 6, 14, 11)


# --- Hesse's short Friday -----------------------------------------------------


def test_hesse_week_has_four_long_days_and_a_short_friday() -> None:
    assert HESSE.business_time_between(at(2025, 6, 2), at(2025, 6, 7)) == hours(4 * 9 + 7.5)  # no holiday
    assert HESSE.business_time_between(at(2025, 6, 13, 7, 30), at(2025, 6, 13, 23)) == hours(7.5)


def test_hesse_friday_afternoon_carries_over_to_monday() -> None:
    assert HESSE.add_business_time(at(2025, 6, 13, 14), hours(2)) == at(2025, 6, 16, 8, 30)


def test_hesse_business_day_ending_after_friday_closing_is_due_at_friday_closing() -> None:
    assert HESSE.add_business_days(at(2025, 6, 12, 16), 1) == at(2025, 6, 13, 15)
    assert HESSE.add_business_days(at(2025, 6, 12, 14, 45), 1) == at(2025, 6, 13, 14, 45)


# --- 24.12 and 31.12 ------------------------------------------------------------


def test_hesse_closes_on_24_and_31_december_by_contract() -> None:
    for day in (date(2025, 12, 24), date(2025, 12, 31), date(2026, 12, 24), date(2026, 12, 31)):
        if day.weekday() < 5:
            assert not HESSE.is_business_day(day), day
    assert not HESSE.is_open(at(2025, 12, 24, 10))  # a Wednesday
    # Tue 23.12 16:00 + 1 h: 30 min on Tuesday, then 24.–26.12 closed, weekend, Mon 29.12 8:00.
    assert HESSE.add_business_time(at(2025, 12, 23, 16), hours(1)) == at(2025, 12, 29, 8)
    # Christmas fortnight: Mon, Tue, (24–26 closed), Mon, Tue, (31.12, 1.1 closed), Fri 2.1.
    assert HESSE.business_time_between(at(2025, 12, 22), at(2026, 1, 3)) == hours(4 * 9 + 7.5)


def test_sh_and_bw_rp_stay_open_on_24_and_31_december_as_their_contracts_do_not_exclude_them() -> None:
    assert SH.is_open(at(2025, 12, 24, 10)) and SH.is_open(at(2025, 12, 31, 10))
    assert BW_RP.is_open(at(2025, 12, 24, 10)) and BW_RP.is_open(at(2025, 12, 31, 10))
    assert SH.add_business_time(at(2025, 12, 23, 15, 30), hours(1)) == at(2025, 12, 24, 9, 30)


def test_explicit_closed_dates() -> None:
    calendar = make_calendar(hours={"monday": ["09:00-17:00"]}, closed_dates=["2025-06-16"])
    assert not calendar.is_business_day(date(2025, 6, 16))
    assert calendar.next_opening(at(2025, 6, 16, 10)) == at(2025, 6, 23, 9)


# --- state holidays -------------------------------------------------------------


def test_epiphany_closes_bw_rp_but_neither_sh_nor_hesse() -> None:
    epiphany = date(2025, 1, 6)  # a Monday, a holiday in BW only
    assert "BW" in (BW_RP.closure_reason(epiphany) or "")
    assert SH.is_business_day(epiphany) and HESSE.is_business_day(epiphany)
    # Effect: one business day from Friday 3 January 10:00.
    assert BW_RP.add_business_days(at(2025, 1, 3, 10), 1) == at(2025, 1, 7, 10)
    assert SH.add_business_days(at(2025, 1, 3, 10), 1) == at(2025, 1, 6, 10)


def test_bw_rp_closes_on_the_holidays_of_either_state() -> None:
    # Rhineland-Palatinate alone would be open on Epiphany; the union closes it.
    rhineland_palatinate_only = make_calendar(hours={"monday": ["09:00-17:00"]}, holiday_states=["RP"])
    assert rhineland_palatinate_only.is_business_day(date(2025, 1, 6))
    assert not BW_RP.is_business_day(date(2025, 1, 6))


def test_corpus_christi_closes_bw_rp_and_hesse_but_not_sh() -> None:
    corpus_christi = date(2025, 6, 19)  # Thursday
    assert not BW_RP.is_business_day(corpus_christi) and not HESSE.is_business_day(corpus_christi)
    assert SH.is_business_day(corpus_christi)
    assert BW_RP.add_business_time(at(2025, 6, 18, 16), hours(2)) == at(2025, 6, 20, 10)
    assert SH.add_business_time(at(2025, 6, 18, 15), hours(2)) == at(2025, 6, 19, 10)


def test_reformation_day_closes_sh_but_not_bw_rp() -> None:
    reformation_day = date(2025, 10, 31)  # Friday
    assert not SH.is_business_day(reformation_day)
    assert BW_RP.is_business_day(reformation_day) and not HESSE.closure_reason(reformation_day)


# --- daylight saving ------------------------------------------------------------


def test_spring_forward_weekend_does_not_shift_business_hours() -> None:
    # DST starts Sunday 30 March 2025: Friday is +01:00, Monday +02:00.
    due = SH.add_business_time(at(2025, 3, 28, 15), hours(2))
    assert due == at(2025, 3, 31, 10) and due.utcoffset() == hours(2)
    assert SH.business_time_between(at(2025, 3, 28, 9), at(2025, 3, 31, 16)) == hours(14)
    assert SH.add_business_days(at(2025, 3, 28, 15, 30), 1) == at(2025, 3, 31, 15, 30)


def test_fall_back_weekend_does_not_shift_business_hours() -> None:
    # DST ends Sunday 26 October 2025.
    due = BW_RP.add_business_time(at(2025, 10, 24, 15), hours(4))
    assert due == at(2025, 10, 27, 11) and due.utcoffset() == hours(1)
    assert BW_RP.business_time_between(at(2025, 10, 24, 9), at(2025, 10, 27, 17)) == hours(16)


def test_days_with_a_dst_change_are_counted_with_their_real_length() -> None:
    assert ROUND_THE_CLOCK.business_time_between(at(2025, 3, 30), at(2025, 3, 31)) == hours(23)
    assert ROUND_THE_CLOCK.business_time_between(at(2025, 10, 26), at(2025, 10, 27)) == hours(25)
    # 24 real hours from Saturday noon end at 13:00 on Sunday's new wall clock ...
    assert ROUND_THE_CLOCK.add_business_time(at(2025, 3, 29, 12), hours(24)) == at(2025, 3, 30, 13)
    # ... while one business day keeps the wall-clock time.
    assert ROUND_THE_CLOCK.add_business_days(at(2025, 3, 29, 12), 1) == at(2025, 3, 30, 12)


# --- several intervals a day ----------------------------------------------------


def test_a_lunch_break_is_not_business_time() -> None:
    calendar = make_calendar(hours={"monday": ["08:00-17:00"], "tuesday": ["08:00-12:00", "13:00-17:00"]})
    assert not calendar.is_open(at(2025, 6, 17, 12, 30))
    assert calendar.add_business_time(at(2025, 6, 17, 11, 30), hours(1)) == at(2025, 6, 17, 13, 30)
    assert calendar.business_time_between(at(2025, 6, 17), at(2025, 6, 18)) == hours(8)
    # One business day from Monday 12:30 lands in Tuesday's break: due when the morning closes.
    assert calendar.add_business_days(at(2025, 6, 16, 12, 30), 1) == at(2025, 6, 17, 12)


# --- long spans and invariants -----------------------------------------------


def test_thirty_business_days_are_counted_by_day_not_by_minute() -> None:
    start = at(2025, 1, 2, 10)  # Thursday, after New Year
    assert SH.add_business_days(start, 30) == at(2025, 2, 13, 10)
    assert SH.add_business_time(start, hours(30 * 7)) == at(2025, 2, 13, 10)
    assert SH.business_time_between(start, at(2025, 2, 13, 10)) == hours(210)
    # A whole year: 261 weekdays in 2025, 10 of them SH holidays (1.1, Good Friday, Easter Monday,
    # 1.5, Ascension, Whit Monday, 3.10, 31.10, 25.12, 26.12).
    weekdays = sum(1 for offset in range(365) if (date(2025, 1, 1) + timedelta(days=offset)).weekday() < 5)
    assert weekdays == 261
    assert SH.business_time_between(at(2025, 1, 1), at(2026, 1, 1)) == hours(7 * (261 - 10))


def test_business_time_between_is_signed() -> None:
    assert SH.business_time_between(at(2025, 6, 16, 12), at(2025, 6, 16, 10)) == -hours(2)


instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(BERLIN), allow_imaginary=False
)


@settings(max_examples=200, deadline=None)
@given(start=instants, minutes=st.integers(min_value=1, max_value=60 * 24 * 40),
       calendar=st.sampled_from([SH, BW_RP, HESSE]))
def test_adding_business_time_and_measuring_it_agree(start: datetime, minutes: int, calendar: ServiceCalendar) -> None:
    due = calendar.add_business_time(start, timedelta(minutes=minutes))
    assert calendar.business_time_between(start, due) == timedelta(minutes=minutes)
    assert calendar.is_open(due - timedelta(seconds=1))  # business time was running until the due instant


# --- validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hours": {"monday": ["16:00-09:00"]}}, "close after it opens"),
        ({"hours": {"monday": ["09:00-12:00", "11:00-16:00"]}}, "must not overlap"),
        ({"hours": {"monday": ["09:00-25:00"]}}, "between 00:00 and 24:00"),
        ({"hours": {"monday": ["9-16"]}}, "not a time"),
        ({"hours": {"someday": ["09:00-16:00"]}}, "Extra inputs"),
        ({"hours": {}, "holiday_states": ["XX"]}, "unknown German state"),
        ({"hours": {}, "time_zone": "Europe/Kiel"}, "unknown IANA time zone"),
        ({"hours": {}, "closed_every_year": ["24.12"]}, "not a day like"),
    ],
)
def test_bad_calendar_declarations_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_calendar(**fields)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SH.is_open(datetime(2025, 6, 16, 10))


def test_a_calendar_that_never_opens_is_an_error_not_a_hang() -> None:
    never_open = make_calendar(hours={})
    with pytest.raises(ValueError, match="no opening"):
        never_open.add_business_time(at(2025, 6, 16), hours(1))
    with pytest.raises(ValueError, match="no opening"):
        never_open.add_business_days(at(2025, 6, 16), 1)
