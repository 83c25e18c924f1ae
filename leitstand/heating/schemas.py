"""Request and response bodies of the heating API.

In Home Assistant's words: PLAN is hvac_mode "auto", MANUAL is "heat" with the user's target,
FIX is "heat" with preset "fix"; min/max_celsius are min_temp/max_temp, celsius is temperature.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from leitstand.heating.engine import HOURS, Mode, Reason, Source
from leitstand.json_numbers import JsonNumber
from leitstand.web.types import UNCHANGED, Input, Name, Patch, Public, RefId

Celsius = Annotated[float, Field(ge=0, le=40, description="°C, 0 to 40."), JsonNumber]
Hour = Annotated[int, Field(ge=0, le=23), JsonNumber]
Weekday = Annotated[int, Field(ge=0, le=6, description="0 = Monday … 6 = Sunday."), JsonNumber]
OverruleMinutes = Annotated[int, Field(ge=0, le=10_080, description=(
    "How long a target set at the device itself is honoured; 0: the plan is restored at the next opportunity.")),
    JsonNumber]
Weekdays = Annotated[list[Weekday], Field(min_length=1, max_length=7)]
LevelName = Literal["thermostat", "room", "group", "building"]


class HourTarget(Input):
    hour: Hour
    celsius: Celsius


HourlyTargets = Annotated[list[HourTarget], Field(min_length=HOURS, max_length=HOURS, description=(
    "Exactly 24 entries, one for each hour 0 to 23 (local time of the building)."))]


def check_hours(targets: list[HourTarget] | None) -> None:
    if targets is not None and sorted(target.hour for target in targets) != list(range(HOURS)):
        raise ValueError("targets need each hour 0 to 23 exactly once")


def check_limits(low: float | None, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError("min_celsius lies above max_celsius")


def check_weekdays(weekdays: list[int] | None) -> None:
    if weekdays is not None and len(set(weekdays)) != len(weekdays):
        raise ValueError("a weekday is named twice")


class PlanCreate(Input):
    name: Name
    tenant_id: RefId | None = Field(None, description="Owner; default: the building's, else your own tenant.")
    site_id: RefId | None = Field(None, description="The building the plan is kept at, if any.")
    targets: HourlyTargets
    min_celsius: Celsius
    max_celsius: Celsius
    overrule_minutes: OverruleMinutes

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_hours(self.targets)
        check_limits(self.min_celsius, self.max_celsius)
        return self


class PlanUpdate(Patch):
    name: Name = UNCHANGED
    targets: HourlyTargets = UNCHANGED
    min_celsius: Celsius = UNCHANGED
    max_celsius: Celsius = UNCHANGED
    overrule_minutes: OverruleMinutes = UNCHANGED

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_hours(self.targets)
        check_limits(self.min_celsius, self.max_celsius)
        return self


class PlanCopy(Input):
    name: Name


class PlanPublic(Public):
    id: int
    tenant_id: int
    site_id: int | None
    name: str
    targets: list[HourTarget]
    min_celsius: float
    max_celsius: float
    overrule_minutes: int
    is_default: bool


class AssignmentCreate(Input):
    plan_id: RefId
    level: LevelName
    target_id: RefId = Field(description="The thermostat's device id, the room's or building's site id, or the group id.")
    weekdays: Weekdays

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_weekdays(self.weekdays)
        return self


class AssignmentUpdate(Patch):
    plan_id: RefId = UNCHANGED
    weekdays: Weekdays = UNCHANGED

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_weekdays(self.weekdays)
        return self


class AssignmentPublic(Public):
    id: int
    tenant_id: int
    plan_id: int
    level: LevelName
    target_id: int
    weekdays: list[int]


class WeekDay(Public):
    weekday: int
    assignment_id: int | None
    plan_id: int | None
    plan_name: str | None
    targets: list[float] | None = Field(description="The day's 24 hourly targets, hour 0 first.")


class WeekPublic(Public):
    level: LevelName
    target_id: int
    days: list[WeekDay]


class CopyDay(Input):
    level: LevelName
    target_id: RefId
    from_weekday: Weekday
    to_weekday: Weekday


class CopyWeek(Input):
    level: LevelName
    target_id: RefId
    to_level: LevelName
    to_target_id: RefId


class ModeSet(Input):
    mode: Mode
    celsius: Celsius | None = Field(None, description="Required for manual and fix; clamped to the limits in force.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.mode != Mode.plan and self.celsius is None:
            raise ValueError("manual and fix need celsius")
        return self


class ModePublic(Public):
    mode: Mode
    celsius: float | None
    is_default: bool = Field(description="True when nothing is set here and the default mode applies.")


class RoomTarget(Input):
    celsius: Celsius


class RoomTargetPublic(Public):
    site_id: int
    celsius: float = Field(description="The target set, within the limits in force.")
    requested: float
    limited: bool = Field(description="True when the request lay beyond the limits and was clamped.")
    min_celsius: float
    max_celsius: float


class EffectiveTargetPublic(Public):
    device_id: int
    at: datetime
    celsius: float | None
    source: Source
    plan_id: int | None
    limited: bool
    unclamped: float | None
    overrule_until: datetime | None
    would_send: bool
    reason: Reason

