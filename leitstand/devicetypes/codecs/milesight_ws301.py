"""Milesight WS301 magnetic door/window contact: whether the window is open, and its battery.

Source: Milesight-IoT/SensorDecoders, WS_Series/WS301/README.md, the "Payload Definition"
table (https://github.com/Milesight-IoT/SensorDecoders). Its example contradicts the
table (it reads `04 00 01` as "installed"); this codec follows the table, as heating's
requirements say. Written from the table, no code taken.

Uplinks on fPort 85 (`_milesight`: channel id, channel type, data):

    01 75  battery, uint8 %                         -> battery (%)
    03 00  contact, 0 closed / 1 open               -> window_open; event `window_open` when open
    04 00  tamper, 0 installed / 1 uninstalled      -> attribute installed; event `uninstalled`
    FF 0A / FF 09 / FF 16  firmware, hardware, serial -> attributes

No downlinks: heating only listens to a window contact.
"""

from __future__ import annotations

from leitstand.devicetypes.codecs._milesight import Channels, Collected, not_our_port, read_channels
from leitstand.devicetypes.codecs.registry import Codec, CodecError, Decoded, DecodedEvent, UplinkContext
from leitstand.ingest.message import CommandRequest

KEY = "milesight-ws301"


def _battery(data: bytes, into: Collected) -> None:
    if data[0] > 100:
        raise CodecError("bad_value", f"battery {data[0]} % is more than 100 %")
    into.reading("battery", float(data[0]))


def _contact(data: bytes, into: Collected) -> None:
    into.reading("window_open", data[0] == 1)
    if data[0] == 1:
        into.events.append(DecodedEvent("window_open"))


def _tamper(data: bytes, into: Collected) -> None:
    into.attributes["installed"] = data[0] == 0
    if data[0] == 1:
        into.events.append(DecodedEvent("uninstalled"))


CHANNELS: Channels = {(0x01, 0x75): (1, _battery), (0x03, 0x00): (1, _contact), (0x04, 0x00): (1, _tamper)}


def decode_uplink(payload: bytes, context: UplinkContext) -> Decoded:
    return not_our_port(context.port, payload) or read_channels(payload, CHANNELS, context.received_at).decoded()


def encode_downlink(command: CommandRequest) -> bytes:
    raise CodecError("unknown_command", f"{KEY} takes no commands, not {command.name!r}")


CODEC = Codec(key=KEY, description="Milesight WS301 door/window contact (LoRaWAN, fPort 85)",
              decoder=decode_uplink, encoder=encode_downlink)
