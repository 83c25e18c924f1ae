"""What a LoRaWAN network server tells us, in one shape whichever server it is.

ChirpStack v4 (its HTTP integration, `chirpstack.py`) and The Things Stack v3 (its webhooks,
`things_stack.py`) name the same happenings differently. Each parser turns its server's
JSON into one of the events below; everything after that (finding the device, decoding the
bytes with the codec of its type, moving commands along) is the same for both.

The parsers check the shapes they read and raise `BadEvent` for anything else: a missing
DevEUI, a payload that is not base64, a time that is not RFC 3339. Fields a newer server
version adds are ignored; a field at its protobuf default may be missing and reads as that
default.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leitstand.devices.connections import EXTERNAL_IDS

DEV_EUI = EXTERNAL_IDS["lorawan"].pattern
MAX_PAYLOAD_BYTES = 242  # the largest LoRaWAN application payload (EU868 DR7 with no FOpts)


class BadEvent(ValueError):
    """The body is not an event of the documented shape. `reason` is ingest's refusal reason."""

    def __init__(self, detail: str, reason: str = "malformed") -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Link:
    """How the uplink was heard: by the gateway with the strongest signal."""

    gateway_id: str | None = None
    rssi: float | None = None
    snr: float | None = None
    spreading_factor: int | None = None
    frame_counter: int | None = None
    gateways: tuple[str, ...] = ()  # every gateway that heard it


@dataclass(frozen=True, slots=True)
class Uplink:
    dev_eui: str
    event_id: str  # ChirpStack's deduplicationId, TTS's first correlation id
    at: datetime  # the network server's time of the uplink
    port: int | None
    payload: bytes
    link: Link


@dataclass(frozen=True, slots=True)
class Joined:
    """The device (re)joined: the network server flushed its downlink queue."""

    dev_eui: str
    event_id: str
    at: datetime


class DownlinkStep(enum.StrEnum):
    queued = "queued"
    sent = "sent"  # handed to a gateway (ChirpStack txack, TTS downlink_sent)
    acknowledged = "acknowledged"  # the device confirmed a confirmed downlink
    failed = "failed"


@dataclass(frozen=True, slots=True)
class DownlinkReport:
    """What became of one of our downlinks, named by the server's id for it (ChirpStack's
    queue item id) or by the correlation id we gave it (TTS)."""

    dev_eui: str
    event_id: str
    at: datetime
    step: DownlinkStep
    network_ref: str | None = None  # the server's queue item id
    command_id: str | None = None  # ours, where the server hands our correlation ids back
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """The device's answer to the server's status request (ChirpStack `status`)."""

    dev_eui: str
    event_id: str
    at: datetime
    battery_percent: float | None
    margin: int | None


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event Leitstand has no use for (a location fix, a server log line of no interest)."""

    kind: str


NetworkEvent = Uplink | Joined | DownlinkReport | DeviceStatus | Ignored


# --- reading the JSON ----------------------------------------------------------------------


def mapping(body: Any, name: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadEvent(f"{name} must be a JSON object")
    return body


def optional_mapping(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    return mapping(value, key)


def text(body: dict[str, Any], key: str, *, required: bool = True, limit: int = 200) -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise BadEvent(f"{key} is missing")
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise BadEvent(f"{key} must be a string of at most {limit} characters")
    return value


def identifier(body: dict[str, Any], key: str) -> str:
    """An event's id: a UUID string, or a number (ChirpStack's `downlinkId` is a uint32)."""
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(body, key, limit=100)


def dev_eui(value: Any) -> str:
    if not isinstance(value, str) or not DEV_EUI.match(value):
        raise BadEvent("the DevEUI must be 16 hexadecimal digits")
    return value.lower()


def number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadEvent(f"{key} must be a number")
    try:
        return float(value)  # TTS writes 64-bit numbers (a frequency) as strings
    except ValueError:
        raise BadEvent(f"{key} must be a number") from None


def integer(body: dict[str, Any], key: str) -> int | None:
    value = number(body, key)
    if value is None:
        return None
    if value != int(value):
        raise BadEvent(f"{key} must be a whole number")
    return int(value)


def timestamp(body: dict[str, Any], key: str) -> datetime:
    value = text(body, key, limit=40)
    try:
        # RFC 3339 with up to nanoseconds ("2026-12-07T10:00:00.123456789Z"): Python reads microseconds.
        trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00")
        at = datetime.fromisoformat(trimmed)
    except ValueError:
        raise BadEvent(f"{key} must be an RFC 3339 time") from None
    if at.tzinfo is None:
        raise BadEvent(f"{key} must carry its offset")
    return at.astimezone(UTC)


def payload(value: Any) -> bytes:
    if value is None or value == "":
        return b""
    if not isinstance(value, str):
        raise BadEvent("the payload must be base64 text")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadEvent("the payload is not valid base64") from None
    if len(data) > MAX_PAYLOAD_BYTES:
        raise BadEvent(f"the payload has {len(data)} bytes, LoRaWAN carries at most {MAX_PAYLOAD_BYTES}",
                       reason="oversized")
    return data


def strongest(heard: list[tuple[str | None, float | None, float | None]]) -> tuple[str | None, float | None, float | None]:
    """(gateway, rssi, snr) of the gateway that heard the uplink best (highest RSSI)."""
    known = [entry for entry in heard if entry[1] is not None]
    if not known:
        return heard[0] if heard else (None, None, None)
    return max(known, key=lambda entry: entry[1] or 0.0)
