"""Every device type ships default alarm rules, valid against its declaration."""

from __future__ import annotations

import pytest

from leitstand.alarms.rules import (
    ConditionKind,
    DeviceContext,
    RuleBook,
    RuleConfigError,
    check_condition,
    condition_adapter,
    default_rules,
    load_defaults,
)
from leitstand.devicetypes.spec import shipped_types

SHIPPED = ["barrier", "bollard", "thermostat", "gateway", "generic_sensor", "milesight_wt101", "milesight_ws301",
           "mclimate_vicki", "micropelt_mlr003"]


@pytest.mark.parametrize("type_key", SHIPPED)
def test_each_type_ships_offline_and_error_rules(type_key):
    rules = default_rules(type_key)
    kinds = {rule.kind for rule in rules}
    assert {ConditionKind.offline, ConditionKind.error_code} <= kinds
    assert all(rule.key.startswith(f"{type_key}.") for rule in rules)
    assert all(rule.severity or rule.kind == ConditionKind.error_code for rule in rules)


def test_battery_types_ship_battery_low():
    for type_key, spec in shipped_types().items():
        if "battery" in spec.telemetry_by_key:
            assert ConditionKind.battery_low in {rule.kind for rule in default_rules(type_key)}, type_key


def test_a_defaults_file_with_a_bad_condition_is_refused(tmp_path):
    (tmp_path / "barrier.toml").write_text(
        'type_key = "barrier"\n[[rules]]\nkey = "barrier.x"\nname = "X"\nname_de = "X"\nseverity = "minor"\n'
        'condition = { kind = "threshold", key = "motor_temperature", operator = ">=", value = 1 }\n')
    with pytest.raises(ValueError):
        load_defaults("barrier", tmp_path)


@pytest.mark.parametrize("condition, message", [
    ({"kind": "threshold", "key": "nope", "operator": ">", "value": 1}, "no telemetry key"),
    ({"kind": "threshold", "key": "position", "operator": ">", "value": 1}, "not a number"),
    ({"kind": "error_code", "codes": ["E99"]}, "no error codes E99"),
    ({"kind": "battery_low"}, "no telemetry key 'battery'"),
    ({"kind": "no_data", "key": "nope", "seconds": 60}, "no telemetry key"),
])
def test_conditions_that_do_not_fit_the_type_are_refused(condition, message):
    with pytest.raises(RuleConfigError, match=message):
        check_condition(condition_adapter.validate_python(condition), shipped_types()["barrier"])


def test_defaults_apply_to_every_device_of_the_type_without_tenant_rules():
    book = RuleBook()
    book._by_type, book._loaded_generation = {}, 0
    from leitstand.clock import clock

    book._loaded_at = clock.now()
    device = DeviceContext(id=1, type_key="bollard", tenant_id=1, tenant_path="/a/", site_id=None, site_path=None)
    assert [rule.key for rule in book.rules_for(None, device)] == [rule.key for rule in default_rules("bollard")]  # type: ignore[arg-type]
