"""Micropelt MLR003: status frames and the version report decoded, the 6-byte setting
frame encoded with every setting it repeats.

Micropelt's pages give field tables but no sample hex, so the payloads here are laid out
byte by byte from the "FPORT 0x01 UPLINK" table of its wiki and user manual (section 8.1),
each byte's meaning beside it; the expected values are the table's resolutions applied.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leitstand.devicetypes.codecs import CodecError, DecodedEvent, UplinkContext, codec_for, codec_named
from leitstand.devicetypes.spec import spec_for
from leitstand.ingest.message import CommandRequest
from tests.helpers.codecs import command, decodes_or_refuses

AT = datetime(2026, 12, 3, 7, 30, tzinfo=UTC)
STATUS = UplinkContext(received_at=AT, port=1)
CODEC = codec_named("micropelt-mlr003")
# valve 42 % | flow raw 45.0 | flow 46.0 °C | ambient raw 20.5 | ambient 20.0 °C | harvesting |
# storage 3.2 V | 150 µA used | 250 µA made | calibration OK, mode room setpoint | setpoint 21.0 °C
STATUS_11 = "2a 5a 5c 52 50 20 a0 0f 19 12 2a"


def _decode(hex_text: str, context: UplinkContext = STATUS):  # type: ignore[no-untyped-def]
    return CODEC.decode_uplink(bytes.fromhex(hex_text.replace(" ", "")), context)


def _values(decoded) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {reading.key: reading.value for reading in decoded.readings}


def test_a_status_frame_gives_valve_flow_and_room_temperature_storage_and_setpoint() -> None:
    decoded = _decode(STATUS_11)
    assert _values(decoded) == {"valve_opening": 42.0, "flow_temperature": 46.0, "temperature": 20.0,
                                "storage_voltage": 3.2, "target_temperature": 21.0}
    assert all(reading.at == AT for reading in decoded.readings)
    assert decoded.attributes == {"harvesting": True, "weak_radio_signal": False, "switched_off": False,
                                  "storage_fully_charged": False, "calibration_ok": True, "user_mode": "room_setpoint"}
    assert (decoded.events, decoded.warnings) == ((), ())


def test_a_12_byte_frame_adds_the_temperature_the_control_uses() -> None:
    decoded = _decode(STATUS_11 + "52")  # 20.5 °C
    assert decoded.attributes["control_temperature"] == 20.5
    assert decoded.warnings == ()


def test_a_10_byte_frame_has_no_setpoint_and_valve_mode_none_either() -> None:
    assert "target_temperature" not in _values(_decode("2a 5a 5c 52 50 20 a0 0f 19 12"))
    # mode 0, valve position: byte 10 is a valve %, not a setpoint
    assert "target_temperature" not in _values(_decode("2a 5a 5c 52 50 20 a0 0f 19 10 32"))


@pytest.mark.parametrize(("flags", "state", "events"), [
    ("40", "12", ["storage_low"]),  # H42: the MLR003's battery alarm
    ("10", "12", ["ambient_sensor_failure"]),
    ("08", "12", ["flow_sensor_failure"]),
    ("04", "12", ["radio_communication_error"]),
    ("01", "12", ["motor_error"]),
    ("80", "12", ["temperature_drop"]),  # revision 2.x only; 0 on 1.x
    ("00", "32", ["zero_error"]),
    ("00", "16", ["freeze_protection"]),  # user mode 6
    ("5d", "12", ["storage_low", "ambient_sensor_failure", "flow_sensor_failure", "radio_communication_error",
                  "motor_error"]),
])
def test_each_fault_flag_is_its_event(flags: str, state: str, events: list[str]) -> None:
    decoded = _decode(f"2a 5a 5c 52 50 {flags} a0 0f 19 {state} 2a")
    assert [event.code for event in decoded.events] == events


def test_the_other_flags_are_attributes() -> None:
    decoded = _decode("2a 5a 5c 52 50 02 a0 0f 19 c7 2a")  # weak signal; off, fully charged, forced heating
    assert decoded.attributes == {"harvesting": False, "weak_radio_signal": True, "switched_off": True,
                                  "storage_fully_charged": True, "calibration_ok": False, "user_mode": "forced_heating"}


def test_the_version_report_gives_revision_hardware_and_firmware() -> None:
    decoded = _decode("12 13 18 02 0b 03", UplinkContext(received_at=AT, port=2))
    assert decoded.attributes == {"revision": "2.1", "hardware": "3.1", "firmware": "2024.02.11.3"}


def test_setting_answers_and_unknown_ports_are_warnings() -> None:
    assert _decode("00", UplinkContext(received_at=AT, port=3)).warnings == (
        "fPort 3 answers a setting not read here, 1 bytes skipped",)
    assert _decode(STATUS_11, UplinkContext(received_at=AT, port=99)).warnings == (
        "fPort 99 is not one of this codec's, 11 bytes skipped",)


def test_a_transport_without_ports_sends_status_frames() -> None:
    assert _values(_decode(STATUS_11, UplinkContext(received_at=AT)))["valve_opening"] == 42.0


def test_bytes_past_the_longest_frame_are_skipped_with_a_warning() -> None:
    assert _decode(STATUS_11 + "52 beef").warnings == ("2 bytes after the status frame skipped",)


@pytest.mark.parametrize(("frame", "port", "reason", "detail"), [
    ("", 1, "malformed", "a status frame has 10 to 12 bytes, this one 0"),
    ("2a 5a 5c 52 50", 1, "malformed", "a status frame has 10 to 12 bytes, this one 5"),  # truncated
    ("65 5a 5c 52 50 20 a0 0f 19 12 2a", 1, "bad_value", "valve position 101 % is more than 100 %"),
    ("12 13 18 02 0b", 2, "malformed", "a version report has 6 bytes, this one 5"),  # wrong length
])
def test_a_payload_it_cannot_read_is_refused_with_a_reason(frame: str, port: int, reason: str, detail: str) -> None:
    with pytest.raises(CodecError) as refused:
        _decode(frame, UplinkContext(received_at=AT, port=port))
    assert (refused.value.reason, refused.value.detail) == (reason, detail)


@given(payload=st.binary(max_size=16), port=st.sampled_from([None, 1, 2, 3, 20]))
def test_no_payload_crashes_the_codec(payload: bytes, port: int | None) -> None:
    decodes_or_refuses(CODEC, payload, port)


def _command(name: str, **parameters: object) -> CommandRequest:
    return command(name, serial="MLR003", **parameters)


@pytest.mark.parametrize(("command", "frame"), [
    # 21.0 °C = 42 half degrees | no room temperature | safety 20 °C | 10 min, room setpoint, safety on temperature
    (_command("set_target_temperature", celsius=21), "2a00280800" + "00"),
    (_command("set_target_temperature", celsius=19.5), "270028080000"),  # half degrees go as they are
    (_command("set_target_temperature", celsius=19.3), "270028080000"),  # to the nearest half
    (_command("set_target_temperature", celsius=19.25), "270028080000"),  # a quarter rounded up
    (_command("set_target_temperature", celsius=21, minutes=60, room_temperature=20.25, safety_celsius=16,
              reference_run=True), "2a5120280080"),  # 60 min = 0b010; 20.25 °C × 4 = 81
    (_command("set_report_interval", minutes=480, celsius=21), "2a0028480000"),  # the target repeats
    (_command("set_report_interval", minutes=5, celsius=18.5), "250028180000"),
])
def test_each_downlink_is_the_full_setting_frame(command: CommandRequest, frame: str) -> None:
    encoded = CODEC.encode_downlink(command)
    assert len(encoded) == 6
    assert encoded.hex() == frame


@pytest.mark.parametrize(("command", "reason"), [
    (_command("set_child_lock", on=True), "unknown_command"),  # no local control: nothing to lock
    (_command("set_target_temperature"), "bad_value"),
    (_command("set_target_temperature", celsius=41), "bad_value"),
    (_command("set_target_temperature", celsius=21, minutes=15), "bad_value"),
    (_command("set_target_temperature", celsius=21, reference_run="yes"), "bad_value"),
    (_command("set_report_interval", celsius=21), "bad_value"),
    (_command("set_report_interval", minutes=60), "bad_value"),  # the frame needs the current target
])
def test_a_command_it_cannot_encode_is_refused_with_a_reason(command: CommandRequest, reason: str) -> None:
    with pytest.raises(CodecError) as refused:
        CODEC.encode_downlink(command)
    assert refused.value.reason == reason


def test_the_shipped_type_names_this_codec_and_declares_what_it_decodes() -> None:
    spec = spec_for("micropelt_mlr003")
    assert codec_for(spec) is CODEC
    declared = spec.telemetry_by_key
    assert "battery" not in declared and declared["storage_voltage"].unit == "V"
    decoded = _decode("2a 5a 5c 52 50 5d a0 0f 19 36 2a")
    assert {reading.key for reading in decoded.readings} <= set(declared)
    for reading in decoded.readings:
        key = declared[reading.key]
        assert key.minimum <= reading.value <= key.maximum  # type: ignore[operator]
    assert {event.code for event in decoded.events} <= {error.code for error in spec.errors}
    assert decoded.events[-1] == DecodedEvent("freeze_protection")
