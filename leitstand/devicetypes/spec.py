"""The declaration of a device type: what it measures, what it can be told, how it fails,
and which codec reads its payloads.

Types are data (TOML files in `catalog/`), validated by these models. Adding a device
model means adding one file, and a codec module in `codecs/` if it speaks its own bytes;
nothing else in the platform changes.

`spec_for(key)` is the one lookup of a type's declaration, for shipped types and a
tenant's own alike; `type_keys()` lists the catalogue's.
"""

from __future__ import annotations

import enum
import math
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from leitstand.devicetypes.codecs.registry import CODEC_KEY_PATTERN, DEFAULT_CODEC_KEY, UnknownCodec, codec_named
from leitstand.devicetypes.models import DeviceType
from leitstand.permissions import Permission

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CATALOG_DIR = Path(__file__).parent / "catalog"


class CatalogError(ValueError):
    """A catalogue file that is not a valid declaration; the message names the file."""


class UnknownDeviceType(LookupError):
    """No declaration for a type key: neither in the catalogue nor a tenant's own."""


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


class Derivation(BaseModel):
    """A value shown beside a reading and computed from it: a battery's percent from its volts.

    The reading is stored as the device reports it, in the key's unit; this is for display
    and rules. `points` are (reading, derived value) pairs in rising order of the reading:
    between two points the value lies on the line through them, and past the first or the
    last it stays at that point's value (a battery above its full voltage is at 100 %).

        derive = { unit = "%", points = [[2.2, 0], [3.0, 100]] }
    """

    model_config = ConfigDict(extra="forbid")
    unit: str
    points: list[tuple[float, float]] = Field(min_length=2)

    @field_validator("points")
    @classmethod
    def _rising(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if not all(math.isfinite(number) for point in points for number in point):
            raise ValueError("derive points must be finite numbers")
        if any(later[0] <= earlier[0] for earlier, later in zip(points, points[1:], strict=False)):
            raise ValueError("derive points must rise in their first value (the reading)")
        return points

    def of(self, reading: float) -> float:
        """The derived value of a reading, clamped to the first and the last point."""
        first, last = self.points[0], self.points[-1]
        if reading <= first[0]:
            return first[1]
        if reading >= last[0]:
            return last[1]
        for (x0, y0), (x1, y1) in zip(self.points, self.points[1:], strict=False):
            if reading <= x1:
                return y0 + (reading - x0) * (y1 - y0) / (x1 - x0)
        return last[1]  # not reached: the reading lies below the last point


class TelemetryKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: Text
    kind: MetricKind
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    states: list[str] = Field(default_factory=list)
    derive: Derivation | None = None

    @model_validator(mode="after")
    def _derived_from_numbers(self) -> TelemetryKey:
        if self.derive is not None and self.kind not in (MetricKind.gauge, MetricKind.counter):
            raise ValueError(f"{self.key}: only a gauge or a counter can derive a value")
        return self

    def derived(self, value: Any) -> float | None:
        """The declared derived value of a reading of this key (None: nothing declared, or no number)."""
        if self.derive is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return self.derive.of(float(value)) if math.isfinite(value) else None


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


class ConfirmedBy(BaseModel):
    """A command the device does not answer itself (a LoRaWAN downlink): it is confirmed when
    the device next reports `telemetry` within `tolerance` of the command's `parameter`."""

    model_config = ConfigDict(extra="forbid")
    telemetry: str
    parameter: str
    tolerance: float = Field(0.0, ge=0, description="A whole-degree device reports 20 for a target of 19.5.")


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: Text
    confirm: bool = False
    confirmed_by: ConfirmedBy | None = None
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


# What a radio network reports of each uplink besides its payload, declared once for every
# type of that radio (`radio = "lorawan"` in a TOML) rather than in each type's file.
RADIO_TELEMETRY: dict[str, list[dict[str, Any]]] = {
    "lorawan": [
        {"key": "rssi", "label": {"en": "Signal strength", "de": "Signalstärke"}, "kind": "gauge", "unit": "dBm",
         "minimum": -150, "maximum": 0},
        {"key": "snr", "label": {"en": "Signal-to-noise ratio", "de": "Signal-Rausch-Abstand"}, "kind": "gauge",
         "unit": "dB", "minimum": -30, "maximum": 30},
        {"key": "spreading_factor", "label": {"en": "Spreading factor", "de": "Spreizfaktor"}, "kind": "gauge",
         "minimum": 5, "maximum": 12},
    ],
}


class DeviceTypeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The radio its uplinks come through, whose link telemetry it then has (RADIO_TELEMETRY).
    radio: str | None = Field(default=None, pattern=r"^(lorawan)$")
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
    # The codec of its payloads (`codecs/`); the native JSON protocol when the file names none.
    codec: str = Field(default=DEFAULT_CODEC_KEY, pattern=CODEC_KEY_PATTERN)

    @field_validator("codec")
    @classmethod
    def _codec_registered(cls, key: str) -> str:
        try:
            codec_named(key)
        except UnknownCodec as error:
            raise ValueError(str(error)) from None
        return key

    @model_validator(mode="before")
    @classmethod
    def _radio_telemetry(cls, data: Any) -> Any:
        """The radio's link keys join the type's own, unless the file declares one itself."""
        if not isinstance(data, dict) or data.get("radio") not in RADIO_TELEMETRY:
            return data
        own = [entry.get("key") for entry in data.get("telemetry", []) if isinstance(entry, dict)]
        added = [key for key in RADIO_TELEMETRY[data["radio"]] if key["key"] not in own]
        return {**data, "telemetry": [*data.get("telemetry", []), *added]}

    @model_validator(mode="after")
    def _metrics_declared(self) -> DeviceTypeSpec:
        """Every metric a headline, overlay or prefilled parameter names must be one of the type's own."""
        declared = {key.key for key in self.telemetry}
        named = [*((self.headline.value, self.headline.target) if self.headline else ()),
                 *(key for overlay in self.overlays for key in overlay.keys),
                 *(parameter.prefill_from for command in self.commands for parameter in command.parameters),
                 *(command.confirmed_by.telemetry for command in self.commands if command.confirmed_by)]
        unknown = sorted({key for key in named if key is not None and key not in declared})
        if unknown:
            raise ValueError(f"unknown telemetry keys: {', '.join(unknown)}")
        for command in self.commands:
            if command.confirmed_by and command.confirmed_by.parameter not in {p.name for p in command.parameters}:
                raise ValueError(f"{command.key} is confirmed by its parameter {command.confirmed_by.parameter!r},"
                                 " which it does not have")
        return self

    @cached_property
    def confirmed_by_telemetry(self) -> dict[str, ConfirmedBy]:
        """The commands its reports confirm, by command key (checked for each ingested batch)."""
        return {command.key: command.confirmed_by for command in self.commands if command.confirmed_by}

    @cached_property
    def telemetry_by_key(self) -> dict[str, TelemetryKey]:
        """Looked up for every reading ingest checks; built once per loaded type."""
        return {key.key: key for key in self.telemetry}


def load_spec(path: Path) -> DeviceTypeSpec:
    """One catalogue file's declaration; `CatalogError` naming the file if it is not valid."""
    try:
        with path.open("rb") as handle:
            return DeviceTypeSpec.model_validate(tomllib.load(handle))
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        raise CatalogError(f"{path}: {error}") from error


# The catalogue directories: the shipped one, and any a test adds (`extra_catalog`).
_catalog_dirs: tuple[Path, ...] = (CATALOG_DIR,)


@lru_cache
def _load_catalog(directories: tuple[Path, ...]) -> dict[str, DeviceTypeSpec]:
    found: dict[str, tuple[Path, DeviceTypeSpec]] = {}
    for directory in directories:
        for path in sorted(directory.glob("*.toml")):
            spec = load_spec(path)
            if spec.key in found:
                raise CatalogError(f"{path}: type key {spec.key!r} is declared in {found[spec.key][0]} already")
            found[spec.key] = (path, spec)
    return {key: spec for key, (_, spec) in found.items()}


def shipped_types() -> dict[str, DeviceTypeSpec]:
    """The catalogue, by key, loaded once. Outside `devicetypes/`, use `spec_for` and `type_keys`."""
    return _load_catalog(_catalog_dirs)


@contextmanager
def extra_catalog(directory: Path) -> Iterator[None]:
    """Declare the types in `directory` too while the block runs: a test's own device types."""
    global _catalog_dirs
    before = _catalog_dirs
    _catalog_dirs = (*before, directory)
    try:
        shipped_types()  # an invalid file fails here, at the start of the block
        yield
    finally:
        _catalog_dirs = before


def type_keys() -> list[str]:
    """The keys of every type in the catalogue, sorted (not the tenants' own types)."""
    return sorted(shipped_types())


# A tenant's own type, validated once per version of its stored declaration.
_stored: dict[str, tuple[dict[str, Any], DeviceTypeSpec]] = {}


def spec_for(type_key: str, db: Session | None = None) -> DeviceTypeSpec:
    """The declaration of a type: the catalogue's, or, given a session, a tenant's own type
    as stored in its `DeviceType` row (found only if the session sees that row).

    The one lookup; cached. Raises `UnknownDeviceType`.
    """
    spec = shipped_types().get(type_key)
    if spec is not None:
        return spec
    row = db.get(DeviceType, type_key) if db is not None else None
    if row is None:
        raise UnknownDeviceType(type_key)
    cached = _stored.get(type_key)
    if cached is not None and cached[0] == row.spec:
        return cached[1]
    spec = DeviceTypeSpec.model_validate(row.spec)
    _stored[type_key] = (dict(row.spec), spec)
    return spec
