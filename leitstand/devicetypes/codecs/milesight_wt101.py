"""Milesight WT101 radiator thermostat: its LoRaWAN channels, and the settings heating sends.

Source: Milesight-IoT/SensorDecoders, WT_Series/WT101/README.md (the "Payload
Definition" table and its samples) and the downlink layouts of WT_Series/WT101/
WT101_Encoder.js; the WT101 user guide (resource.milesight.com/milesight/iot/document/
wt101-user-guide-en.pdf) for the ranges. Written from those tables, no code taken.

Uplinks on fPort 85 (`_milesight`: channel id, channel type, data; little-endian):

    01 75  battery, uint8 %                          -> battery (%)
    03 67  room temperature, int16 / 10 °C           -> temperature (°C)
    04 67  target temperature, int16 / 10 °C         -> target_temperature (°C)
    05 92  valve opening, uint8 %                    -> valve_opening (%)
    06 00  installation, 0 installed / 1 uninstalled -> attribute installed; event
           `uninstalled` (the README calls it install_status, the decoder tamper_status)
    07 00  open window, 0 normal / 1 open            -> window_open; event `window_open` when open
    08 E5  motor calibration result                  -> attribute motor_calibration; event
           `calibration_failed` {"reason"} for 1 (out of range) and 2 (uninstalled)
    09 90  motor stroke, uint16                      -> attribute motor_stroke
    0A 00  freeze protection, 1 triggered            -> event `freeze_protection`
    0B 90  motor position, uint16                    -> attribute motor_position
    FF 0A / FF 09 / FF 16  firmware, hardware, serial -> attributes
    Echoes of settings (FF xx, F9 xx, F8 xx with a result byte): child lock -> child_lock,
    report interval, control mode and target range -> attributes; the rest skipped.

Downlinks, on fPort `DOWNLINK_PORT` (85):

    set_target_temperature(celsius[, tolerance]): FF B1 <int8 °C> <uint16 tolerance × 10>.
        Whole degrees only: the nearest degree, a half rounded up (19.5 -> 20), see
        `device_target`; tolerance defaults to `DEFAULT_TOLERANCE` °C.
    set_target_range(minimum, maximum): F9 35 <min> <max>, the device's own limits held to
        min 5–15 and max 16–35 (a platform minimum of 18 sends 15: the platform enforces
        the rest itself, as heating requirement H53 has it).
    set_child_lock(on): FF 25 <01 / 00>
    set_mode(mode): FF AE <00 auto / 01 manual>  (temperature control by target, or by valve)
    set_report_interval(minutes): FF 8E 00 <uint16 minutes, 1–1440>
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from leitstand.devicetypes.codecs import _parameters as parameters
from leitstand.devicetypes.codecs._milesight import Channels, Collected, Handler, not_our_port, read_channels
from leitstand.devicetypes.codecs.registry import Codec, CodecError, Decoded, DecodedEvent, UplinkContext
from leitstand.ingest.message import CommandRequest

KEY = "milesight-wt101"
DOWNLINK_PORT = 85
DEFAULT_TOLERANCE = 1.0  # °C either side of the target before the valve moves
TARGET_LIMITS = (5, 35)
RANGE_MINIMUM_LIMITS, RANGE_MAXIMUM_LIMITS = (5, 15), (16, 35)
REPORT_INTERVAL_LIMITS = (1, 1440)
MODES = {"auto": 0, "manual": 1}
CALIBRATION = {0: "success", 1: "failed: out of range", 2: "failed: uninstalled", 3: "cleared",
               4: "temperature control disabled"}
CALIBRATION_FAILED = {1: "out_of_range", 2: "uninstalled"}


def _tenths(data: bytes) -> float:
    return struct.unpack("<h", data)[0] / 10


def _valve(data: bytes, into: Collected) -> None:
    if data[0] > 100:
        raise CodecError("bad_value", f"valve opening {data[0]} % is more than 100 %")
    into.reading("valve_opening", float(data[0]))


def _battery(data: bytes, into: Collected) -> None:
    if data[0] > 100:
        raise CodecError("bad_value", f"battery {data[0]} % is more than 100 %")
    into.reading("battery", float(data[0]))


def _installed(data: bytes, into: Collected) -> None:
    into.attributes["installed"] = data[0] == 0
    if data[0] == 1:
        into.events.append(DecodedEvent("uninstalled"))


def _window(data: bytes, into: Collected) -> None:
    into.reading("window_open", data[0] == 1)
    if data[0] == 1:
        into.events.append(DecodedEvent("window_open"))


def _calibration(data: bytes, into: Collected) -> None:
    into.attributes["motor_calibration"] = CALIBRATION.get(data[0], f"unknown ({data[0]})")
    if data[0] in CALIBRATION_FAILED:
        into.events.append(DecodedEvent("calibration_failed", {"reason": CALIBRATION_FAILED[data[0]]}))


def _freeze(data: bytes, into: Collected) -> None:
    if data[0] == 1:
        into.events.append(DecodedEvent("freeze_protection"))


def _attribute(name: str, convert: Callable[[bytes], object]) -> Handler:
    def read(data: bytes, into: Collected) -> None:
        into.attributes[name] = convert(data)
    return read


def _unsigned(data: bytes) -> int:
    return int(struct.unpack("<H", data[-2:])[0])


def _range(data: bytes, into: Collected) -> None:
    into.attributes["target_range_minimum"], into.attributes["target_range_maximum"] = data[0], data[1]


def _range_answered(data: bytes, into: Collected) -> None:
    if data[2] != 0:  # F8: the setting's echo with the device's verdict; 1 forbidden, 2 invalid parameter
        into.warnings.append(f"the device refused the target range {data[0]}–{data[1]} (result {data[2]})")
    else:
        _range(data, into)


CHANNELS: Channels = {
    (0x01, 0x75): (1, _battery),
    (0x03, 0x67): (2, lambda data, into: into.reading("temperature", _tenths(data))),
    (0x04, 0x67): (2, lambda data, into: into.reading("target_temperature", _tenths(data))),
    (0x05, 0x92): (1, _valve),
    (0x06, 0x00): (1, _installed),
    (0x07, 0x00): (1, _window),
    (0x08, 0xE5): (1, _calibration),
    (0x09, 0x90): (2, _attribute("motor_stroke", _unsigned)),
    (0x0A, 0x00): (1, _freeze),
    (0x0B, 0x90): (2, _attribute("motor_position", _unsigned)),
    # Echoes of settings, sent after a downlink changed them.
    (0xFF, 0x25): (1, lambda data, into: into.reading("child_lock", data[0] == 1)),
    (0xFF, 0x8E): (3, _attribute("report_interval_minutes", _unsigned)),  # a byte, then the minutes
    (0xFF, 0xAE): (1, _attribute("control_mode", lambda data: {0: "auto", 1: "manual"}.get(data[0], str(data[0])))),
    (0xFF, 0xB1): (3, None),  # target and tolerance as set; the 04 67 channel reports the target
    (0xF9, 0x35): (2, _range),
    (0xF8, 0x35): (3, _range_answered),
    **{(0xFF, code): (length, None) for code, length in (
        (0x10, 1), (0x28, 1), (0x3B, 1), (0x4A, 1), (0x57, 1), (0xAB, 3), (0xAC, 1), (0xAD, 1), (0xAF, 4),
        (0xB0, 3), (0xB3, 1), (0xB4, 1), (0xBA, 10), (0xBD, 2), (0xC4, 2), (0xF8, 1))},
    **{(0xF9, code): (length, None) for code, length in ((0x33, 7), (0x34, 9), (0x36, 1), (0x37, 1), (0x38, 2), (0x3A, 1))},
    **{(0xF8, code): (length + 1, None) for code, length in ((0x33, 7), (0x34, 9), (0x36, 1), (0x37, 1), (0x38, 2), (0x3A, 1))},
}


def decode_uplink(payload: bytes, context: UplinkContext) -> Decoded:
    return not_our_port(context.port, payload) or read_channels(payload, CHANNELS, context.received_at).decoded()


def device_target(celsius: float) -> int:
    """The whole degree the WT101 is sent for `celsius`: the nearest, a half rounded up."""
    return parameters.whole_degrees(celsius)


def encode_downlink(command: CommandRequest) -> bytes:
    if command.name == "set_target_temperature":
        degrees = device_target(parameters.number(command, "celsius"))
        parameters.in_range(command, "celsius", degrees, *TARGET_LIMITS)
        tolerance = parameters.number(command, "tolerance", DEFAULT_TOLERANCE)
        parameters.in_range(command, "tolerance", tolerance, 0.1, 5)
        return bytes((0xFF, 0xB1)) + struct.pack("<bH", degrees, round(tolerance * 10))
    if command.name == "set_target_range":
        lowest = parameters.whole_degrees(parameters.within(parameters.number(command, "minimum"), *RANGE_MINIMUM_LIMITS))
        highest = parameters.whole_degrees(parameters.within(parameters.number(command, "maximum"), *RANGE_MAXIMUM_LIMITS))
        return bytes((0xF9, 0x35, lowest, highest))
    if command.name == "set_child_lock":
        return bytes((0xFF, 0x25, 1 if parameters.flag(command, "on") else 0))
    if command.name == "set_mode":
        return bytes((0xFF, 0xAE, MODES[parameters.text(command, "mode", tuple(MODES))]))
    if command.name == "set_report_interval":
        minutes = parameters.number(command, "minutes")
        if minutes != int(minutes):
            raise CodecError("bad_value", f"set_report_interval: {minutes:g} is not whole minutes")
        parameters.in_range(command, "minutes", minutes, *REPORT_INTERVAL_LIMITS)
        return bytes((0xFF, 0x8E, 0x00)) + struct.pack("<H", int(minutes))
    raise CodecError("unknown_command", f"{KEY} has no downlink for {command.name!r}")


CODEC = Codec(key=KEY, description="Milesight WT101 radiator thermostat (LoRaWAN, fPort 85)",
              decoder=decode_uplink, encoder=encode_downlink, downlink_port=DOWNLINK_PORT)
