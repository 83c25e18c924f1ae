"""Request and response bodies of the maintenance API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from leitstand.json_numbers import Integer, JsonNumber
from leitstand.maintenance.models import CheckResult, PlanKind
from leitstand.web.types import (UNCHANGED, ContractDate, DisplayText, Flag, Input, Name, Patch, Public,
                                RefId, ShortText, visible_text)

CounterKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Months = Annotated[int, Field(ge=1, le=240), JsonNumber]
Counts = Annotated[int, Field(ge=1, le=10**12), JsonNumber]
Reading = Annotated[float, Field(ge=0, le=1e15), JsonNumber]
LongText = Annotated[str, StringConstraints(max_length=10_000, pattern=r"^[^\x00\u202a-\u202e\u2066-\u2069]*$"), DisplayText]
ChecklistItemText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                                     pattern=visible_text(r"[^\x00-\x1f\u202a-\u202e\u2066-\u2069]")),
                              DisplayText]
LightName = Literal["green", "yellow", "red"]


class PlanBase(Input):
    name: Name
    interval_months: Months | None = Field(None, description="Interval plans: every N months.")
    lead_days: Integer = Field(0, ge=0, le=3650, description="Interval plans: turn yellow this many days ahead (at least 30).")
    counter_key: CounterKey | None = Field(None, description="Counter plans: the counter telemetry key, e.g. cycles.")
    counter_every: Counts | None = Field(None, description="Counter plans: every N counts.")
    lead_count: Integer = Field(0, ge=0, le=10**12, description="Counter plans: turn yellow this many counts ahead.")
    checklist: list[ChecklistItemText] | None = Field(None, max_length=100,
                                                      description="Checklist items; the device type's if omitted.")
    active: Flag = True


class PlanCreate(PlanBase):
    """An interval plan needs `interval_months`, a counter plan `counter_key` and `counter_every`."""

    kind: PlanKind
    last_done_on: ContractDate | None = Field(None, description="Start of the first period; default: commissioning.")
    baseline_count: Reading | None = Field(
        None, description="Counter reading the first period starts at; default: the current one.")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.kind == PlanKind.interval and self.interval_months is None:
            raise ValueError("an interval plan needs interval_months")
        if self.kind == PlanKind.counter and (self.counter_key is None or self.counter_every is None):
            raise ValueError("a counter plan needs counter_key and counter_every")
        return self


class PlanUpdate(Patch):
    name: Name = UNCHANGED
    interval_months: Months = UNCHANGED
    lead_days: Integer = Field(UNCHANGED, ge=0, le=3650)
    counter_key: CounterKey = UNCHANGED
    counter_every: Counts = UNCHANGED
    lead_count: Integer = Field(UNCHANGED, ge=0, le=10**12)
    checklist: list[ChecklistItemText] = Field(UNCHANGED, max_length=100)
    active: Flag = UNCHANGED
    last_done_on: ContractDate | None = Field(UNCHANGED, description="Move the start of the current period.")
    baseline_count: Reading | None = UNCHANGED


class PlanPublic(Public):
    id: int
    device_id: int
    name: str
    kind: PlanKind
    interval_months: int | None
    lead_days: int
    counter_key: str | None
    counter_every: int | None
    lead_count: int
    checklist: list[str]
    default_key: str | None
    active: bool
    last_done_on: date | None
    baseline_count: float | None
    due_on: date | None
    warn_on: date | None
    due_count: float | None
    warn_count: float | None
    light: LightName | None = Field(None, description="Traffic light; none for an inactive plan.")
    current_count: float | None = Field(None, description="Counter plans: the latest reading.")


class CheckItem(Input):
    item: ChecklistItemText
    result: CheckResult
    note: ShortText = ""


class EntryBase(Input):
    performed_on: ContractDate
    technician_name: Name | None = Field(None, description="Free name; default: the technician user's or your own name.")
    technician_user_id: RefId | None = None
    checklist: list[CheckItem] = Field(default_factory=list, max_length=100)
    findings: LongText = ""
    signature_name: ShortText = ""
    next_due_on: ContractDate | None = Field(None, description="Override the next due date of completed interval plans.")
    counter_reading: Reading | None = None


class EntryCreate(EntryBase):
    completed_plan_ids: list[RefId] = Field(default_factory=list, max_length=50,
                                            description="Plans this inspection fulfils; their periods start anew.")


class EntryUpdate(Patch):
    """Corrections to an entry's record; the plans it completed stay as they were moved."""

    performed_on: ContractDate = UNCHANGED
    technician_name: Name = UNCHANGED
    checklist: list[CheckItem] = Field(UNCHANGED, max_length=100)
    findings: LongText = UNCHANGED
    signature_name: ShortText = UNCHANGED


class AttachmentPublic(Public):
    id: int
    entry_id: int
    file_name: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime


class EntryPublic(Public):
    id: int
    device_id: int
    performed_on: date
    technician_user_id: int | None
    technician_name: str
    checklist: list[dict[str, str]]
    findings: str
    signature_name: str
    next_due_on: date | None
    counter_reading: float | None
    completed_plan_ids: list[int]
    created_at: datetime
    attachments: list[AttachmentPublic] = Field(default_factory=list)


class DeviceStatus(Input):
    device_id: int
    light: LightName | None
    plans: list[PlanPublic]
    checklist: list[str] = Field(description="The device type's inspection checklist.")


class LightCounts(Input):
    green: int
    yellow: int
    red: int


class SiteStatus(Input):
    site_id: int
    light: LightName | None
    devices: LightCounts


class BoardDevice(Input):
    device_id: int
    name: str
    type_key: str
    site_id: int | None
    light: LightName
    next_due_on: date | None = Field(None, description="The earliest due date of its interval plans.")


class HistoryItem(Input):
    kind: Literal["inspection", "alarm"]
    at: datetime
    device_id: int
    device_name: str
    title: str
    detail: str = ""
    entry_id: int | None = None
