"""The declaration of a device type: what it measures, what it can be told, how it fails.

Types are data (TOML files in `catalog/`), validated by these models. Adding a
device model means adding one file; nothing else in the platform changes.
"""

from __future__ import annotations

import enum
import tomllib
from functools import cached_property, lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leitstand.access.roles import Permission

CATALOG_DIR = Path(__file__).parent / "catalog"


class Text(BaseModel):
    """A label in both portal languages."""

    model_config = ConfigDict(extra="forbid")
    en: str
    de: str


class MetricKind(enum.StrEnum):
    gauge = "gauge"  # a level at a moment: temperature, position
    counter = "counter"  # only rises: cycles, energy
    state = "state"  # one of a set of values: open/closed
    flag = "flag"  # true/false


class Severity(enum.StrEnum):
    critical = "critical"
    major = "major"
    minor = "minor"
    warning = "warning"


class TelemetryKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: Text
    kind: MetricKind
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    states: list[str] = Field(default_factory=list)


class CommandParameter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: Text
    type: str = Field(pattern=r"^(number|integer|string|boolean)$")
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    required: bool = True
    step: float | None = Field(default=None, gt=0, description="What the form's − and + buttons add or take away.")
    # The form starts at this metric's latest value: a setpoint field shows the current target.
    prefill_from: str | None = None


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: Text
    confirm: bool = False
    # What a grant on the device must hold besides `device.command`: operating (open, close)
    # needs nothing more, a restart of the controller is maintenance.
    permission: Permission = Permission.device_command
    parameters: list[CommandParameter] = Field(default_factory=list)


class ErrorCode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    severity: Severity
    title: Text
    steps: dict[str, list[str]] = Field(description="Troubleshooting steps per language (en, de).")


class Headline(BaseModel):
    """The status tile that leads the device page: a measurement, beside the target it is steered to."""

    model_config = ConfigDict(extra="forbid")
    value: str
    target: str | None = None


class Overlay(BaseModel):
    """Metrics drawn together in one chart (room temperature against its target)."""

    model_config = ConfigDict(extra="forbid")
    label: Text
    keys: list[str] = Field(min_length=2, max_length=4)


class DeviceTypeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name: Text
    category: str
    manufacturer: str = ""
    heartbeat_seconds: int = Field(gt=0, description="How often a healthy device reports at least once.")
    telemetry: list[TelemetryKey] = Field(default_factory=list)
    commands: list[Command] = Field(default_factory=list)
    errors: list[ErrorCode] = Field(default_factory=list)
    headline: Headline | None = None
    overlays: list[Overlay] = Field(default_factory=list)
    # A gateway: devices that report through it name its serial number in their `gateway`
    # attribute, and their uplinks count as its own signs of life.
    carries_uplinks: bool = False

    @model_validator(mode="after")
    def _metrics_declared(self) -> DeviceTypeSpec:
        """Every metric a headline, overlay or prefilled parameter names must be one of the type's own."""
        declared = {key.key for key in self.telemetry}
        named = [*((self.headline.value, self.headline.target) if self.headline else ()),
                 *(key for overlay in self.overlays for key in overlay.keys),
                 *(parameter.prefill_from for command in self.commands for parameter in command.parameters)]
        unknown = sorted({key for key in named if key is not None and key not in declared})
        if unknown:
            raise ValueError(f"unknown telemetry keys: {', '.join(unknown)}")
        return self

    @cached_property
    def telemetry_by_key(self) -> dict[str, TelemetryKey]:
        """Looked up for every reading ingest checks; built once per loaded type."""
        return {key.key: key for key in self.telemetry}


def load_spec(path: Path) -> DeviceTypeSpec:
    with path.open("rb") as handle:
        return DeviceTypeSpec.model_validate(tomllib.load(handle))


@lru_cache
def shipped_types() -> dict[str, DeviceTypeSpec]:
    specs = (load_spec(path) for path in sorted(CATALOG_DIR.glob("*.toml")))
    return {spec.key: spec for spec in specs}
