"""Service calendars: when a support desk counts as open, and business-time arithmetic on them.

A *service calendar* is declared as data (`calendars.toml`): opening hours per
weekday (several intervals a day allowed), the German states whose public
holidays close the desk, extra closed days (every year, or on given dates) and
the IANA time zone the hours are meant in.

*Business time* is time that passes while the calendar is open. Opening hours
are local wall-clock intervals; every duration is measured on UTC instants, so
a day with a daylight-saving change is counted with its real length. A wall-clock
time that does not exist (the skipped hour in spring) is read with the offset
before the change, as `zoneinfo` does.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

CALENDARS_FILE = Path(__file__).parent / "calendars.toml"

MINUTES_PER_DAY = 24 * 60

# A calendar without a single opening in this many days is a configuration
# error; stopping here keeps a bad calendar from looping forever.
MAX_CLOSED_DAYS_IN_A_ROW = 3 * 366

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

Interval = tuple[datetime, datetime]


def _minute_of_day(text: str) -> int:
    hours, _, minutes = text.strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{text!r} is not a time like 09:00")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > MINUTES_PER_DAY:
        raise ValueError(f"{text!r} is not a time between 00:00 and 24:00")
    return value


def _parse_opening_hours(value: object) -> object:
    """Read "09:00-16:00" as (540, 960) minutes of the day; "24:00" ends a day."""
    if not isinstance(value, str):
        return value
    opens, separator, closes = value.partition("-")
    if not separator:
        raise ValueError(f"{value!r} is not a range like 09:00-16:00")
    return (_minute_of_day(opens), _minute_of_day(closes))


OpeningHours = Annotated[tuple[int, int], BeforeValidator(_parse_opening_hours)]


class WeeklyHours(BaseModel):
    """Opening hours per weekday as local wall-clock ranges; a missing day is closed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    monday: tuple[OpeningHours, ...] = ()
    tuesday: tuple[OpeningHours, ...] = ()
    wednesday: tuple[OpeningHours, ...] = ()
    thursday: tuple[OpeningHours, ...] = ()
    friday: tuple[OpeningHours, ...] = ()
    saturday: tuple[OpeningHours, ...] = ()
    sunday: tuple[OpeningHours, ...] = ()

    @model_validator(mode="after")
    def _ranges_ordered_and_apart(self) -> WeeklyHours:
        for weekday in WEEKDAYS:
            previous_close = -1
            for opens, closes in getattr(self, weekday):
                if opens >= closes:
                    raise ValueError(f"{weekday}: a range must close after it opens")
                if opens <= previous_close:
                    raise ValueError(f"{weekday}: ranges must be in order and must not overlap or touch")
                previous_close = closes
        return self

    def on(self, weekday: int) -> tuple[tuple[int, int], ...]:
        """The ranges for `date.weekday()` (0 = Monday)."""
        return getattr(self, WEEKDAYS[weekday])


@lru_cache(maxsize=256)
def _state_holidays(states: tuple[str, ...], year: int) -> dict[date, str]:
    """The public holidays of any of `states` in `year` (the union), with their names."""
    found: dict[date, str] = {}
    for state in states:
        for day, name in holidays.country_holidays("DE", subdiv=state, years=year).items():
            found.setdefault(day, f"{name} ({state})")
    return found


