"""Request and response shapes of the notification API. Webhook secrets leave only once, on creation or rotation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from leitstand.access.roles import ROLES
from leitstand.access.schemas import RoleKey
from leitstand.devicetypes.spec import Severity
from leitstand.json_numbers import JsonNumber
from leitstand.notifications.channels import Channel
from leitstand.web.types import HTTP_URL, NO_CONTROL, UNCHANGED, Flag, Input, Label, Name, Patch, Public, RefId, WebUrl

# No whitespace or control characters, C1 and U+FEFF named too: regex engines disagree on what \s holds,
# and the schema (ECMA) and the server (Rust) must refuse the same URLs.
WebhookUrl = WebUrl
WebhookSecret = Annotated[str, StringConstraints(min_length=16, max_length=200, pattern=NO_CONTROL)]
Minutes = Annotated[int, Field(ge=1, le=7 * 24 * 60, description="Escalate if not acknowledged after this long."),
                    JsonNumber]
IdList = Annotated[list[RefId], Field(max_length=200)]


def _known_roles(roles: list[str] | None) -> list[str] | None:
    unknown = [role for role in roles or [] if role not in ROLES]
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(unknown)}")
    return roles


class RuleFields(Patch):
    """What a rule is made of. Left out: unchanged on update, empty on creation (see RuleCreate)."""

    name: Name = UNCHANGED
    enabled: Flag = UNCHANGED
    severities: list[Severity] = Field(UNCHANGED, max_length=4, description="Empty: every severity.")
    site_ids: IdList = Field(UNCHANGED, description="Sites (with everything below them); empty: every site.")
    device_type_keys: Annotated[list[Label], Field(max_length=100)] = Field(
        UNCHANGED, description="Device types; empty: every type.")
    user_ids: IdList = UNCHANGED
    roles: Annotated[list[RoleKey], Field(max_length=20)] = Field(
        UNCHANGED, description="Everyone holding one of these roles in the rule's organisation (and above it).")
    channels: Annotated[list[Channel], Field(max_length=3)] = UNCHANGED
    webhook_ids: IdList = UNCHANGED
    escalate_after_minutes: Minutes | None = Field(UNCHANGED, description="null: no escalation.")
    escalation_user_ids: IdList = UNCHANGED
    escalation_roles: Annotated[list[RoleKey], Field(max_length=20)] = UNCHANGED

    _roles = field_validator("roles", "escalation_roles")(_known_roles)


class RuleCreate(RuleFields):
    """A rule needs recipients: `user_ids`, `roles`, or `webhook_ids` with the webhook channel."""

    tenant_id: RefId
    name: Name
    enabled: Flag = True
    severities: list[Severity] = Field(default_factory=lambda: list(Severity), max_length=4)
    channels: Annotated[list[Channel], Field(max_length=3)] = Field(
        default_factory=lambda: [Channel.push, Channel.email])


class RuleUpdate(RuleFields):
    pass


class RulePublic(Public):
    id: int
    tenant_id: int
    name: str
    enabled: bool
    severities: list[str]
    site_ids: list[int]
    device_type_keys: list[str]
    user_ids: list[int]
    roles: list[str]
    channels: list[str]
    webhook_ids: list[int]
    escalate_after_minutes: int | None
    escalation_user_ids: list[int]
    escalation_roles: list[str]
    created_at: datetime


class WebhookCreate(Input):
    tenant_id: RefId
    name: Name
    url: WebhookUrl
    secret: WebhookSecret | None = Field(None, description="Omit to have one generated (returned once).")
    enabled: Flag = True


class WebhookUpdate(Patch):
    name: Name = UNCHANGED
    url: WebhookUrl = UNCHANGED
    enabled: Flag = UNCHANGED
    rotate_secret: Flag = Field(False, description="Generate a new secret (returned once).")


class WebhookPublic(Public):
    id: int
    tenant_id: int
    name: str
    url: str
    enabled: bool
    created_at: datetime


class WebhookWithSecret(WebhookPublic):
    secret: str = Field(description="Shown once: keep it in the receiving system to verify signatures.")


class DeliveryPublic(Public):
    id: int
    tenant_id: int
    alarm_id: int | None
    rule_id: int | None
    user_id: int | None
    webhook_id: int | None
    reason: str
    channel: str
    target: str
    outcome: str
    status_code: int | None
    detail: str
    event_at: datetime | None
    latency_ms: float | None
    attempt_ms: float | None
    attempts: int
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    dead_lettered: bool
    created_at: datetime


PushKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_\-=]+$")]


class PushSubscriptionCreate(Input):
    """What the browser's `PushSubscription.toJSON()` gives, plus who it is."""

    endpoint: Annotated[str, StringConstraints(min_length=8, max_length=1000, pattern=HTTP_URL)]
    keys: Annotated[dict[str, PushKey], Field(json_schema_extra={"required": ["p256dh", "auth"]})]
    expirationTime: Any = None  # noqa: N815 - the browser's own field name; ignored
    user_agent: Annotated[str, StringConstraints(max_length=300, pattern=NO_CONTROL)] = ""

    @field_validator("keys")
    @classmethod
    def _both_keys(cls, keys: dict[str, str]) -> dict[str, str]:
        if not {"p256dh", "auth"} <= keys.keys():
            raise ValueError("keys must hold p256dh and auth")
        return keys


class PushSubscriptionPublic(Public):
    id: int
    endpoint: str
    user_agent: str
    created_at: datetime
    last_used_at: datetime | None


class SiteMutePublic(Public):
    site_id: int
    site_name: str
    created_at: datetime


class VapidPublicKey(Public):
    public_key: str
