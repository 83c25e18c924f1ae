"""Milesight WS301: the vendor's recorded payload decoded by its field table, and the
malformed ones refused. Payloads marked "README" are from Milesight-IoT/SensorDecoders,
WS_Series/WS301/README.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leitstand.devicetypes.codecs import CodecError, DecodedEvent, UplinkContext, codec_for, codec_named
from leitstand.devicetypes.spec import spec_for
from leitstand.ingest.message import CommandRequest
from tests.helpers.codecs import decodes_or_refuses

AT = datetime(2026, 12, 3, 7, 30, tzinfo=UTC)
PORT_85 = UplinkContext(received_at=AT, port=85)
CODEC = codec_named("milesight-ws301")


def _decode(hex_text: str, context: UplinkContext = PORT_85):  # type: ignore[no-untyped-def]
    return CODEC.decode_uplink(bytes.fromhex(hex_text.replace(" ", "")), context)


def test_the_readme_example_decodes_by_the_field_table_not_by_its_caption() -> None:
    # The README captions `04 00 01` as "installed"; its table says 1 = uninstalled. The table wins.
    decoded = _decode("017564 030001 040001")  # README
    assert {reading.key: reading.value for reading in decoded.readings} == {"battery": 100.0, "window_open": True}
    assert all(reading.at == AT for reading in decoded.readings)
    assert decoded.events == (DecodedEvent("window_open"), DecodedEvent("uninstalled"))
    assert decoded.attributes == {"installed": False}


def test_a_shut_window_on_its_mount_is_a_reading_and_no_event() -> None:
    decoded = _decode("017550 030000 040000")
    assert {reading.key: reading.value for reading in decoded.readings} == {"battery": 80.0, "window_open": False}
    assert (decoded.events, decoded.attributes) == ((), {"installed": True})


def test_the_device_information_burst_gives_firmware_and_serial() -> None:
    decoded = _decode("ff0bff ff0101 ff166136c19146800000 ff090110 ff0a0105 ff0f00")
    assert decoded.attributes == {"serial_number": "6136c19146800000", "hardware": "1.1", "firmware": "1.5"}
    assert (decoded.readings, decoded.warnings) == ((), ())


def test_an_unknown_port_or_channel_is_a_warning() -> None:
    assert _decode("030001", UplinkContext(received_at=AT, port=2)).warnings == (
        "fPort 2 is not one of this codec's, 3 bytes skipped",)
    decoded = _decode("030001 0567 1122")
    assert [reading.key for reading in decoded.readings] == ["window_open"]
    assert decoded.warnings == ("channel 05 67 at byte 3 is not known: the last 4 bytes skipped",)


@pytest.mark.parametrize(("frame", "reason", "detail"), [
    ("", "malformed", "an empty payload"),
    ("0300", "malformed", "channel 03 00 has 1 bytes of data, this one 0"),  # truncated
    ("017564 03", "malformed", "a lone byte 03 at byte 3: a channel needs an id and a type"),
    ("0175ff", "bad_value", "battery 255 % is more than 100 %"),
])
def test_a_payload_it_cannot_read_is_refused_with_a_reason(frame: str, reason: str, detail: str) -> None:
    with pytest.raises(CodecError) as refused:
        _decode(frame)
    assert (refused.value.reason, refused.value.detail) == (reason, detail)


@given(payload=st.binary(max_size=24), port=st.sampled_from([None, 85, 3]))
def test_no_payload_crashes_the_codec(payload: bytes, port: int | None) -> None:
    decodes_or_refuses(CODEC, payload, port)


def test_it_takes_no_commands() -> None:
    command = CommandRequest(serial="WS301", command_id="c-1", name="set_report_interval", parameters={"minutes": 5},
                             expires_at=AT + timedelta(hours=1))
    with pytest.raises(CodecError) as refused:
        CODEC.encode_downlink(command)
    assert refused.value.reason == "unknown_command"


def test_the_shipped_type_names_this_codec_and_declares_what_it_decodes() -> None:
    spec = spec_for("milesight_ws301")
    assert codec_for(spec) is CODEC
    assert spec.category == "window_sensor"
    # What it decodes, and the link telemetry of its radio (the LoRaWAN transport adds those).
    assert set(spec.telemetry_by_key) == {"window_open", "battery", "rssi", "snr", "spreading_factor"}
    assert {error.code for error in spec.errors} == {"window_open", "uninstalled"}
    assert spec.commands == []
