"""Ticket classes, response-time targets and the SLA clock computed from a ticket's history.

The *response time* is the business time from a ticket being opened to the
provider's first response. An *SLA policy* (one per contract, `sla_policies.toml`)
names a service calendar and a response-time target per ticket class. The
*SLA clock* is recomputed from the ticket's event records alone, so the API,
the portal and the scheduler all see the same state without storing it.
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leitstand.support.calendars import ServiceCalendar, get_calendar

POLICIES_FILE = Path(__file__).parent / "sla_policies.toml"


class TicketClass(enum.IntEnum):
    """How badly a reported problem hurts (the contracts' Dringlichkeitsstufe / Problemklasse)."""

    critical = 1  # a function that blocks operation
    important = 2  # a severe malfunction that still allows use
    general = 3  # everything else


class TimeUnit(enum.StrEnum):
    business_hours = "business_hours"  # hours of open calendar time
    business_days = "business_days"  # the same clock time N business days later


class ResponseTime(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    amount: float = Field(gt=0)
    unit: TimeUnit

    @model_validator(mode="after")
    def _whole_days(self) -> ResponseTime:
        if self.unit is TimeUnit.business_days and not float(self.amount).is_integer():
            raise ValueError("business_days must be a whole number")
        return self

    def due_from(self, opened_at: datetime, calendar: ServiceCalendar) -> datetime:
        if self.unit is TimeUnit.business_days:
            return calendar.add_business_days(opened_at, int(self.amount))
        return calendar.add_business_time(opened_at, timedelta(hours=self.amount))


class ResponseTarget(BaseModel):
    """A class's target; some contracts grant longer when a ticket arrives outside opening hours."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    response: ResponseTime
    response_if_reported_outside_hours: ResponseTime | None = None

    def due_without_pauses(self, opened_at: datetime, calendar: ServiceCalendar) -> datetime:
        span = self.response
        if self.response_if_reported_outside_hours is not None and not calendar.is_open(opened_at):
            span = self.response_if_reported_outside_hours
        return span.due_from(opened_at, calendar)


class WarningThreshold(BaseModel):
    """Warn when the business time left is at most this share of the target or this many minutes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fraction: float | None = Field(default=0.25, gt=0, le=1)
    business_minutes: int | None = Field(default=None, gt=0)

    def applies(self, remaining: timedelta, target_time: timedelta) -> bool:
        limits = []
        if self.fraction is not None:
            limits.append(target_time * self.fraction)
        if self.business_minutes is not None:
            limits.append(timedelta(minutes=self.business_minutes))
        return bool(limits) and remaining <= max(limits)


class SlaPolicy(BaseModel):
    """A contract's response-time promise: its calendar and a target per ticket class.

    A class without a target has no measurable promise (e.g. "within a
    reasonable time"); its tickets get no SLA clock.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")
    title: str
    source: str = ""
    calendar: str
    targets: dict[TicketClass, ResponseTarget] = Field(default_factory=dict)
    warning: WarningThreshold = WarningThreshold()

    @model_validator(mode="after")
    def _calendar_exists(self) -> SlaPolicy:
        try:
            get_calendar(self.calendar)
        except KeyError as error:
            raise ValueError(str(error.args[0])) from None
        return self

    @property
    def service_calendar(self) -> ServiceCalendar:
        return get_calendar(self.calendar)


class PolicyCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: list[SlaPolicy]


def load_policies(path: Path) -> dict[str, SlaPolicy]:
    with path.open("rb") as handle:
        catalog = PolicyCatalog.model_validate(tomllib.load(handle))
    return {policy.key: policy for policy in catalog.policy}


@lru_cache
def shipped_policies() -> dict[str, SlaPolicy]:
    """The response-time promises of the reference contracts, keyed by policy key."""
    return load_policies(POLICIES_FILE)


# --- the clock ---------------------------------------------------------------


class SlaEvent(enum.StrEnum):
    opened = "opened"
    paused = "paused"  # waiting for the customer: the clock stops
    resumed = "resumed"  # the customer answered: the clock runs again
    responded = "responded"  # the provider's first response: the clock ends


class SlaRecord(NamedTuple):
    at: datetime
    event: SlaEvent


class ClockState(enum.StrEnum):
    running = "running"
    paused = "paused"
    met = "met"
    breached = "breached"


@dataclass(frozen=True)
class SlaClock:
    """A ticket's response clock as of `as_of`. All durations are business time."""

    state: ClockState
    as_of: datetime
    opened_at: datetime
    due_at: datetime  # pushed out by the business time spent paused
    target_time: timedelta  # the business time the target grants, before pauses
    remaining: timedelta  # left until `due_at` (at the response, once met); zero once breached
    overdue: timedelta  # past `due_at` (until the response, or now); zero unless breached
    paused_time: timedelta
    responded_at: datetime | None
    warning: bool  # still running or paused, and close to the breach

    @property
    def breached_at(self) -> datetime | None:
        return self.due_at if self.state is ClockState.breached else None


def compute_sla_clock(
    records: Iterable[tuple[datetime, SlaEvent | str]],
    target: ResponseTarget,
    calendar: ServiceCalendar,
    now: datetime,
    warning: WarningThreshold = WarningThreshold(),
) -> SlaClock:
    """The clock of a ticket from its (instant, event) records, as it stood at `now`.

    Records after `now` are ignored, so the same history answers "what did the
    clock say then?". Pausing while paused and resuming while running change
    nothing. A response at the due instant is in time; a pause that starts
    after the due instant cannot undo the breach.
    """
    history = sorted((SlaRecord(at, SlaEvent(event)) for at, event in records), key=lambda record: record.at)
    if any(instant.tzinfo is None for instant in [now, *(record.at for record in history)]):
        raise ValueError("instants must be timezone-aware; a naive time is ambiguous")
    openings = [record for record in history if record.event is SlaEvent.opened]
    if len(openings) != 1:
        raise ValueError(f"a ticket's history needs exactly one 'opened' record, found {len(openings)}")
    opened_at = openings[0].at
    if history[0].at < opened_at:
        raise ValueError("records before the ticket was opened")
    if now < opened_at:
        raise ValueError("now is before the ticket was opened")

    base_due = target.due_without_pauses(opened_at, calendar)
    target_time = calendar.business_time_between(opened_at, base_due)

    due = base_due
    paused_time = timedelta(0)
    paused_since: datetime | None = None
    responded_at: datetime | None = None
    breached = False

    def pause_until(end: datetime) -> None:
        nonlocal paused_time, paused_since, due
        assert paused_since is not None
        paused_time += calendar.business_time_between(paused_since, end)
        paused_since = None
        due = calendar.add_business_time(base_due, paused_time)

    for at, event in history:
        if at > now:
            break
        if event is SlaEvent.opened:
            continue
        if paused_since is None and at > due:
            breached = True  # the running clock reached the due instant before this event
        if event is SlaEvent.responded:
            responded_at = at
            break
        if breached:
            continue
        if event is SlaEvent.paused and paused_since is None:
            paused_since = at
        elif event is SlaEvent.resumed and paused_since is not None:
            pause_until(at)

    ended_at = responded_at or now
    still_paused = paused_since is not None  # never true once breached: pauses are ignored then
    if still_paused:
        pause_until(ended_at)  # an open pause counts up to the response, or up to now

    if responded_at is not None:
        state = ClockState.breached if breached else ClockState.met
    elif breached:
        state = ClockState.breached
    elif still_paused:
        state = ClockState.paused
    else:
        state = ClockState.breached if now > due else ClockState.running

    if state is ClockState.breached:
        remaining = timedelta(0)
        overdue = calendar.business_time_between(due, ended_at)
    else:
        remaining = calendar.business_time_between(ended_at, due)
        overdue = timedelta(0)
    in_progress = state in (ClockState.running, ClockState.paused)
    return SlaClock(
        state=state,
        as_of=now,
        opened_at=opened_at,
        due_at=due,
        target_time=target_time,
        remaining=remaining,
        overdue=overdue,
        paused_time=paused_time,
        responded_at=responded_at,
        warning=in_progress and warning.applies(remaining, target_time),
    )


def sla_clock_for(
    policy: SlaPolicy,
    ticket_class: TicketClass,
    records: Iterable[tuple[datetime, SlaEvent | str]],
    now: datetime,
) -> SlaClock | None:
    """The clock under a contract's policy, or None when the contract sets no target for the class."""
    target = policy.targets.get(TicketClass(ticket_class))
    if target is None:
        return None
    return compute_sla_clock(records, target, policy.service_calendar, now, policy.warning)