class ServiceCalendar(BaseModel):
    """When a support desk is open, and the business-time arithmetic that SLA clocks need.

    Instants passed in must be timezone-aware; instants returned are in the
    calendar's time zone. A day is closed when it is a public holiday in any of
    `holiday_states`, falls on a `closed_every_year` day or is in `closed_dates`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")
    title: str
    source: str = Field(default="", description="Where the calendar comes from, e.g. a contract clause.")
    time_zone: str = "Europe/Berlin"
    holiday_states: tuple[str, ...] = Field(default=(), description="German state codes, e.g. SH, BW, RP, HE.")
    closed_every_year: tuple[str, ...] = Field(default=(), description='Days as "MM-DD", e.g. "12-24".')
    closed_dates: tuple[date, ...] = ()
    hours: WeeklyHours

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown IANA time zone {value!r}") from error
        return value

    @field_validator("holiday_states")
    @classmethod
    def _known_states(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [state for state in value if state not in holidays.Germany.subdivisions]
        if unknown:
            raise ValueError(f"unknown German state code(s) {unknown}; use one of {holidays.Germany.subdivisions}")
        return value

    @field_validator("closed_every_year")
    @classmethod
    def _month_days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                date.fromisoformat(f"2000-{text}")  # a leap year, so 02-29 is accepted
            except ValueError as error:
                raise ValueError(f"{text!r} is not a day like 12-24") from error
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @cached_property
    def _closed_month_days(self) -> frozenset[tuple[int, int]]:
        return frozenset((int(text[:2]), int(text[3:])) for text in self.closed_every_year)

    # --- days -------------------------------------------------------------

    def closure_reason(self, day: date) -> str | None:
        """Why a day with weekly hours is closed anyway (holiday or extra closed day), else None."""
        holiday = _state_holidays(self.holiday_states, day.year).get(day)
        if holiday:
            return holiday
        if (day.month, day.day) in self._closed_month_days:
            return f"closed every year on {day:%d.%m.}"
        if day in self.closed_dates:
            return "closed on this date"
        return None

    def opening_intervals_on(self, day: date) -> list[Interval]:
        """The day's open intervals as aware local datetimes; empty when the desk is closed."""
        ranges = self.hours.on(day.weekday())
        if not ranges or self.closure_reason(day) is not None:
            return []
        return [(self._wall_clock(day, opens), self._wall_clock(day, closes)) for opens, closes in ranges]

    def is_business_day(self, day: date) -> bool:
        return bool(self.opening_intervals_on(day))

    # --- instants ---------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """Open intervals include their opening instant and exclude their closing one."""
        at = self._local(at)
        return any(opens <= at < closes for opens, closes in self.opening_intervals_on(at.date()))

    def next_opening(self, at: datetime) -> datetime:
        """The instant business time next runs: `at` itself when the desk is open then."""
        at = self._local(at)
        opens, _ = next(self._intervals_from(at))
        return max(opens, at)

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant by which `duration` of business time has passed since `start`.

        A start outside opening hours counts from the next opening. When the
        time runs out exactly at a closing, the closing instant is returned,
        not the next opening.
        """
        if duration < timedelta(0):
            raise ValueError("duration must not be negative")
        start = self._local(start)
        if not duration:
            return start
        left = duration
        for opens, closes in self._intervals_from(start):
            begin = max(opens, start)
            available = _utc(closes) - _utc(begin)
            if left <= available:
                return self._local(_utc(begin) + left)
            left -= available
        raise AssertionError("unreachable: _intervals_from never ends")  # pragma: no cover

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Business time from `start` to `end`; negative when `end` is before `start`."""
        start, end = self._local(start), self._local(end)
        if end < start:
            return -self.business_time_between(end, start)
        total = timedelta(0)
        day = start.date()
        while day <= end.date():
            for opens, closes in self.opening_intervals_on(day):
                overlap = _utc(min(closes, end)) - _utc(max(opens, start))
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """The same wall-clock time `days` business days later, counted from the next opening.

        This is what contracts mean by "one business day": a report on Friday
        at 15:30 is due on Monday at 15:30 (or Tuesday, when Monday is a
        holiday). When that clock time is not within the target day's hours
        (Hesse closes earlier on Fridays), the due instant is pulled back to
        the day's last closing before it, or forward to its first opening.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        begin = self.next_opening(start)
        day = begin.date()
        for _ in range(days):
            day = self._next_business_day(day)
        wanted = datetime.combine(day, begin.time(), tzinfo=self.zone)
        intervals = self.opening_intervals_on(day)
        if any(opens <= wanted <= closes for opens, closes in intervals):
            return wanted
        closings_before = [closes for _, closes in intervals if closes <= wanted]
        return closings_before[-1] if closings_before else intervals[0][0]

    # --- helpers ----------------------------------------------------------

    def _next_business_day(self, day: date) -> date:
        for _ in range(MAX_CLOSED_DAYS_IN_A_ROW):
            day += timedelta(days=1)
            if self.is_business_day(day):
                return day
        raise ValueError(f"calendar {self.key!r} has no opening within {MAX_CLOSED_DAYS_IN_A_ROW} days")

    def _intervals_from(self, at: datetime) -> Iterator[Interval]:
        """Open intervals that end after `at`, in order, one day at a time (never minute by minute)."""
        day = at.date()
        closed_days = 0
        while True:
            intervals = [(opens, closes) for opens, closes in self.opening_intervals_on(day) if closes > at]
            yield from intervals
            closed_days = 0 if intervals else closed_days + 1
            if closed_days > MAX_CLOSED_DAYS_IN_A_ROW:
                raise ValueError(f"calendar {self.key!r} has no opening within {MAX_CLOSED_DAYS_IN_A_ROW} days")
            day += timedelta(days=1)

    def _wall_clock(self, day: date, minute_of_day: int) -> datetime:
        if minute_of_day == MINUTES_PER_DAY:
            return datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
        return datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60), tzinfo=self.zone)

    def _local(self, at: datetime) -> datetime:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("instants must be timezone-aware; a naive time is ambiguous")
        return at.astimezone(self.zone)


def _utc(at: datetime) -> datetime:
    # Subtracting two datetimes that share a tzinfo ignores DST changes
    # between them (wall-clock arithmetic); UTC keeps durations real.
    return at.astimezone(UTC)


class CalendarCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    calendar: list[ServiceCalendar]

    @model_validator(mode="after")
    def _unique_keys(self) -> CalendarCatalog:
        keys = [calendar.key for calendar in self.calendar]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"duplicate calendar keys {duplicates}")
        return self


def load_calendars(path: Path) -> dict[str, ServiceCalendar]:
    with path.open("rb") as handle:
        catalog = CalendarCatalog.model_validate(tomllib.load(handle))
    return {calendar.key: calendar for calendar in catalog.calendar}


@lru_cache
def shipped_calendars() -> dict[str, ServiceCalendar]:
    """The calendars the reference contracts name, keyed by calendar key."""
    return load_calendars(CALENDARS_FILE)


def get_calendar(key: str) -> ServiceCalendar:
    try:
        return shipped_calendars()[key]
    except KeyError:
        raise KeyError(f"no service calendar {key!r}; known: {sorted(shipped_calendars())}") from None
