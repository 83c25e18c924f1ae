"""Alarm rules as data: conditions, the default rules each device type ships, and which
rules apply to a device.

A rule has a key, a severity and a condition. The default rules of a type live in
`defaults/<type_key>.toml` and apply to every device of the type. A tenant's `AlarmRule`
with the same key replaces the default for the devices it targets (or switches it off
with `enabled = false`); a tenant rule with a new key adds a rule. Among several tenant
rules with one key the most specific target wins: device, then the deepest site, then
the type; on a tie the rule of the tenant nearest the device.
"""

from __future__ import annotations

import enum
import threading
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from leitstand.access.rules import below_site, within_tenant
from leitstand.clock import clock
from leitstand.devicetypes.spec import DeviceTypeSpec, MetricKind, Severity, UnknownDeviceType, spec_for
from leitstand.json_numbers import Integer, Number

DEFAULTS_DIR = Path(__file__).parent / "defaults"
RULE_KEY_PATTERN = r"^[a-z][a-z0-9_.\-]{0,63}$"
TELEMETRY_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
MAX_SECONDS = 366 * 24 * 3600


class ConditionKind(enum.StrEnum):
    threshold = "threshold"
    offline = "offline"
    error_code = "error_code"
    battery_low = "battery_low"
    maintenance_due = "maintenance_due"
    no_data = "no_data"


def _kind_required(schema: dict[str, Any]) -> None:
    # The condition union is told apart by `kind`, so a body must name it, though Python code may leave it out.
    schema["required"] = ["kind", *(name for name in schema.get("required", []) if name != "kind")]


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_kind_required)


class Threshold(_Condition):
    """The value of `key` is above (>) or below (<) `value` for at least `duration_seconds`.
    It ends only once the value is back past value − hysteresis (for >) or value + hysteresis (for <),
    so a value hovering at the limit does not raise and clear over and over."""

    kind: Literal["threshold"] = "threshold"
    key: str = Field(pattern=TELEMETRY_KEY_PATTERN)
    operator: Literal[">", "<"]
    value: Number = Field(allow_inf_nan=False)
    duration_seconds: Integer = Field(default=0, ge=0, le=MAX_SECONDS)
    hysteresis: Number = Field(default=0, ge=0, allow_inf_nan=False)


class BatteryLow(_Condition):
    """A threshold preset: the type's battery level (`key`, in %) below `below`."""

    kind: Literal["battery_low"] = "battery_low"
    key: str = Field(default="battery", pattern=TELEMETRY_KEY_PATTERN)
    below: Number = Field(default=20, ge=0, le=100)
    hysteresis: Number = Field(default=5, ge=0, le=50)
    duration_seconds: Integer = Field(default=0, ge=0, le=MAX_SECONDS)

    def as_threshold(self) -> Threshold:
        return Threshold(key=self.key, operator="<", value=self.below, duration_seconds=self.duration_seconds,
                         hysteresis=self.hysteresis)


class Offline(_Condition):
    """The device has not reported for longer than `seconds`; ends when it reports again."""

    kind: Literal["offline"] = "offline"
    seconds: Integer = Field(ge=30, le=MAX_SECONDS)


class ErrorCodes(_Condition):
    """The device reports an error code: any code of its type's catalogue (`codes` empty) or
    one of `codes`. One alarm per code. It ends when the device reports the same code with
    {"active": false} in the event data (the device protocol's recovery message)."""

    kind: Literal["error_code"] = "error_code"
    codes: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=100)


class MaintenanceDue(_Condition):
    """Raised and cleared by the maintenance domain through `service.raise_alarm`; the rule
    only carries its severity and lets a tenant switch it off."""

    kind: Literal["maintenance_due"] = "maintenance_due"


class NoData(_Condition):
    """`key` has not been reported for longer than `seconds` (e.g. a dead sensor on a live device)."""

    kind: Literal["no_data"] = "no_data"
    key: str = Field(pattern=TELEMETRY_KEY_PATTERN)
    seconds: Integer = Field(ge=30, le=MAX_SECONDS)


Condition = Annotated[Threshold | BatteryLow | Offline | ErrorCodes | MaintenanceDue | NoData, Field(discriminator="kind")]
condition_adapter: TypeAdapter[Condition] = TypeAdapter(Condition)
TIME_BASED = (ConditionKind.offline, ConditionKind.no_data, ConditionKind.threshold, ConditionKind.battery_low)


class RuleConfigError(ValueError):
    """A rule that cannot work for its device type (unknown key, code, ...)."""


def check_condition(condition: Condition, spec: DeviceTypeSpec) -> None:
    """Refuse a condition that does not fit the device type."""
    if isinstance(condition, Threshold | BatteryLow):
        key = spec.telemetry_by_key.get(condition.key)
        if key is None:
            raise RuleConfigError(f"{spec.key} has no telemetry key {condition.key!r}")
        if key.kind not in (MetricKind.gauge, MetricKind.counter):
            raise RuleConfigError(f"{condition.key} is not a number; thresholds need a gauge or counter")
    elif isinstance(condition, NoData):
        if condition.key not in spec.telemetry_by_key:
            raise RuleConfigError(f"{spec.key} has no telemetry key {condition.key!r}")
    elif isinstance(condition, ErrorCodes):
        known = {error.code for error in spec.errors}
        unknown = sorted(set(condition.codes) - known)
        if unknown:
            raise RuleConfigError(f"{spec.key} has no error codes {', '.join(unknown)}")


