"""MClimate Vicki: recorded keep-alives and command responses decoded into readings,
attributes and events, and every downlink heating sends encoded to its exact bytes.

Payloads marked "Appendix" are the examples of MClimate's "Appendix (examples)" page of the
Vicki communication protocol (docs.mclimate.eu); "81 example" is the keep-alive
811BAF4BAB2A129030 (and, with responses before it, 56011203042643811BAF4BAB2A129030) of
public Vicki decoder test suites, checked here byte by byte against MClimate's Keep-alive
table (Table 3).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leitstand.devicetypes.codecs import CodecError, DecodedEvent, UplinkContext, codec_for, codec_named
from leitstand.devicetypes.codecs.mclimate_vicki import device_target
from leitstand.devicetypes.spec import spec_for
from leitstand.ingest.message import CommandRequest
from tests.helpers.codecs import command, decodes_or_refuses

AT = datetime(2026, 12, 3, 7, 30, tzinfo=UTC)
PORT_2 = UplinkContext(received_at=AT, port=2)
CODEC = codec_named("mclimate-vicki")
NEW_KEEP_ALIVE = "811BAF4BAB2A129030"  # 81 example


def _decode(hex_text: str, context: UplinkContext = PORT_2):  # type: ignore[no-untyped-def]
    return CODEC.decode_uplink(bytes.fromhex(hex_text.replace(" ", "")), context)


def _values(decoded) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {reading.key: reading.value for reading in decoded.readings}


def test_a_keep_alive_of_firmware_3_5_on_takes_the_new_temperature_formula() -> None:
    decoded = _decode(NEW_KEEP_ALIVE)
    # (0xAF - 28.33333) / 5.66666 = 25.88; 0x4B * 100 / 256 = 29.3; position 427 of range 554 -> 23 % open
    assert _values(decoded) == {"target_temperature": 27.0, "temperature": 25.88, "humidity": 29.3,
                                "valve_opening": 23.0, "battery_voltage": 2.9, "window_open": False,
                                "child_lock": False}
    assert all(reading.at == AT for reading in decoded.readings)
    assert decoded.attributes == {"attached": True}
    assert (decoded.events, decoded.warnings) == ((), ())


def test_versions_then_an_old_keep_alive_take_the_old_formula() -> None:
    decoded = _decode("042321 011D5A78FA2C01F080")  # Appendix, command example 1
    assert decoded.attributes == {"hardware": "2.3", "firmware": "2.1", "attached": False}
    # 0x5A * 165 / 256 - 40 = 18.01; position 250 of range 300 -> 17 % open; child lock (byte 8 bit 7)
    assert _values(decoded) == {"target_temperature": 29.0, "temperature": 18.01, "humidity": 46.9,
                                "valve_opening": 17.0, "battery_voltage": 3.5, "window_open": False,
                                "child_lock": True}


def test_several_responses_before_the_keep_alive_are_all_read() -> None:
    decoded = _decode("120B 150F1A 1801 011863530000008000")  # Appendix, command example 2
    assert decoded.attributes == {"report_interval_minutes": 11, "target_range_minimum": 15,
                                  "target_range_maximum": 26, "operational_mode": "automatic", "attached": False}
    assert _values(decoded)["target_temperature"] == 24.0
    assert "valve_opening" not in _values(decoded)  # motor range 0: not calibrated yet
    assert decoded.warnings == ("motor range 0 (not calibrated or not attached): valve opening not known",)


def test_a_recorded_uplink_of_responses_and_keep_alive_is_read_whole() -> None:
    decoded = _decode("5601 1203 042643 " + NEW_KEEP_ALIVE)  # 81 example: display units, period, versions
    assert decoded.attributes == {"report_interval_minutes": 3, "hardware": "2.6", "firmware": "4.3", "attached": True}
    assert _values(decoded)["temperature"] == 25.88
    assert decoded.warnings == ()


def test_a_change_at_the_device_is_an_event_with_its_new_target() -> None:
    decoded = _decode("2816 " + "8116AF4BAB2A129030")  # DH6: command 0x28 in an uplink
    assert decoded.events == (DecodedEvent("manual_change", {"celsius": 22}),)
    assert _values(decoded)["target_temperature"] == 22.0


def test_a_target_with_a_fraction_comes_from_its_0x52_response() -> None:
    decoded = _decode("5200C3 " + "8113AF4BAB2A129030")
    assert _values(decoded)["target_temperature"] == 19.5


@pytest.mark.parametrize(("byte_7", "byte_8", "events", "window_open"), [
    ("98", "30", ["window_open"], True),
    ("94", "30", ["motor_current_high"], False),
    ("92", "30", ["motor_current_low"], False),
    ("90", "70", ["calibration_failed"], False),
    ("90", "38", ["freeze_protection"], False),  # H02: the anti-freeze flag is an event
])
def test_each_flag_of_the_keep_alive_is_its_event(byte_7: str, byte_8: str, events: list[str], window_open: bool) -> None:
    decoded = _decode(f"811BAF4BAB2A12{byte_7}{byte_8}")
    assert [event.code for event in decoded.events] == events
    assert _values(decoded)["window_open"] is window_open


def test_a_broken_sensor_is_an_event_and_its_temperature_is_left_out() -> None:
    decoded = _decode("811BAF4BAB2A129130")
    assert decoded.events == (DecodedEvent("sensor_broken"),)
    assert "temperature" not in _values(decoded)
    assert decoded.warnings == ("temperature sensor broken: its reading left out",)


def test_an_unknown_command_does_not_lose_the_keep_alive_after_it() -> None:
    decoded = _decode("2816 99AABB " + NEW_KEEP_ALIVE)
    assert decoded.events == (DecodedEvent("manual_change", {"celsius": 22}),)
    assert _values(decoded)["temperature"] == 25.88
    assert decoded.warnings == ("command 99 at byte 2 is not known: bytes 2–4 skipped, the keep-alive after them read",)


def test_responses_without_a_keep_alive_are_read_and_an_unknown_tail_warned() -> None:
    decoded = _decode("1401 99AA")
    assert _values(decoded) == {"child_lock": True}
    assert decoded.warnings == ("command 99 at byte 2 is not known: the last 2 bytes skipped",)


def test_bytes_after_the_keep_alive_are_skipped_with_a_warning() -> None:
    assert _decode(NEW_KEEP_ALIVE + "beef").warnings == ("2 bytes after the keep-alive skipped",)


def test_port_0_is_mac_commands_not_a_payload() -> None:
    decoded = _decode(NEW_KEEP_ALIVE, UplinkContext(received_at=AT, port=0))
    assert (decoded.readings, decoded.warnings) == (
        (), ("fPort 0 carries MAC commands, not the device's payload: 9 bytes skipped",))


@pytest.mark.parametrize(("frame", "detail"), [
    ("", "an empty payload"),
    ("811BAF4BAB2A12", "a keep-alive has 9 bytes, this one 7"),  # wrong length
    ("120B 150F", "response 15 has 2 bytes of data, this one 1"),  # truncated
    ("99AABBCC", "nothing in these 4 bytes is a keep-alive or a known response"),  # garbage
])
def test_a_payload_it_cannot_read_is_refused_as_malformed(frame: str, detail: str) -> None:
    with pytest.raises(CodecError) as refused:
        _decode(frame)
    assert (refused.value.reason, refused.value.detail) == ("malformed", detail)


@given(payload=st.binary(max_size=40), port=st.sampled_from([None, 0, 1, 2]))
def test_no_payload_crashes_the_codec(payload: bytes, port: int | None) -> None:
    decodes_or_refuses(CODEC, payload, port)


def _command(name: str, **parameters: object) -> CommandRequest:
    return command(name, serial="70B3-VICKI", **parameters)


@pytest.mark.parametrize(("command", "frame"), [
    (_command("set_target_temperature", celsius=19.5, firmware="4.3"), "5100c3"),  # H52
    (_command("set_target_temperature", celsius=25.8, firmware="4.4"), "510102"),  # the vendor's 0x51 example
    (_command("set_target_temperature", celsius=19.5, firmware="4.2"), "0e14"),  # whole degrees, a half up
    (_command("set_target_temperature", celsius=22), "0e16"),  # no firmware known: what every firmware takes
    (_command("set_target_range", minimum=18, maximum=25), "081219"),  # H53
    (_command("set_target_range", minimum=15, maximum=26), "080f1a"),  # Appendix, example 2
    (_command("set_target_range", minimum=3, maximum=32), "08051e"),  # held to the device's 5–30
    (_command("set_child_lock", on=True), "0701"),
    (_command("set_child_lock", on=False), "0700"),
    (_command("set_mode", mode="automatic"), "0d01"),
    (_command("set_mode", mode="manual"), "0d00"),
    (_command("set_mode", mode="automatic_external"), "0d02"),
    (_command("set_report_interval", minutes=11), "020b"),  # Appendix, example 2
])
def test_each_downlink_encodes_to_its_bytes(command: CommandRequest, frame: str) -> None:
    assert CODEC.encode_downlink(command).hex() == frame


def test_the_caller_can_tell_what_a_target_becomes() -> None:
    assert device_target(19.5, "4.3") == 19.5
    assert device_target(19.5, "4.2") == 20.0
    assert device_target(19.4, None) == 19.0


@pytest.mark.parametrize(("command", "reason"), [
    (_command("restart"), "unknown_command"),
    (_command("set_target_temperature"), "bad_value"),
    (_command("set_target_temperature", celsius=31), "bad_value"),
    (_command("set_target_temperature", celsius=4, firmware="4.5"), "bad_value"),
    (_command("set_target_range", minimum=25, maximum=18), "bad_value"),
    (_command("set_mode", mode="eco"), "bad_value"),
    (_command("set_report_interval", minutes=300), "bad_value"),
])
def test_a_command_it_cannot_encode_is_refused_with_a_reason(command: CommandRequest, reason: str) -> None:
    with pytest.raises(CodecError) as refused:
        CODEC.encode_downlink(command)
    assert refused.value.reason == reason


def test_the_shipped_type_names_this_codec_and_declares_what_it_decodes() -> None:
    spec = spec_for("mclimate_vicki")
    assert codec_for(spec) is CODEC
    declared = spec.telemetry_by_key
    assert declared["battery_voltage"].unit == "V" and "battery" not in declared
    decoded = _decode("2816 5200C3 " + "811BAF4BAB2A129838")
    assert {reading.key for reading in decoded.readings} <= set(declared)
    for reading in decoded.readings:
        key = declared[reading.key]
        if key.minimum is not None:
            assert key.minimum <= reading.value <= key.maximum  # type: ignore[operator]
    assert {event.code for event in decoded.events} <= {error.code for error in spec.errors}
    assert {"sensor_broken", "motor_current_high", "motor_current_low", "calibration_failed"} <= {
        error.code for error in spec.errors}
