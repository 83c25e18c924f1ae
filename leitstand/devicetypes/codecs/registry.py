"""The codec registry: codec keys, as device-type TOMLs name them, to codecs.

A codec module in this package registers itself by defining a module-level `CODEC`.
The registry finds every such module the first time a key is looked up, so adding a
codec is adding one file: no central list to edit. Two modules claiming one key is a
programming error, refused when the registry is built.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

from leitstand.ingest.message import BindingKey, CommandRequest, DeviceMessage, MessageKind, Reading

if TYPE_CHECKING:
    from leitstand.devicetypes.spec import DeviceTypeSpec

# The codec of a type whose TOML names none: the native Leitstand JSON v1 protocol.
DEFAULT_CODEC_KEY = "leitstand-json-v1"
CODEC_KEY_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"


class CodecError(ValueError):
    """A payload the codec cannot turn into anything (or a command it cannot encode).

    `reason` is one of ingest's refusal reasons ("malformed", "bad_value",
    "unknown_command"), so a transport counts the refusal like any other.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class UnknownCodec(LookupError):
    """A codec key no module in `leitstand.devicetypes.codecs` registers."""


@dataclass(frozen=True, slots=True)
class UplinkContext:
    """What the transport knows of an uplink besides its bytes."""

    received_at: datetime
    port: int | None = None  # the LoRaWAN fPort; None for transports without ports


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    code: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decoded:
    """The canonical parts of one uplink: readings (in the units the type declares),
    attributes and events. `warnings` name bytes the codec skipped, e.g. a field a
    newer firmware added: the rest of the payload is still good."""

    readings: tuple[Reading, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    events: tuple[DecodedEvent, ...] = ()
    warnings: tuple[str, ...] = ()

    def messages(self, serial: str, received_at: datetime, binding: BindingKey | None = None) -> list[DeviceMessage]:
        """The device messages a transport hands to ingest for this uplink; `binding`: how the
        transport names the device (a DevEUI on its connection), else the native serial."""
        found: list[DeviceMessage] = []
        common = {"serial": serial, "received_at": received_at, "binding": binding}
        if self.readings:
            found.append(DeviceMessage(kind=MessageKind.telemetry, readings=self.readings, **common))
        if self.attributes:
            found.append(DeviceMessage(kind=MessageKind.attributes, attributes=dict(self.attributes), **common))
        found.extend(DeviceMessage(kind=MessageKind.event, event_code=event.code, event_data=dict(event.data), **common)
                     for event in self.events)
        return found


Decoder = Callable[[bytes, UplinkContext], Decoded]
Encoder = Callable[[CommandRequest], bytes]


def _native_only(*_: Any) -> Any:
    raise CodecError("malformed", "this type speaks the native Leitstand JSON protocol, which its transport decodes")


@dataclass(frozen=True)
class Codec:
    """Pure functions between a device's bytes and canonical parts: no I/O, no clock.

    `native`: the type's transport carries canonical messages already (the Leitstand
    JSON v1 protocol over MQTT or HTTP), so there is nothing to decode here; its
    functions refuse every payload with a `CodecError`.
    """

    key: str
    description: str
    decoder: Decoder = _native_only
    encoder: Encoder = _native_only
    native: bool = False
    # The LoRaWAN fPort its downlinks go on (None: a transport without ports); a model that
    # picks the port per command gives `downlink_ports` by command name.
    downlink_port: int | None = None
    downlink_ports: Mapping[str, int] = field(default_factory=dict)

    def port_for(self, command: CommandRequest) -> int | None:
        return self.downlink_ports.get(command.name, self.downlink_port)

    def decode_uplink(self, payload: bytes, context: UplinkContext) -> Decoded:
        """One uplink's canonical parts. Raises `CodecError`, never anything else: a
        codec's slip on odd bytes (an index out of range, say) is a malformed payload."""
        try:
            return self.decoder(bytes(payload), context)
        except CodecError:
            raise
        except Exception as error:  # noqa: BLE001 - a codec bug on device bytes must not take the worker down
            raise CodecError("malformed", f"{self.key}: {type(error).__name__}: {error}") from error

    def encode_downlink(self, command: CommandRequest) -> bytes:
        """The bytes that tell the device `command`. Raises `CodecError`."""
        try:
            return self.encoder(command)
        except CodecError:
            raise
        except Exception as error:  # noqa: BLE001 - as above, for parameters the codec did not foresee
            raise CodecError("bad_value", f"{self.key}: {type(error).__name__}: {error}") from error


def discover(package: ModuleType) -> dict[str, Codec]:
    """Every `CODEC` the modules of `package` define, by key."""
    found: dict[str, Codec] = {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        codec = getattr(module, "CODEC", None)
        if codec is None:
            continue
        if not isinstance(codec, Codec):
            raise TypeError(f"{module.__name__}.CODEC is not a Codec")
        if codec.key in found:
            raise ValueError(f"codec key {codec.key!r} is registered twice ({module.__name__})")
        found[codec.key] = codec
    return found


@lru_cache(maxsize=1)
def registered() -> Mapping[str, Codec]:
    """The codecs of this package, by key (found once, then cached)."""
    from leitstand.devicetypes import codecs

    return discover(codecs)


def codec_named(key: str) -> Codec:
    """The codec registered under `key`; `UnknownCodec` if none is."""
    try:
        return registered()[key]
    except KeyError:
        known = ", ".join(sorted(registered()))
        raise UnknownCodec(f"unknown codec {key!r} (registered: {known})") from None


def codec_for(spec: DeviceTypeSpec) -> Codec:
    """The codec the type declares. Its key was checked when the type was loaded."""
    return codec_named(spec.codec)