class DefaultRule(BaseModel):
    """A rule a device type ships, as written in `defaults/<type_key>.toml`."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=RULE_KEY_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    name_de: str = Field(min_length=1, max_length=200)
    severity: Severity | None = None
    condition: Condition


class DefaultRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type_key: str
    rules: list[DefaultRule]


@dataclass(frozen=True)
class EffectiveRule:
    """A rule as evaluation sees it, whether shipped or a tenant's."""

    key: str
    name: str
    name_de: str
    severity: str | None
    condition: Condition
    enabled: bool = True
    tenant_rule_id: int | None = None

    @property
    def kind(self) -> str:
        return self.condition.kind

    @cached_property  # asked for every device of every batch; BatteryLow builds a new Threshold
    def threshold(self) -> Threshold | None:
        if isinstance(self.condition, Threshold):
            return self.condition
        if isinstance(self.condition, BatteryLow):
            return self.condition.as_threshold()
        return None


def load_defaults(type_key: str, directory: Path = DEFAULTS_DIR) -> list[DefaultRule]:
    path = directory / f"{type_key}.toml"
    if not path.exists():
        return []
    with path.open("rb") as handle:
        defaults = DefaultRules.model_validate(tomllib.load(handle))
    if defaults.type_key != type_key:
        raise RuleConfigError(f"{path.name} declares rules for {defaults.type_key}")
    return defaults.rules


@lru_cache
def default_rules(type_key: str) -> tuple[EffectiveRule, ...]:
    """The shipped rules of a type, checked against the type's declaration."""
    try:
        spec: DeviceTypeSpec | None = spec_for(type_key)
    except UnknownDeviceType:
        spec = None  # a tenant's own type ships no rules
    rules = load_defaults(type_key)
    keys = [rule.key for rule in rules]
    if len(keys) != len(set(keys)):
        raise RuleConfigError(f"default rules of {type_key} repeat a key")
    if spec is not None:
        for rule in rules:
            check_condition(rule.condition, spec)
    return tuple(
        EffectiveRule(key=rule.key, name=rule.name, name_de=rule.name_de,
                      severity=rule.severity.value if rule.severity else None, condition=rule.condition)
        for rule in rules
    )


# --- tenant rules, cached ---------------------------------------------------------------


@dataclass(frozen=True)
class TenantRule:
    rule: EffectiveRule
    type_key: str
    tenant_path: str
    target_kind: str
    site_path: str | None
    device_id: int | None

    def targets(self, device: DeviceContext) -> bool:
        if device.type_key != self.type_key or not within_tenant(device.tenant_path, self.tenant_path):
            return False
        if self.target_kind == "device":
            return device.id == self.device_id
        if self.target_kind == "site":
            return below_site(device.site_path, self.site_path)
        return True

    @property
    def precedence(self) -> tuple[int, int, int]:
        specificity = {"device": 3, "site": 2}.get(self.target_kind, 1)
        return (specificity, len(self.site_path or ""), len(self.tenant_path))


@dataclass(frozen=True)
class DeviceContext:
    """What rule selection needs to know about a device."""

    id: int
    type_key: str
    tenant_id: int
    tenant_path: str
    site_id: int | None
    site_path: str | None
    name: str = ""


class RuleBook:
    """Tenant rules by device type, loaded in one query and kept for `ttl`; the API calls
    `invalidate()` after a change, so this process sees it at once (others within the ttl)."""

    def __init__(self, ttl: timedelta = timedelta(seconds=30)) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._loaded_at: datetime | None = None
        self._by_type: dict[str, list[TenantRule]] = {}
        self._generation = 0
        self._loaded_generation = -1

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1

    def tenant_rules(self, db: Session, type_key: str) -> list[TenantRule]:
        now = clock.now()
        with self._lock:
            fresh = (self._loaded_at is not None and self._loaded_generation == self._generation
                     and now < self._loaded_at + self.ttl and now >= self._loaded_at)
            generation = self._generation
        if not fresh:
            by_type = _load_tenant_rules(db)
            with self._lock:
                self._by_type, self._loaded_at, self._loaded_generation = by_type, now, generation
        return self._by_type.get(type_key, [])

    def rules_for(self, db: Session, device: DeviceContext) -> list[EffectiveRule]:
        """The rules that apply to a device: defaults, replaced or extended by tenant rules."""
        chosen: dict[str, EffectiveRule] = {rule.key: rule for rule in default_rules(device.type_key)}
        best: dict[str, TenantRule] = {}
        for tenant_rule in self.tenant_rules(db, device.type_key):
            if tenant_rule.targets(device):
                current = best.get(tenant_rule.rule.key)
                if current is None or tenant_rule.precedence > current.precedence:
                    best[tenant_rule.rule.key] = tenant_rule
        for key, tenant_rule in best.items():
            chosen[key] = tenant_rule.rule
        return [rule for rule in chosen.values() if rule.enabled]


def _load_tenant_rules(db: Session) -> dict[str, list[TenantRule]]:
    from leitstand.alarms.models import AlarmRule
    from leitstand.sites.models import Site
    from leitstand.tenancy.models import Tenant

    site = aliased(Site)
    rows = db.execute(
        select(AlarmRule, Tenant.path, site.path)
        .join(Tenant, Tenant.id == AlarmRule.tenant_id)
        .outerjoin(site, site.id == AlarmRule.site_id)
    ).all()
    by_type: dict[str, list[TenantRule]] = {}
    for row, tenant_path, site_path in rows:
        try:
            condition = condition_adapter.validate_python(row.condition)
        except ValueError:
            continue  # refused at the API; a row edited by hand must not stop evaluation
        rule = EffectiveRule(key=row.key, name=row.name, name_de=row.name, severity=row.severity,
                             condition=condition, enabled=row.enabled, tenant_rule_id=row.id)
        by_type.setdefault(row.type_key, []).append(TenantRule(
            rule=rule, type_key=row.type_key, tenant_path=tenant_path, target_kind=row.target_kind,
            site_path=site_path, device_id=row.device_id,
        ))
    return by_type


rule_book = RuleBook()
