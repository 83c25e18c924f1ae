"""Micropelt MLR003 (MLR003R radiator line): the battery-free thermostat's status frame,
its version report, and the one 6-byte frame that sets it.

Source: Micropelt's documentation wiki (micropelt.atlassian.net/wiki, space MLRD/MH): the
MLR003 communication profile (fPort table), "FPORT 0x01 UPLINK" and "FPORT 0x01
DOWNLINK" tables, and the page "MLR003 Encoder/Decoder Chirpstack & TTN" for the fPort 2
version layout and the user-mode codes; the user manual "MLR003RiEU61-07-1.1" section 8
(manualshive.com/en/manual/micropelt/mlr003/1788145, pages 17–20). Written from those
tables, no code taken.

Uplinks, by fPort (a transport without ports sends status frames):

    fPort 1, status, 10–12 bytes (11 on revision 1.x and 2.x; 12 with byte 11):
      0   valve position, %                              -> valve_opening (%)
      1   flow sensor raw, 0.5 °C                        (not stored: the estimate below is)
      2   flow temperature, 0.5 °C                       -> flow_temperature (°C)
      3   ambient sensor raw, 0.25 °C                    (not stored)
      4   ambient temperature estimate, 0.25 °C          -> temperature (°C)
      5   bit 7 temperature drop detected (2.x; 0 on 1.x) -> event `temperature_drop`
          bit 6 energy storage low                       -> event `storage_low`
          bit 5 harvesting                               -> attribute harvesting
          bit 4 / 3 ambient / flow sensor failure        -> events `ambient_sensor_failure` / `flow_sensor_failure`
          bit 2 radio communication error                -> event `radio_communication_error`
          bit 1 weak radio signal (RSSI < −100 dBm)      -> attribute weak_radio_signal
          bit 0 motor error                              -> event `motor_error`
      6   storage voltage, 0.02 V                        -> storage_voltage (V): harvesting, no battery %
      7-8 average current consumed / generated, 10 µA    (not stored)
      9   bit 7 switched off (mounting position)         -> attribute switched_off
          bit 6 storage fully charged                    -> attribute storage_fully_charged
          bit 5 zero error                               -> event `zero_error`
          bit 4 calibration OK                           -> attribute calibration_ok
          bits 2:0 user mode: 0 valve %, 2 room setpoint, 3 opening-point detection,
          4 slow harvesting, 5 temperature drop, 6 freeze protection, 7 forced heating
                                                         -> attribute user_mode; 6 -> event `freeze_protection`
      10  user value: in mode 2 the setpoint, 0.5 °C     -> target_temperature (°C)
      11  temperature the control uses, 0.25 °C          -> attribute control_temperature
      The bit 7 of byte 5 is reserved on revision 1.x and sent as 0 there, so one reading
      serves both revisions without knowing which one a device runs.

    fPort 2, versions, 6 bytes: revision (low nibble major, high nibble minor), hardware
      (likewise), firmware date 20YY.MM.DD and its build  -> attributes revision, hardware, firmware
    fPorts 3–15 answer settings heating does not change: skipped with a warning.

Downlink, on fPort `DOWNLINK_PORT` (1): one 6-byte frame that repeats every setting, so
each command carries them all (the caller keeps the last full setting per device and
passes it; what it leaves out takes the defaults below):

    0   setpoint, 0.5 °C (0–40 °C), user mode "room setpoint"
    1   room temperature from an external sensor, 0.25 °C (0 = none)   `room_temperature`
    2   safety value used on radio loss, 0.5 °C (default 20 °C)        `safety_celsius`
    3   bits 6:4 radio interval (0 = 10, 1 = 5, 2 = 60, 3 = 120, 4 = 480 minutes) `minutes`,
        default 10; bits 3:2 user mode 2 (room setpoint); bits 1:0 safety mode 0 (room temperature)
    4   0 (reserved)
    5   bit 7 do a reference run now                                   `reference_run`, default false

    set_target_temperature(celsius[, minutes, room_temperature, safety_celsius, reference_run])
    set_report_interval(minutes, celsius[, ...]): the same frame; the target is required,
        because the frame would otherwise set a default one.
    A setpoint off the 0.5 °C grid goes to the nearest half degree, a quarter rounded up.
"""

from __future__ import annotations

from leitstand.devicetypes.codecs import _parameters as parameters
from leitstand.devicetypes.codecs.registry import Codec, CodecError, Decoded, DecodedEvent, UplinkContext
from leitstand.ingest.message import CommandRequest, Reading

KEY = "micropelt-mlr003"
STATUS_PORT, VERSION_PORT, DOWNLINK_PORT = 1, 2, 1
SETTING_PORTS = range(3, 16)
STATUS_LENGTHS = (10, 12)  # shortest and longest status frame read
VERSION_LENGTH = 6
SETPOINT_LIMITS = (0, 40)
DEFAULT_SAFETY_CELSIUS = 20.0  # the vendor's default safety value
RADIO_INTERVALS = {10: 0, 5: 1, 60: 2, 120: 3, 480: 4}  # minutes -> the 3-bit code
DEFAULT_RADIO_INTERVAL = 10
USER_MODE_SETPOINT, SAFETY_MODE_TEMPERATURE = 2, 0
USER_MODES = {0: "valve_position", 1: "reserved", 2: "room_setpoint", 3: "detecting_opening_point",
              4: "slow_harvesting", 5: "temperature_drop", 6: "freeze_protection", 7: "forced_heating"}
