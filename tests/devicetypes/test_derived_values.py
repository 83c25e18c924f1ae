"""Derived values declared in a type: a battery reported in volts, shown in percent."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from leitstand.devicetypes.spec import DeviceTypeSpec, TelemetryKey


@pytest.mark.parametrize(("volts", "percent"), [
    (2.2, 0.0), (2.6, 50.0), (2.85, 81.25), (3.0, 100.0),
    (1.9, 0.0),  # an empty battery reads below the curve's end: 0 %, never negative
    (3.3, 100.0),  # a fresh one above it: 100 %, never more
])
def test_the_battery_percent_follows_the_declared_curve_clamped(
        binary_thermostat: DeviceTypeSpec, volts: float, percent: float) -> None:
    battery = binary_thermostat.telemetry_by_key["battery_voltage"]
    assert battery.unit == "V"  # stored as reported
    assert battery.derive is not None and battery.derive.unit == "%"
    assert battery.derived(volts) == pytest.approx(percent)


def test_a_curve_of_several_points_is_followed_piece_by_piece() -> None:
    key = TelemetryKey.model_validate({"key": "battery_voltage", "label": {"en": "B", "de": "B"}, "kind": "gauge",
                                       "unit": "V", "derive": {"unit": "%", "points": [[3.0, 0], [3.6, 80], [4.2, 100]]}})
    assert [key.derived(volts) for volts in (3.3, 3.6, 3.9)] == pytest.approx([40.0, 80.0, 90.0])


@pytest.mark.parametrize("value", [None, "low", True, float("nan")])
def test_nothing_is_derived_from_what_is_no_number(binary_thermostat: DeviceTypeSpec, value: object) -> None:
    assert binary_thermostat.telemetry_by_key["battery_voltage"].derived(value) is None


def test_a_key_without_a_declaration_derives_nothing(binary_thermostat: DeviceTypeSpec) -> None:
    assert binary_thermostat.telemetry_by_key["temperature"].derived(21.5) is None


@pytest.mark.parametrize(("kind", "points", "error"), [
    ("gauge", [[3.0, 100], [2.2, 0]], "must rise"),
    ("gauge", [[2.2, 0], [2.2, 100]], "must rise"),
    ("gauge", [[2.2, 0]], "at least 2"),
    ("gauge", [[2.2, 0], ["nan", 100]], "finite"),
    ("flag", [[0, 0], [1, 100]], "only a gauge or a counter"),
])
def test_a_derivation_that_cannot_work_is_refused(kind: str, points: list[list[object]], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        TelemetryKey.model_validate({"key": "battery_voltage", "label": {"en": "B", "de": "B"}, "kind": kind,
                                     "derive": {"unit": "%", "points": points}})
