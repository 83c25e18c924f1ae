"""MClimate Vicki radiator thermostat: its keep-alive and command responses, and the
commands heating sends.

Source: MClimate's "Vicki LoRaWAN device communication protocol" (docs.mclimate.eu,
mclimate-lorawan-devices/devices/mclimate-vicki-lorawan/vicki-lorawan-device-communication-
protocol): the pages "Keep-alive" (Table 3), "Command cheat sheet", "Manual target
temperature change", "Child lock", "Target/setpoint temperature", "Anti-freeze", "Control
units" and "Appendix (examples)"; the response lengths of the Get commands are those pages' tables.
Written from those tables, no code taken.

An uplink (any fPort but 0) is zero or more command responses, then the 9-byte keep-alive
(the device leaves the keep-alive out when responses and keep-alive do not fit together):

    04 <hw> <fw>          versions, nibbles major.minor  -> attributes hardware, firmware
    12 <minutes>          keep-alive period              -> attribute report_interval_minutes
    14 <00/01>            child lock                     -> child_lock
    15 <min> <max>        target range                   -> attributes target_range_minimum/maximum
    18 <mode>             online operational mode        -> attribute operational_mode
    28 <°C>               target changed at the device   -> event `manual_change` {"celsius"}
    52 <°C × 10, u16 BE>  a target with a fraction       -> target_temperature (in place of byte 1)
    13, 16, 17, 19, 1B, 1D, 1F, 4A, 56   other settings' responses, skipped by their lengths

    keep-alive, 9 bytes:
      0    01 (firmware < 3.5) or 81 (firmware >= 3.5): which temperature formula byte 2 takes
      1    target °C                                      -> target_temperature
      2    temperature: 01: t × 165 / 256 − 40; 81: (t − 28.33333) / 5.66666  -> temperature
      3    humidity, h × 100 / 256 %                      -> humidity
      4-6  motor position and range, 12 bits each (byte 6: position bits 11:8 high nibble,
           range bits 11:8 low nibble)                   -> valve_opening = 1 − position / range (%),
           the motor counting from open (0) to shut (its range); left out while the range is 0
      7    bits 7:4 battery, 2 + x × 0.1 V                -> battery_voltage (V)
           bit 3 open window                              -> window_open; event `window_open`
           bit 2 / 1 motor current too high / too low     -> events `motor_current_high` / `_low`
           bit 0 temperature sensor broken                -> event `sensor_broken`, no temperature
      8    bit 7 manual change disabled (child lock)      -> child_lock
           bit 6 motor calibration failed (fw >= 4.1)     -> event `calibration_failed`
           bit 5 attached to the backplate                -> attribute attached
           bit 3 anti-freeze active                       -> event `freeze_protection`

    Temperatures are rounded to 0.01 °C, humidity to 0.1 %. A response code this codec does
    not know has no known length: the bytes from it up to a keep-alive at the end of the
    payload are skipped with a warning, and that keep-alive is still read (the vendor's two
    decoders disagree on unknown codes; no reading is lost to one).

Downlinks, on fPort `DOWNLINK_PORT` (1):

    set_target_temperature(celsius[, firmware]): `51 <°C × 10, u16 BE>` when `firmware` (the
        device's `firmware` attribute, e.g. "4.3", passed by the caller) is 4.3 or later;
        otherwise `0E <°C>` in whole degrees, the nearest, a half rounded up (19.5 -> 20),
        which every firmware takes. Device limits 5–30 °C.
    set_target_range(minimum, maximum): `08 <min> <max>`, whole degrees held to 5–30.
    set_child_lock(on): `07 <01/00>`
    set_mode(mode): `0D <00 manual / 01 automatic / 02 automatic_external>` (online modes;
        "automatic_external" regulates on a temperature the server sends)
    set_report_interval(minutes): `02 <minutes>`, 1–255 (the keep-alive period)
"""

from __future__ import annotations

import struct
from datetime import datetime

from leitstand.devicetypes.codecs import _parameters as parameters
from leitstand.devicetypes.codecs.registry import Codec, CodecError, Decoded, DecodedEvent, UplinkContext
from leitstand.ingest.message import CommandRequest, Reading

