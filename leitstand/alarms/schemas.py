"""API shapes of alarms, their comments, and alarm rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from leitstand.alarms.models import TargetKind
from leitstand.alarms.rules import RULE_KEY_PATTERN, Condition
from leitstand.devicetypes.spec import Severity
from leitstand.web.types import SOMETHING_VISIBLE, UNCHANGED, DisplayText, Flag, Name, Patch, Public, RefId

CommentText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000,
                                               pattern=SOMETHING_VISIBLE), DisplayText]
RuleKey = Annotated[str, StringConstraints(pattern=RULE_KEY_PATTERN)]
AlarmStateFilter = Literal["open", "active", "acknowledged", "cleared"]


class AlarmPublic(Public):
    id: int
    tenant_id: int
    device_id: int
    site_id: int | None
    key: str
    rule_key: str
    kind: str
    code: str
    severity: str
    title: str
    title_de: str
    details: dict[str, Any]
    steps: dict[str, list[str]] = Field(description="Troubleshooting steps per language (en, de).")
    state: str
    raised_at: datetime
    last_seen_at: datetime
    occurrences: int
    acknowledged_at: datetime | None
    acknowledged_by_id: int | None
    cleared_at: datetime | None
    cleared_by_id: int | None
    cleared_how: str | None
    assignee_id: int | None


class CommentPublic(Public):
    id: int
    alarm_id: int
    author_id: int | None
    text: str
    created_at: datetime


class AlarmDetail(AlarmPublic):
    comments: list[CommentPublic] = Field(default_factory=list)


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: CommentText


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee_id: RefId | None = Field(description="The user to take the alarm on; null to unassign.")


class AlarmRuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    enabled: Flag = True
    severity: Severity | None = Field(default=None, description="Required except for error_code rules (catalogue severity).")
    condition: Condition


class AlarmRuleCreate(AlarmRuleBase):
    key: RuleKey = Field(description="Same key as a default rule of the type: replaces it for the targeted devices.")
    tenant_id: RefId | None = Field(default=None, description="Defaults to your own tenant.")
    type_key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    target_kind: TargetKind = TargetKind.device_type
    site_id: RefId | None = None
    device_id: RefId | None = None


class AlarmRuleUpdate(Patch):
    name: Name = UNCHANGED
    enabled: Flag = UNCHANGED
    severity: Severity | None = Field(UNCHANGED, description="null: the catalogue's severity (error_code rules only).")
    condition: Condition = UNCHANGED


class AlarmRulePublic(Public):
    id: int
    tenant_id: int
    key: str
    name: str
    enabled: bool
    severity: str | None
    type_key: str
    target_kind: str
    site_id: int | None
    device_id: int | None
    condition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class DefaultRulePublic(BaseModel):
    type_key: str
    key: str
    name: str
    name_de: str
    severity: str | None
    condition: dict[str, Any]
