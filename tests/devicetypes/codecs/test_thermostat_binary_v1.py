"""The binary thermostat codec: recorded payloads to readings in the type's units, and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leitstand.devicetypes.codecs import CodecError, UplinkContext, codec_for
from leitstand.devicetypes.spec import DeviceTypeSpec
from leitstand.ingest.message import CommandRequest, MessageKind, Reading
from tests.helpers.codecs import command

AT = datetime(2026, 12, 3, 7, 30, tzinfo=UTC)
STATUS = UplinkContext(received_at=AT, port=1)

# Status frames (fPort 1): hex -> (readings, event codes). Byte by byte as the codec's docstring lays them out.
STATUS_FRAMES = [
    # v1 | 21.5 °C | target 21.0 | valve 42 % | 2850 mV | window shut
    ("01 00d7 2a 2a 0b22 00", {"temperature": 21.5, "target_temperature": 21.0, "valve_opening": 42.0,
                               "battery_voltage": 2.85, "window_open": False}, []),
    # v1 | -3.2 °C | target 5.0 | valve 100 % | 2210 mV | window open, battery low
    ("01 ffe0 0a 64 08a2 05", {"temperature": -3.2, "target_temperature": 5.0, "valve_opening": 100.0,
                               "battery_voltage": 2.21, "window_open": True}, ["T01"]),
    # v1 | 19.0 °C | target 30.0 | valve not known yet | 3000 mV | motor blocked
    ("01 00be 3c ff 0bb8 02", {"temperature": 19.0, "target_temperature": 30.0,
                               "battery_voltage": 3.0, "window_open": False}, ["T02"]),
]


def _payload(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.replace(" ", ""))


@pytest.mark.parametrize(("frame", "values", "codes"), STATUS_FRAMES)
def test_a_status_frame_decodes_into_readings_in_the_units_the_type_declares(
        binary_thermostat: DeviceTypeSpec, frame: str, values: dict[str, object], codes: list[str]) -> None:
    decoded = codec_for(binary_thermostat).decode_uplink(_payload(frame), STATUS)

    assert {reading.key: reading.value for reading in decoded.readings} == pytest.approx(values)
    assert all(reading.at == AT for reading in decoded.readings)
    assert [event.code for event in decoded.events] == codes
    declared = binary_thermostat.telemetry_by_key
    for reading in decoded.readings:
        key = declared[reading.key]  # every reading is one of the type's keys ...
        if key.minimum is not None and not isinstance(reading.value, bool):
            assert key.minimum <= reading.value <= key.maximum  # ... in its declared unit and range
    assert declared["battery_voltage"].unit == "V"
    assert {event.code for event in decoded.events} <= {error.code for error in binary_thermostat.errors}


def test_a_valve_still_calibrating_is_left_out_with_a_warning(binary_thermostat: DeviceTypeSpec) -> None:
    decoded = codec_for(binary_thermostat).decode_uplink(_payload(STATUS_FRAMES[2][0]), STATUS)
    assert "valve_opening" not in {reading.key for reading in decoded.readings}
    assert decoded.warnings == ("valve opening not known yet (calibrating)",)


def test_bytes_a_later_firmware_adds_are_skipped_with_a_warning(binary_thermostat: DeviceTypeSpec) -> None:
    decoded = codec_for(binary_thermostat).decode_uplink(_payload(STATUS_FRAMES[0][0] + "beef"), STATUS)
    assert len(decoded.readings) == 5
    assert decoded.warnings == ("2 bytes after the status frame skipped",)


def test_a_transport_without_ports_sends_status_frames(binary_thermostat: DeviceTypeSpec) -> None:
    decoded = codec_for(binary_thermostat).decode_uplink(_payload(STATUS_FRAMES[0][0]), UplinkContext(received_at=AT))
    assert len(decoded.readings) == 5


def test_the_device_info_frame_gives_the_firmware_attribute(binary_thermostat: DeviceTypeSpec) -> None:
    decoded = codec_for(binary_thermostat).decode_uplink(bytes((1, 4, 2)), UplinkContext(received_at=AT, port=2))
    assert decoded.attributes == {"firmware": "1.4.2"}
    assert decoded.readings == ()


def test_an_unknown_port_is_a_warning_not_an_error(binary_thermostat: DeviceTypeSpec) -> None:
    decoded = codec_for(binary_thermostat).decode_uplink(b"\x00", UplinkContext(received_at=AT, port=99))
    assert (decoded.readings, decoded.events, decoded.attributes) == ((), (), {})
    assert decoded.warnings == ("fPort 99 is not one of this codec's, 1 bytes skipped",)


@pytest.mark.parametrize(("frame", "reason", "detail"), [
    ("01 00d7 2a", "malformed", "a status frame has 8 bytes, this one 4"),
    ("02 00d7 2a 2a 0b22 00", "malformed", "status frame version 2, this codec reads version 1"),
    ("01 00d7 2a 65 0b22 00", "bad_value", "valve opening 101 % is more than 100 %"),
])
def test_a_payload_it_cannot_read_is_refused_with_a_reason(
        binary_thermostat: DeviceTypeSpec, frame: str, reason: str, detail: str) -> None:
    with pytest.raises(CodecError) as refused:
        codec_for(binary_thermostat).decode_uplink(_payload(frame), STATUS)
    assert (refused.value.reason, refused.value.detail) == (reason, detail)


@given(payload=st.binary(max_size=24), port=st.sampled_from([None, 1, 2, 3]))
def test_no_payload_crashes_the_codec(payload: bytes, port: int | None) -> None:
    from leitstand.devicetypes.codecs import codec_named

    try:
        codec_named("thermostat-binary-v1").decode_uplink(payload, UplinkContext(received_at=AT, port=port))
    except CodecError as error:
        assert error.reason in {"malformed", "bad_value"}


def _command(name: str, **parameters: object) -> CommandRequest:
    return command(name, serial="THB-0001", **parameters)


def test_a_target_temperature_encodes_as_its_downlink(binary_thermostat: DeviceTypeSpec) -> None:
    codec = codec_for(binary_thermostat)
    assert codec.encode_downlink(_command("set_target_temperature", celsius=21.5)).hex() == "512b"
    assert codec.encode_downlink(_command("set_target_temperature", celsius=5)).hex() == "510a"


@pytest.mark.parametrize(("command", "reason"), [
    (_command("restart"), "unknown_command"),
    (_command("set_target_temperature", celsius=21.3), "bad_value"),
    (_command("set_target_temperature", celsius="warm"), "bad_value"),
    (_command("set_target_temperature"), "bad_value"),
])
def test_a_command_it_cannot_encode_is_refused_with_a_reason(
        binary_thermostat: DeviceTypeSpec, command: CommandRequest, reason: str) -> None:
    with pytest.raises(CodecError) as refused:
        codec_for(binary_thermostat).encode_downlink(command)
    assert refused.value.reason == reason


def test_the_decoded_parts_become_the_canonical_messages_ingest_takes(binary_thermostat: DeviceTypeSpec) -> None:
    decoded = codec_for(binary_thermostat).decode_uplink(_payload(STATUS_FRAMES[1][0]), STATUS)
    messages = decoded.messages("THB-0001", AT)
    assert [message.kind for message in messages] == [MessageKind.telemetry, MessageKind.event]
    assert messages[0].readings[3] == Reading("battery_voltage", AT, 2.21)
    assert (messages[1].serial, messages[1].event_code) == ("THB-0001", "T01")