STATUS_EVENTS = ((0x80, "temperature_drop"), (0x40, "storage_low"), (0x10, "ambient_sensor_failure"),
                 (0x08, "flow_sensor_failure"), (0x04, "radio_communication_error"), (0x01, "motor_error"))


def decode_uplink(payload: bytes, context: UplinkContext) -> Decoded:
    if context.port in (None, STATUS_PORT):
        return _status(payload, context)
    if context.port == VERSION_PORT:
        return _versions(payload)
    if context.port in SETTING_PORTS:
        return Decoded(warnings=(f"fPort {context.port} answers a setting not read here, {len(payload)} bytes skipped",))
    return Decoded(warnings=(f"fPort {context.port} is not one of this codec's, {len(payload)} bytes skipped",))


def _status(payload: bytes, context: UplinkContext) -> Decoded:
    shortest, longest = STATUS_LENGTHS
    if len(payload) < shortest:
        raise CodecError("malformed", f"a status frame has {shortest} to {longest} bytes, this one {len(payload)}")
    if payload[0] > 100:
        raise CodecError("bad_value", f"valve position {payload[0]} % is more than 100 %")
    at = context.received_at
    flags, state = payload[5], payload[9]
    readings = [Reading("valve_opening", at, float(payload[0])), Reading("flow_temperature", at, payload[2] * 0.5),
                Reading("temperature", at, payload[4] * 0.25), Reading("storage_voltage", at, round(payload[6] * 0.02, 2))]
    user_mode = state & 0x07
    attributes: dict[str, object] = {
        "harvesting": bool(flags & 0x20), "weak_radio_signal": bool(flags & 0x02),
        "switched_off": bool(state & 0x80), "storage_fully_charged": bool(state & 0x40),
        "calibration_ok": bool(state & 0x10), "user_mode": USER_MODES[user_mode]}
    events = [DecodedEvent(code) for bit, code in STATUS_EVENTS if flags & bit]
    if state & 0x20:
        events.append(DecodedEvent("zero_error"))
    if user_mode == 6:
        events.append(DecodedEvent("freeze_protection"))
    if len(payload) > 10 and user_mode == USER_MODE_SETPOINT:
        readings.append(Reading("target_temperature", at, payload[10] * 0.5))
    if len(payload) > 11:
        attributes["control_temperature"] = payload[11] * 0.25
    warnings = (f"{len(payload) - longest} bytes after the status frame skipped",) if len(payload) > longest else ()
    return Decoded(readings=tuple(readings), attributes=attributes, events=tuple(events), warnings=warnings)


def _versions(payload: bytes) -> Decoded:
    if len(payload) != VERSION_LENGTH:
        raise CodecError("malformed", f"a version report has {VERSION_LENGTH} bytes, this one {len(payload)}")
    revision, hardware, year, month, day, build = payload
    return Decoded(attributes={
        "revision": f"{revision & 0x0F}.{revision >> 4:x}", "hardware": f"{hardware & 0x0F}.{hardware >> 4}",
        "firmware": f"20{year:02d}.{month:02d}.{day:02d}.{build}"})


def _half_degrees(command: CommandRequest, name: str, celsius: float) -> int:
    steps = int(parameters.whole_degrees(celsius * 2))  # the nearest half degree, a quarter rounded up
    parameters.in_range(command, name, steps / 2, *SETPOINT_LIMITS)
    return steps


def _frame(command: CommandRequest, celsius: float) -> bytes:
    setpoint = _half_degrees(command, "celsius", celsius)
    room = parameters.number(command, "room_temperature", 0)
    parameters.in_range(command, "room_temperature", room, *SETPOINT_LIMITS)
    safety = _half_degrees(command, "safety_celsius", parameters.number(command, "safety_celsius", DEFAULT_SAFETY_CELSIUS))
    minutes = parameters.number(command, "minutes", DEFAULT_RADIO_INTERVAL)
    if minutes not in RADIO_INTERVALS:
        raise CodecError("bad_value", f"{command.name}: a radio interval of {minutes:g} minutes is not one of "
                                      f"{', '.join(str(choice) for choice in sorted(RADIO_INTERVALS))}")
    reference_run = command.parameters.get("reference_run", False)
    if not isinstance(reference_run, bool):
        raise CodecError("bad_value", f"{command.name} needs a true/false `reference_run`")
    modes = RADIO_INTERVALS[int(minutes)] << 4 | USER_MODE_SETPOINT << 2 | SAFETY_MODE_TEMPERATURE
    return bytes((setpoint, round(room * 4), safety, modes, 0, 0x80 if reference_run else 0))


def encode_downlink(command: CommandRequest) -> bytes:
    if command.name in ("set_target_temperature", "set_report_interval"):
        if command.name == "set_report_interval" and "minutes" not in command.parameters:
            raise CodecError("bad_value", "set_report_interval needs `minutes`")
        return _frame(command, parameters.number(command, "celsius"))
    raise CodecError("unknown_command", f"{KEY} has no downlink for {command.name!r}")


CODEC = Codec(key=KEY, description="Micropelt MLR003 battery-free radiator thermostat (LoRaWAN)",
              decoder=decode_uplink, encoder=encode_downlink, downlink_port=DOWNLINK_PORT)
