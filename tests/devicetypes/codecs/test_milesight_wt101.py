"""Milesight WT101: the vendor's recorded payloads decoded into readings in the type's units,
and every downlink heating sends encoded to its exact bytes.

Payloads marked "README" are the samples of Milesight-IoT/SensorDecoders,
WT_Series/WT101/README.md; the downlinks follow the layouts of WT101_Encoder.js there.
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
PORT_85 = UplinkContext(received_at=AT, port=85)
CODEC = codec_named("milesight-wt101")


def _decode(hex_text: str, context: UplinkContext = PORT_85):  # type: ignore[no-untyped-def]
    return CODEC.decode_uplink(bytes.fromhex(hex_text.replace(" ", "")), context)


def _values(decoded) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {reading.key: reading.value for reading in decoded.readings}


def test_the_periodic_report_gives_battery_temperatures_and_valve() -> None:
    decoded = _decode("017561 04672C01 03670A01 059264 09900000 0B900000")  # README
    assert _values(decoded) == {"battery": 97.0, "target_temperature": 30.0, "temperature": 26.6,
                                "valve_opening": 100.0}
    assert all(reading.at == AT for reading in decoded.readings)  # the network server's time, as given
    assert decoded.attributes == {"motor_stroke": 0, "motor_position": 0}
    assert (decoded.events, decoded.warnings) == ((), ())


@pytest.mark.parametrize(("frame", "readings", "attributes", "events"), [
    ("08E50009900802", {}, {"motor_calibration": "success", "motor_stroke": 520}, ()),  # README
    ("060000", {}, {"installed": True}, ()),  # README
    ("060001", {}, {"installed": False}, (DecodedEvent("uninstalled"),)),
    ("070001", {"window_open": True}, {}, (DecodedEvent("window_open"),)),  # README: H02
    ("070000", {"window_open": False}, {}, ()),
    ("08E501", {}, {"motor_calibration": "failed: out of range"},  # README
     (DecodedEvent("calibration_failed", {"reason": "out_of_range"}),)),
    ("0A0001", {}, {}, (DecodedEvent("freeze_protection"),)),  # README
    ("0367F6FF", {"temperature": -1.0}, {}, ()),  # a negative int16, little-endian
])
def test_each_channel_decodes_into_its_reading_attribute_or_event(
        frame: str, readings: dict[str, object], attributes: dict[str, object], events: tuple[DecodedEvent, ...]) -> None:
    decoded = _decode(frame)
    assert (_values(decoded), decoded.attributes, decoded.events) == (readings, attributes, events)


def test_device_information_and_setting_echoes_become_attributes() -> None:
    # Power-on burst: device status, firmware 1.3, hardware 1.0, serial number; then echoes
    # of child lock on, report interval 10 min, manual mode and the range 15–25 (F8: accepted).
    decoded = _decode("ff0bff ff0a0103 ff090100 ff166136c19146800000 ff2501 ff8e000a00 ffae01 f8350f1900")
    assert decoded.attributes == {"firmware": "1.3", "hardware": "1.0", "serial_number": "6136c19146800000",
                                  "report_interval_minutes": 10, "control_mode": "manual",
                                  "target_range_minimum": 15, "target_range_maximum": 25}
    assert _values(decoded) == {"child_lock": True}
    assert decoded.warnings == ()


def test_a_range_the_device_refused_is_a_warning_not_an_attribute() -> None:
    decoded = _decode("f8350f1901")
    assert decoded.attributes == {}
    assert decoded.warnings == ("the device refused the target range 15–25 (result 1)",)


def test_an_unknown_channel_keeps_what_came_before_it_and_warns() -> None:
    decoded = _decode("017561 7777 0102")
    assert _values(decoded) == {"battery": 97.0}
    assert decoded.warnings == ("channel 77 77 at byte 3 is not known: the last 4 bytes skipped",)


def test_an_unknown_port_is_a_warning_not_an_error() -> None:
    decoded = _decode("017561", UplinkContext(received_at=AT, port=10))
    assert (decoded.readings, decoded.warnings) == ((), ("fPort 10 is not one of this codec's, 3 bytes skipped",))


@pytest.mark.parametrize(("frame", "reason", "detail"), [
    ("", "malformed", "an empty payload"),
    ("0367 0A", "malformed", "channel 03 67 has 2 bytes of data, this one 1"),  # truncated
    ("017561 04", "malformed", "a lone byte 04 at byte 3: a channel needs an id and a type"),
    ("059265", "bad_value", "valve opening 101 % is more than 100 %"),
    ("0175C8", "bad_value", "battery 200 % is more than 100 %"),
])
def test_a_payload_it_cannot_read_is_refused_with_a_reason(frame: str, reason: str, detail: str) -> None:
    with pytest.raises(CodecError) as refused:
        _decode(frame)
    assert (refused.value.reason, refused.value.detail) == (reason, detail)


@given(payload=st.binary(max_size=32), port=st.sampled_from([None, 85, 1]))
def test_no_payload_crashes_the_codec(payload: bytes, port: int | None) -> None:
    decodes_or_refuses(CODEC, payload, port)


def _command(name: str, **parameters: object) -> CommandRequest:
    return command(name, serial="24E1-WT101", **parameters)


@pytest.mark.parametrize(("command", "frame"), [
    (_command("set_target_temperature", celsius=21), "ffb1150a00"),  # 21 °C, tolerance 1.0 (10 = 0x000a LE)
    (_command("set_target_temperature", celsius=19.5), "ffb1140a00"),  # H52: whole degrees, 19.5 -> 20
    (_command("set_target_temperature", celsius=19.4, tolerance=0.5), "ffb1130500"),
    (_command("set_target_range", minimum=18, maximum=25), "f9350f19"),  # H53: the device minimum stops at 15
    (_command("set_target_range", minimum=5, maximum=35), "f9350523"),
    (_command("set_child_lock", on=True), "ff2501"),
    (_command("set_child_lock", on=False), "ff2500"),
    (_command("set_mode", mode="auto"), "ffae00"),
    (_command("set_mode", mode="manual"), "ffae01"),
    (_command("set_report_interval", minutes=10), "ff8e000a00"),
    (_command("set_report_interval", minutes=1440), "ff8e00a005"),
])
def test_each_downlink_encodes_to_its_bytes(command: CommandRequest, frame: str) -> None:
    assert CODEC.encode_downlink(command).hex() == frame


@pytest.mark.parametrize(("command", "reason"), [
    (_command("restart"), "unknown_command"),
    (_command("set_target_temperature"), "bad_value"),
    (_command("set_target_temperature", celsius=40), "bad_value"),
    (_command("set_target_temperature", celsius=True), "bad_value"),
    (_command("set_child_lock", on="yes"), "bad_value"),
    (_command("set_mode", mode="eco"), "bad_value"),
    (_command("set_report_interval", minutes=0), "bad_value"),
    (_command("set_report_interval", minutes=2.5), "bad_value"),
])
def test_a_command_it_cannot_encode_is_refused_with_a_reason(command: CommandRequest, reason: str) -> None:
    with pytest.raises(CodecError) as refused:
        CODEC.encode_downlink(command)
    assert refused.value.reason == reason


def test_the_shipped_type_names_this_codec_and_declares_what_it_decodes() -> None:
    spec = spec_for("milesight_wt101")
    assert codec_for(spec) is CODEC
    declared = spec.telemetry_by_key
    assert {"temperature", "target_temperature", "valve_opening", "battery", "window_open", "child_lock"} <= set(declared)
    assert declared["battery"].unit == "%"
    assert {"uninstalled", "calibration_failed", "window_open", "freeze_protection"} <= {e.code for e in spec.errors}
    assert {command.key for command in spec.commands} == {
        "set_target_temperature", "set_target_range", "set_child_lock", "set_mode", "set_report_interval"}
    decoded = _decode("017561 04672C01 03670A01 059264 070001 ff2501")
    for reading in decoded.readings:
        key = declared[reading.key]
        if key.minimum is not None:
            assert key.minimum <= reading.value <= key.maximum  # type: ignore[operator]