KEY = "mclimate-vicki"
DOWNLINK_PORT = 1
KEEP_ALIVE_OLD, KEEP_ALIVE_NEW = 0x01, 0x81
KEEP_ALIVE_LENGTH = 9
TARGET_LIMITS = (5, 30)
FINE_TARGET_FIRMWARE = (4, 3)  # 0x51, the target in tenths, from this firmware on
MODES = {"manual": 0, "automatic": 1, "automatic_external": 2}
OPERATIONAL_MODES = {value: name for name, value in MODES.items()}
# Response code -> its length with the code, for the responses read or skipped here.
RESPONSE_LENGTHS = {0x04: 3, 0x12: 2, 0x13: 5, 0x14: 2, 0x15: 3, 0x16: 4, 0x17: 3, 0x18: 2, 0x19: 2, 0x1B: 2,
                    0x1D: 3, 0x1F: 2, 0x28: 2, 0x4A: 4, 0x52: 3, 0x56: 2}


class _Uplink:
    def __init__(self, at: datetime) -> None:
        self.at = at
        self.readings: dict[str, Reading] = {}
        self.attributes: dict[str, object] = {}
        self.events: list[DecodedEvent] = []
        self.warnings: list[str] = []
        self.fine_target: float | None = None

    def reading(self, key: str, value: float | bool) -> None:
        self.readings[key] = Reading(key, self.at, value)

    def decoded(self) -> Decoded:
        return Decoded(readings=tuple(self.readings.values()), attributes=self.attributes,
                       events=tuple(self.events), warnings=tuple(self.warnings))


def _version(byte: int) -> str:
    return f"{byte >> 4}.{byte & 0x0F}"


def _response(code: int, data: bytes, into: _Uplink) -> None:
    if code == 0x04:
        into.attributes["hardware"], into.attributes["firmware"] = _version(data[0]), _version(data[1])
    elif code == 0x12:
        into.attributes["report_interval_minutes"] = data[0]
    elif code == 0x14:
        into.reading("child_lock", data[0] == 1)
    elif code == 0x15:
        into.attributes["target_range_minimum"], into.attributes["target_range_maximum"] = data[0], data[1]
    elif code == 0x18:
        into.attributes["operational_mode"] = OPERATIONAL_MODES.get(data[0], str(data[0]))
    elif code == 0x28:
        into.events.append(DecodedEvent("manual_change", {"celsius": data[0]}))
    elif code == 0x52:
        into.fine_target = struct.unpack(">H", data)[0] / 10


def _keep_alive(frame: bytes, into: _Uplink) -> None:
    formula, target, raw_temperature, raw_humidity, position_low, range_low, high_bits, power, status = frame
    if formula == KEEP_ALIVE_OLD:
        temperature = raw_temperature * 165 / 256 - 40
    else:
        temperature = (raw_temperature - 28.33333) / 5.66666
    into.reading("target_temperature", float(target) if into.fine_target is None else into.fine_target)
    if power & 0x01:
        into.events.append(DecodedEvent("sensor_broken"))
        into.warnings.append("temperature sensor broken: its reading left out")
    else:
        into.reading("temperature", round(temperature, 2))
    into.reading("humidity", round(raw_humidity * 100 / 256, 1))
    position = (high_bits >> 4) << 8 | position_low
    motor_range = (high_bits & 0x0F) << 8 | range_low
    if motor_range == 0:
        into.warnings.append("motor range 0 (not calibrated or not attached): valve opening not known")
    else:
        into.reading("valve_opening", float(round(parameters.within(100 * (1 - position / motor_range), 0, 100))))
    into.reading("battery_voltage", round(2 + (power >> 4) * 0.1, 1))
    into.reading("window_open", bool(power & 0x08))
    into.reading("child_lock", bool(status & 0x80))
    into.attributes["attached"] = bool(status & 0x20)
    for flags, bit, code in ((power, 0x08, "window_open"), (power, 0x04, "motor_current_high"),
                             (power, 0x02, "motor_current_low"), (status, 0x40, "calibration_failed"),
                             (status, 0x08, "freeze_protection")):
        if flags & bit:
            into.events.append(DecodedEvent(code))


def _tail_keep_alive(payload: bytes, offset: int) -> bool:
    start = len(payload) - KEEP_ALIVE_LENGTH
    return start >= offset and payload[start] in (KEEP_ALIVE_OLD, KEEP_ALIVE_NEW)


