"""The heating engine's decisions, as plain functions over plain data: no session, no clock.

`effective_target` says which temperature a thermostat should hold at an instant, and why;
`decide_send` says whether that target must go out now; `apply_budget` holds a send back when
the connection's daily downlink budget for the device is spent. The service layer
(leitstand.heating.service) loads the inputs from the database and a scheduler job hands the
results to the command service; nothing here knows either.

Rules (requirements/heating.md, "Decisions"):
- Precedence (1): per weekday, the most specific level with an assignment wins:
  thermostat > room > group > building. Two groups of one room with a plan for the same day:
  the assignment with the lowest id wins, so the answer never depends on load order.
- Modes: the thermostat's own mode beats its room's; without either, PLAN.
- Overrule (2): a change made at the device is honoured, in PLAN mode, for the overrule minutes
  of the plan in force when it was made; then the plan value then in force. A plan change in
  between does not end it; overrule 0 restores the plan at the next opportunity.
- Limits (3): the plan's min/max clamp every target (plan, MANUAL, FIX and the device's own
  value); a clamped value is never refused, it is reported as limited.
- Time (DH1): the hour slot is the local hour in the building's zone. On the 23-hour day slot 02
  never applies; on the 25-hour day slot 02 covers both 02:00 hours.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

HOURS = 24
DAY = timedelta(hours=24)
# A target within this of the last one sent is the same target (DH3's ± 0.1 °C).
SAME_TARGET = 0.1


class Level(enum.IntEnum):
    """Where a plan is assigned; a higher value is more specific."""

    building = 0
    group = 1
    room = 2
    thermostat = 3


class Mode(enum.StrEnum):
    plan = "plan"  # follows the plan (Home Assistant: hvac_mode auto)
    manual = "manual"  # the user's own target (hvac_mode heat, preset none)
    fix = "fix"  # a fixed temperature (hvac_mode heat, preset "fix"; locks the device)


class Source(enum.StrEnum):
    plan = "plan"
    manual = "manual"
    fix = "fix"
    overrule = "overrule"


@dataclass(frozen=True)
class Plan:
    id: int
    targets: tuple[float, ...]  # 24 hourly targets, slot 0 = 00:00–00:59 local
    min_celsius: float
    max_celsius: float
    overrule_minutes: int

    def __post_init__(self) -> None:
        if len(self.targets) != HOURS:
            raise ValueError(f"a plan has exactly {HOURS} hourly targets, not {len(self.targets)}")


@dataclass(frozen=True)
class Assignment:
    """A plan bound to one level for a set of weekdays (0 = Monday … 6 = Sunday)."""

    id: int
    plan_id: int
    level: Level
    weekdays: frozenset[int]


@dataclass(frozen=True)
class ModeSetting:
    mode: Mode
    celsius: float | None = None  # the MANUAL or FIX temperature


@dataclass(frozen=True)
class DeviceChange:
    """A target set at the device itself (DH6), as it reported it."""

    celsius: float
    at: datetime


@dataclass(frozen=True)
class Limits:
    min_celsius: float
    max_celsius: float


@dataclass(frozen=True)
class ThermostatInputs:
    """Everything that decides one thermostat's target.

    assignments: those of the thermostat, its room, the groups its room is in, and its building.
    fallback: the plan used on a weekday no level covers (the building's default plan), if any.
    default_limits: the limits when no plan applies at all (settings).
    """

    time_zone: str
    assignments: tuple[Assignment, ...]
    plans: Mapping[int, Plan]
    default_limits: Limits
    room_mode: ModeSetting | None = None
    thermostat_mode: ModeSetting | None = None
    device_change: DeviceChange | None = None
    fallback_plan_id: int | None = None


@dataclass(frozen=True)
class EffectiveTarget:
    celsius: float | None  # None: nothing to hold (MANUAL without a value and no plan)
    source: Source
    plan_id: int | None
    clamped: bool
    unclamped: float | None
    # While a device change is honoured: when the plan resumes.
    overrule_until: datetime | None = None


def local_slot(at: datetime, time_zone: str) -> tuple[int, int]:
    """(weekday, hour) of an aware instant on the wall clock of `time_zone`."""
    if at.tzinfo is None:
        raise ValueError("an instant needs its offset")
    local = at.astimezone(ZoneInfo(time_zone))
    return local.weekday(), local.hour


def plan_for(inputs: ThermostatInputs, weekday: int) -> Plan | None:
    """The plan the most specific level assigns for `weekday`, else the fallback plan."""
    covering = [a for a in inputs.assignments if weekday in a.weekdays and a.plan_id in inputs.plans]
    if covering:
        chosen = min(covering, key=lambda a: (-a.level, a.id))
        return inputs.plans[chosen.plan_id]
    if inputs.fallback_plan_id is not None:
        return inputs.plans.get(inputs.fallback_plan_id)
    return None


def clamp(celsius: float, limits: Limits) -> tuple[float, bool]:
    """The value within the limits, and whether it had to be moved there."""
    limited = min(max(celsius, limits.min_celsius), limits.max_celsius)
    return limited, limited != celsius


def limits_of(plan: Plan | None, default: Limits) -> Limits:
    return Limits(plan.min_celsius, plan.max_celsius) if plan is not None else default


def mode_of(inputs: ThermostatInputs) -> ModeSetting:
    return inputs.thermostat_mode or inputs.room_mode or ModeSetting(Mode.plan)


def _target(celsius: float | None, source: Source, plan: Plan | None, limits: Limits,
            overrule_until: datetime | None = None) -> EffectiveTarget:
    if celsius is None:
        return EffectiveTarget(None, source, plan.id if plan else None, False, None, overrule_until)
    limited, clamped = clamp(celsius, limits)
    return EffectiveTarget(limited, source, plan.id if plan else None, clamped, celsius, overrule_until)


def effective_target(inputs: ThermostatInputs, at: datetime) -> EffectiveTarget:
    """The target the thermostat should hold at `at`, and where it comes from (module docstring)."""
    weekday, hour = local_slot(at, inputs.time_zone)
    plan = plan_for(inputs, weekday)
    limits = limits_of(plan, inputs.default_limits)
    mode = mode_of(inputs)
    if mode.mode == Mode.fix:
        return _target(mode.celsius, Source.fix, plan, limits)
    if mode.mode == Mode.manual:
        return _target(mode.celsius, Source.manual, plan, limits)
    change = inputs.device_change
    if change is not None and change.at <= at:
        change_weekday, _ = local_slot(change.at, inputs.time_zone)
        plan_then = plan_for(inputs, change_weekday)
        until = change.at + timedelta(minutes=plan_then.overrule_minutes if plan_then else 0)
        if at < until:
            return _target(change.celsius, Source.overrule, plan, limits, until)
    if plan is None:
        return EffectiveTarget(None, Source.plan, None, False, None)
    return _target(plan.targets[hour], Source.plan, plan, limits)


# --- what to send -------------------------------------------------------------------------------


class Reason(enum.StrEnum):
    changed = "changed"  # the effective target differs from the last one sent
    rejoined = "rejoined"  # the device (re)joined: its queue is gone, send the current target again
    unchanged = "unchanged"
    overruled = "overruled"  # a device change is honoured: leave the device alone
    already_reported = "already_reported"  # the device reports the target already (DH3)
    nothing = "nothing"  # no target to hold
    deferred = "deferred"  # the daily downlink budget is spent (DH4)


@dataclass(frozen=True)
class SendDecision:
    send: bool
    reason: Reason
    celsius: float | None


def same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) < SAME_TARGET - 1e-9


def decide_send(target: EffectiveTarget, last_sent: float | None, *, rejoined: bool = False,
                reported: float | None = None) -> SendDecision:
    """Send only when the effective target changes, or again after a (re)join (DH7).

    `last_sent` is what the device was last given and still holds: a change made at the device
    voids it (the service forgets it then), so the plan value goes out when the overrule ends.

    While a device change is honoured nothing is sent, unless the device's value lies beyond
    the limits: then the limit goes out at once (Decision 3). A device that already reports the
    target gets nothing (DH3); after a join it gets it all the same, as its settings are gone too.
    """
    if target.celsius is None:
        return SendDecision(False, Reason.nothing, None)
    if target.source == Source.overrule and not target.clamped:
        return SendDecision(False, Reason.overruled, target.celsius)
    if rejoined:
        return SendDecision(True, Reason.rejoined, target.celsius)
    if same(target.celsius, last_sent):
        return SendDecision(False, Reason.unchanged, target.celsius)
    if same(target.celsius, reported) and target.source != Source.overrule:
        return SendDecision(False, Reason.already_reported, target.celsius)
    return SendDecision(True, Reason.changed, target.celsius)


def sends_in_window(sent_at: Iterable[datetime], at: datetime) -> int:
    """Downlinks of one device in the 24 hours up to `at`."""
    return sum(1 for moment in sent_at if at - DAY < moment <= at)


def apply_budget(decision: SendDecision, sent_at: Sequence[datetime], at: datetime,
                 budget: int | None) -> SendDecision:
    """Hold a send back once the device's downlinks in the last 24 h reach `budget` (None: no cap).

    A held-back send is flagged `deferred`; the caller keeps only its latest value, and since the
    next run decides anew from the target then in force, only that one goes out once budget is free.
    """
    if not decision.send or budget is None or sends_in_window(sent_at, at) < budget:
        return decision
    return SendDecision(False, Reason.deferred, decision.celsius)


def latest_per_device(queued: Iterable[tuple[int, float, datetime]]) -> dict[int, float]:
    """Of the targets queued for each device (device id, °C, when), only the latest stays (DH2)."""
    latest: dict[int, tuple[datetime, float]] = {}
    for device_id, celsius, at in queued:
        if device_id not in latest or at >= latest[device_id][0]:
            latest[device_id] = (at, celsius)
    return {device_id: celsius for device_id, (_, celsius) in latest.items()}


def unconfirmed(sent_at: datetime | None, confirmed_at: datetime | None, at: datetime, timeout: timedelta) -> bool:
    """Whether a sent target has waited longer than `timeout` for the device to report it."""
    if sent_at is None or (confirmed_at is not None and confirmed_at >= sent_at):
        return False
    return at - sent_at > timeout


def spread_offset(device_id: int, spread: timedelta) -> timedelta:
    """A fixed offset within `spread` per device, so that an hour's plan changes of a whole
    building do not all go out in the same second (radio duty cycle, gateway airtime)."""
    if spread <= timedelta(0):
        return timedelta(0)
    digest = int.from_bytes(hashlib.sha256(str(device_id).encode()).digest()[:8], "big")
    return timedelta(seconds=digest % max(int(spread.total_seconds()), 1))
