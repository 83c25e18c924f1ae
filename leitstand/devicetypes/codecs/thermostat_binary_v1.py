"""A radiator thermostat's binary LoRaWAN payload, version 1: the pattern for binary codecs.

Uplinks, by fPort (a transport without ports, `port=None`, sends status frames):

    fPort 1, status, 8 bytes, big-endian:
      0     frame version, 0x01
      1-2   room temperature, int16, 0.1 °C            -> temperature (°C)
      3     target temperature, uint8, 0.5 °C           -> target_temperature (°C)
      4     valve opening, uint8, %, 0xFF = not known   -> valve_opening (%)
      5-6   battery voltage, uint16, mV                 -> battery_voltage (V)
      7     flags: bit 0 window open                    -> window_open
                   bit 1 valve motor blocked            -> event T02
                   bit 2 battery low                    -> event T01
      Bytes past the eighth are skipped with a warning (a later firmware's additions).

    fPort 2, device info, 3 bytes: firmware major, minor, patch  -> attribute `firmware`

Downlinks, on fPort `DOWNLINK_PORT`:

    set_target_temperature(celsius): 0x51, uint8 celsius in 0.5 °C steps

Readings are in the units the type declares; the battery stays in volts, and its
type declares the conversion to percent.
"""

from __future__ import annotations

import struct

from leitstand.devicetypes.codecs.registry import Codec, CodecError, Decoded, DecodedEvent, UplinkContext
from leitstand.ingest.message import CommandRequest, Reading

KEY = "thermostat-binary-v1"
STATUS_PORT, INFO_PORT, DOWNLINK_PORT = 1, 2, 10
FRAME_VERSION = 0x01
_STATUS = struct.Struct(">BhBBHB")
_INFO = struct.Struct(">BBB")
VALVE_NOT_KNOWN = 0xFF
WINDOW_OPEN, MOTOR_BLOCKED, BATTERY_LOW = 0x01, 0x02, 0x04
SET_TARGET = 0x51


def decode_uplink(payload: bytes, context: UplinkContext) -> Decoded:
    if context.port in (None, STATUS_PORT):
        return _status(payload, context)
    if context.port == INFO_PORT:
        return _info(payload)
    return Decoded(warnings=(f"fPort {context.port} is not one of this codec's, {len(payload)} bytes skipped",))


def _status(payload: bytes, context: UplinkContext) -> Decoded:
    if len(payload) < _STATUS.size:
        raise CodecError("malformed", f"a status frame has {_STATUS.size} bytes, this one {len(payload)}")
    version, temperature, target, valve, millivolts, flags = _STATUS.unpack_from(payload)
    if version != FRAME_VERSION:
        raise CodecError("malformed", f"status frame version {version}, this codec reads version {FRAME_VERSION}")
    at = context.received_at  # the frame has no clock of its own
    readings = [Reading("temperature", at, temperature / 10), Reading("target_temperature", at, target / 2)]
    warnings = []
    if valve == VALVE_NOT_KNOWN:
        warnings.append("valve opening not known yet (calibrating)")
    elif valve > 100:
        raise CodecError("bad_value", f"valve opening {valve} % is more than 100 %")
    else:
        readings.append(Reading("valve_opening", at, float(valve)))
    readings += [Reading("battery_voltage", at, millivolts / 1000), Reading("window_open", at, bool(flags & WINDOW_OPEN))]
    events = tuple(DecodedEvent(code) for flag, code in ((BATTERY_LOW, "T01"), (MOTOR_BLOCKED, "T02")) if flags & flag)
    if len(payload) > _STATUS.size:
        warnings.append(f"{len(payload) - _STATUS.size} bytes after the status frame skipped")
    return Decoded(readings=tuple(readings), events=events, warnings=tuple(warnings))


def _info(payload: bytes) -> Decoded:
    if len(payload) != _INFO.size:
        raise CodecError("malformed", f"a device info frame has {_INFO.size} bytes, this one {len(payload)}")
    return Decoded(attributes={"firmware": ".".join(str(part) for part in _INFO.unpack(payload))})


def encode_downlink(command: CommandRequest) -> bytes:
    if command.name != "set_target_temperature":
        raise CodecError("unknown_command", f"{KEY} has no downlink for {command.name!r}")
    celsius = command.parameters.get("celsius")
    if isinstance(celsius, bool) or not isinstance(celsius, int | float):
        raise CodecError("bad_value", "set_target_temperature needs a number `celsius`")
    steps = celsius * 2
    if steps != int(steps) or not 0 <= steps <= 0xFF:
        raise CodecError("bad_value", f"{celsius} °C is not a half degree between 0 and 127.5")
    return bytes((SET_TARGET, int(steps)))


CODEC = Codec(key=KEY, description="Radiator thermostat, binary LoRaWAN payload v1",
              decoder=decode_uplink, encoder=encode_downlink, downlink_port=DOWNLINK_PORT)