def decode_uplink(payload: bytes, context: UplinkContext) -> Decoded:
    if context.port == 0:
        return Decoded(warnings=(f"fPort 0 carries MAC commands, not the device's payload: {len(payload)} bytes skipped",))
    if not payload:
        raise CodecError("malformed", "an empty payload")
    into = _Uplink(context.received_at)
    offset, read_anything = 0, False
    while offset < len(payload):
        code = payload[offset]
        if code in (KEEP_ALIVE_OLD, KEEP_ALIVE_NEW):
            frame = payload[offset:offset + KEEP_ALIVE_LENGTH]
            if len(frame) < KEEP_ALIVE_LENGTH:
                raise CodecError("malformed", f"a keep-alive has {KEEP_ALIVE_LENGTH} bytes, this one {len(frame)}")
            _keep_alive(frame, into)
            read_anything = True
            offset += KEEP_ALIVE_LENGTH
            if offset < len(payload):
                into.warnings.append(f"{len(payload) - offset} bytes after the keep-alive skipped")
            break
        length = RESPONSE_LENGTHS.get(code)
        if length is None:
            if _tail_keep_alive(payload, offset):
                end = len(payload) - KEEP_ALIVE_LENGTH
                into.warnings.append(f"command {code:02x} at byte {offset} is not known: bytes {offset}–{end - 1} "
                                     "skipped, the keep-alive after them read")
                offset = end
                continue
            into.warnings.append(f"command {code:02x} at byte {offset} is not known: "
                                 f"the last {len(payload) - offset} bytes skipped")
            break
        data = payload[offset + 1:offset + length]
        if len(data) < length - 1:
            raise CodecError("malformed", f"response {code:02x} has {length - 1} bytes of data, this one {len(data)}")
        _response(code, data, into)
        read_anything = True
        offset += length
    if not read_anything:
        raise CodecError("malformed", f"nothing in these {len(payload)} bytes is a keep-alive or a known response")
    if into.fine_target is not None and "target_temperature" not in into.readings:
        into.reading("target_temperature", into.fine_target)  # a response without its keep-alive
    return into.decoded()


def _target(command: CommandRequest) -> bytes:
    celsius = parameters.number(command, "celsius")
    if parameters.firmware_at_least(command.parameters.get("firmware"), FINE_TARGET_FIRMWARE):
        tenths = round(celsius * 10)
        parameters.in_range(command, "celsius", tenths / 10, *TARGET_LIMITS)
        return bytes((0x51,)) + struct.pack(">H", tenths)
    degrees = parameters.whole_degrees(celsius)
    parameters.in_range(command, "celsius", degrees, *TARGET_LIMITS)
    return bytes((0x0E, degrees))


def device_target(celsius: float, firmware: str | None) -> float:
    """What a Vicki with `firmware` is sent for `celsius`: tenths from 4.3 on, else the
    nearest whole degree (a half rounded up), so a caller can show what was rounded."""
    if parameters.firmware_at_least(firmware, FINE_TARGET_FIRMWARE):
        return round(celsius * 10) / 10
    return float(parameters.whole_degrees(celsius))


def encode_downlink(command: CommandRequest) -> bytes:
    if command.name == "set_target_temperature":
        return _target(command)
    if command.name == "set_target_range":
        lowest = parameters.whole_degrees(parameters.within(parameters.number(command, "minimum"), *TARGET_LIMITS))
        highest = parameters.whole_degrees(parameters.within(parameters.number(command, "maximum"), *TARGET_LIMITS))
        if lowest > highest:
            raise CodecError("bad_value", f"set_target_range: minimum {lowest} is above maximum {highest}")
        return bytes((0x08, lowest, highest))
    if command.name == "set_child_lock":
        return bytes((0x07, 1 if parameters.flag(command, "on") else 0))
    if command.name == "set_mode":
        return bytes((0x0D, MODES[parameters.text(command, "mode", tuple(MODES))]))
    if command.name == "set_report_interval":
        minutes = parameters.number(command, "minutes")
        if minutes != int(minutes):
            raise CodecError("bad_value", f"set_report_interval: {minutes:g} is not whole minutes")
        parameters.in_range(command, "minutes", minutes, 1, 255)
        return bytes((0x02, int(minutes)))
    raise CodecError("unknown_command", f"{KEY} has no downlink for {command.name!r}")


CODEC = Codec(key=KEY, description="MClimate Vicki radiator thermostat (LoRaWAN)",
              decoder=decode_uplink, encoder=encode_downlink, downlink_port=DOWNLINK_PORT)
