"""The channel format every Milesight LoRaWAN sensor speaks, shared by its codecs.

An uplink is a run of channels, each `<channel id> <channel type> <data>`; the pair names
the field and so the data's length, little-endian where it has more than one byte. The
device-information channels (id 0xFF) are the same on every model: firmware, hardware,
serial number, LoRaWAN class, protocol version, power-on and reset notes.

Source: Milesight-IoT/SensorDecoders on GitHub, the "Payload Definition" tables of
WT_Series/WT101/README.md and WS_Series/WS301/README.md, and the device-information
channels their decoders read (https://github.com/Milesight-IoT/SensorDecoders).

Not a codec itself (it defines no `CODEC`), so the registry passes it by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leitstand.devicetypes.codecs.registry import CodecError, Decoded, DecodedEvent
from leitstand.ingest.message import Reading

UPLINK_PORT = 85  # every Milesight sensor's application port, uplink and downlink


@dataclass
class Collected:
    """What the channels of one uplink gave, filled in as the channels are read."""

    at: datetime
    readings: list[Reading] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[DecodedEvent] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def reading(self, key: str, value: float | bool) -> None:
        self.readings.append(Reading(key, self.at, value))

    def decoded(self) -> Decoded:
        return Decoded(readings=tuple(self.readings), attributes=dict(self.attributes),
                       events=tuple(self.events), warnings=tuple(self.warnings))


Handler = Callable[[bytes, Collected], None]
# (channel id, channel type) -> (data length, what to do with the data; None: known, not needed here)
Channels = dict[tuple[int, int], tuple[int, Handler | None]]


def _version(data: bytes, into: Collected, name: str) -> None:
    into.attributes[name] = f"{data[0]}.{data[1]}"


def _hardware(data: bytes, into: Collected) -> None:
    into.attributes["hardware"] = f"{data[0]}.{data[1] >> 4}"  # the minor version is the high nibble


def _serial(data: bytes, into: Collected) -> None:
    into.attributes["serial_number"] = data.hex()


DEVICE_INFO: Channels = {
    (0xFF, 0x01): (1, None),  # IPSO protocol version
    (0xFF, 0x09): (2, _hardware),
    (0xFF, 0x0A): (2, lambda data, into: _version(data, into, "firmware")),
    (0xFF, 0xFF): (2, None),  # TSL version
    (0xFF, 0x16): (8, _serial),
    (0xFF, 0x0F): (1, None),  # LoRaWAN class
    (0xFF, 0x0B): (1, None),  # powered on: the device-information burst after a start
    (0xFF, 0xFE): (1, None),  # reset note
}


def read_channels(payload: bytes, channels: Channels, at: datetime) -> Collected:
    """Every channel of `payload`, read by `channels` (the device-information ones included).

    A channel it does not know ends the reading with a warning: its length is not known,
    so nothing after it can be found. A known channel cut short is a malformed payload.
    """
    if not payload:
        raise CodecError("malformed", "an empty payload")
    known = {**DEVICE_INFO, **channels}
    into = Collected(at)
    offset = 0
    while offset < len(payload):
        if len(payload) - offset < 2:
            raise CodecError("malformed", f"a lone byte {payload[offset]:02x} at byte {offset}: "
                                          "a channel needs an id and a type")
        channel = (payload[offset], payload[offset + 1])
        found = known.get(channel)
        if found is None:
            into.warnings.append(f"channel {channel[0]:02x} {channel[1]:02x} at byte {offset} is not known: "
                                 f"the last {len(payload) - offset} bytes skipped")
            break
        length, handler = found
        data = payload[offset + 2:offset + 2 + length]
        if len(data) < length:
            raise CodecError("malformed", f"channel {channel[0]:02x} {channel[1]:02x} has {length} bytes of data, "
                                          f"this one {len(data)}")
        if handler is not None:
            handler(data, into)
        offset += 2 + length
    return into


def not_our_port(port: int | None, payload: bytes) -> Decoded | None:
    """The warning for an uplink on a port other than the application port (None: it is ours)."""
    if port in (None, UPLINK_PORT):
        return None
    return Decoded(warnings=(f"fPort {port} is not one of this codec's, {len(payload)} bytes skipped",))
