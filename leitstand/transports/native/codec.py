"""The native JSON payloads, version 1, to and from canonical messages: over MQTT and HTTP alike.

`decode()` turns one MQTT uplink (topic + payload) into a `DeviceMessage` or raises
`DecodeError` with a `RejectReason`; `decode_uplink()` does the same for a channel already
parsed (HTTP ingest names it in its URL); `encode_command()` turns a `CommandRequest` into
the downlink topic and payload. The device-side halves (`encode_uplink`,
`decode_command`) serve simulators, benchmarks and tests, so the protocol is written
down exactly once.

The decoder checks shape and syntax only. Whether a key belongs to the device's type,
whether a value is in range and whether a timestamp is plausible is decided by ingest,
which knows the device.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from leitstand.ingest.message import DEVICE_OUTCOMES, CommandRequest, DeviceMessage, MessageKind, Reading, Value
from leitstand.ingest.message import RejectReason
from leitstand.transports.native import topics
from leitstand.transports.native.topics import Channel

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_BATCH_ENTRIES = 500
MAX_KEY_LENGTH = 64  # telemetry.key
MAX_TEXT_LENGTH = 200  # telemetry.txt
MAX_EVENT_CODE_LENGTH = 32
MAX_COMMAND_DETAIL = 300  # commands.detail

_KIND_OF_CHANNEL = {
    Channel.telemetry: MessageKind.telemetry,
    Channel.attributes: MessageKind.attributes,
    Channel.events: MessageKind.event,
    Channel.heartbeat: MessageKind.heartbeat,
    Channel.commands: MessageKind.command_result,
}
# Every field a payload may carry. Anything else is refused: the protocol is versioned
# in the topic (ls/v1), so a new field means a new version, not a silent drop.
_FIELDS = {
    Channel.telemetry: frozenset({"ts", "values", "batch"}),
    Channel.attributes: frozenset({"ts", "attributes"}),
    Channel.events: frozenset({"ts", "code", "data"}),
    Channel.heartbeat: frozenset({"ts"}),
    Channel.commands: frozenset({"ts", "status", "detail"}),
}
_BATCH_ENTRY_FIELDS = frozenset({"ts", "values"})


class DecodeError(ValueError):
    """An uplink that can never become a message. `reason` is a `RejectReason`."""

    def __init__(self, reason: str, detail: str, serial: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.serial = serial  # known when the topic was readable, so the refusal counts on the device


# --- decoding (platform side) ---------------------------------------------------------


def decode(topic: str, payload: bytes, received_at: datetime) -> DeviceMessage:
    """One MQTT uplink as a canonical message. Raises DecodeError."""
    try:
        up = topics.parse_uplink(topic)
    except topics.TopicError as error:
        raise DecodeError(RejectReason.malformed, str(error), error.serial) from None
    return _decode_uplink(up, payload, received_at)


def decode_below(serial: str, path: str, payload: bytes, received_at: datetime) -> DeviceMessage:
    """One uplink of an authenticated device on the channel `path` names (what follows `up/`
    in the MQTT topic; HTTP ingest's URL). Raises DecodeError as `decode` does."""
    try:
        up = topics.parse_uplink_path(serial, path)
    except topics.TopicError as error:
        raise DecodeError(RejectReason.malformed, str(error), error.serial) from None
    return _decode_uplink(up, payload, received_at)


def _decode_uplink(up: topics.Uplink, payload: bytes, received_at: datetime) -> DeviceMessage:
    try:
        return _decode_body(up, payload, received_at)
    except DecodeError as error:
        error.serial = up.serial
        raise


def _decode_body(up: topics.Uplink, payload: bytes, received_at: datetime) -> DeviceMessage:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError(RejectReason.oversized, f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    kind = _KIND_OF_CHANNEL[up.channel]
    if up.channel == Channel.heartbeat and not payload.strip():
        return DeviceMessage(serial=up.serial, kind=kind, received_at=received_at)
    body = _parse_json(payload)
    if not isinstance(body, dict):
        raise DecodeError(RejectReason.malformed, f"payload must be a JSON object, not {type(body).__name__}")
    unknown = set(body) - _FIELDS[up.channel]
    if unknown:
        raise DecodeError(RejectReason.malformed, f"unknown field(s) for {up.channel}: {', '.join(sorted(unknown))}")
    if up.channel == Channel.telemetry:
        return DeviceMessage(serial=up.serial, kind=kind, received_at=received_at,
                             readings=_telemetry(body, received_at))
    # The device's own time of the message; ingest falls back to received_at without it.
    base = {"serial": up.serial, "kind": kind, "received_at": received_at,
            "sent_at": parse_time(body["ts"]) if "ts" in body else None}
    if up.channel == Channel.attributes:
        attributes = body.get("attributes")
        if not isinstance(attributes, dict) or not attributes:
            raise DecodeError(RejectReason.malformed, "attributes must be a non-empty object")
        _check_keys(attributes, "attribute")
        return DeviceMessage(**base, attributes=attributes)
    if up.channel == Channel.events:
        code = body.get("code")
        if not isinstance(code, str) or not 0 < len(code) <= MAX_EVENT_CODE_LENGTH:
            raise DecodeError(RejectReason.malformed, f"code must be a string of 1 to {MAX_EVENT_CODE_LENGTH} characters")
        data = body.get("data", {})
        if not isinstance(data, dict):
            raise DecodeError(RejectReason.malformed, "data must be an object")
        return DeviceMessage(**base, event_code=code, event_data=data)
    if up.channel == Channel.heartbeat:
        return DeviceMessage(**base)
    # command result
    outcome = next((known for known in DEVICE_OUTCOMES if known == body.get("status")), None)
    if outcome is None:
        raise DecodeError(RejectReason.malformed, f"status must be one of {', '.join(DEVICE_OUTCOMES)}")
    detail = body.get("detail", "")
    if not isinstance(detail, str):
        raise DecodeError(RejectReason.malformed, "detail must be a string")
    # A long explanation must not cost the result itself: keep what fits.
    return DeviceMessage(**base, command_id=up.command_id, command_outcome=outcome,
                         command_detail=detail[:MAX_COMMAND_DETAIL])


def _parse_json(payload: bytes) -> Any:
    """orjson: several times faster than json on the hot path, and strict where we must be:
    NaN, Infinity and numbers beyond the float range (1e999) are refused, not parsed."""
    try:
        return orjson.loads(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise DecodeError(RejectReason.malformed, "payload is not UTF-8") from None
    except orjson.JSONDecodeError as error:  # also: nesting deeper than 1024
        raise DecodeError(RejectReason.malformed, f"not valid JSON: {str(error)[:120]}") from None


def _telemetry(body: dict[str, Any], received_at: datetime) -> tuple[Reading, ...]:
    if "batch" in body:
        if "values" in body or "ts" in body:
            raise DecodeError(RejectReason.malformed, "a payload has either batch or ts/values, not both")
        entries = body["batch"]
        if not isinstance(entries, list) or not entries:
            raise DecodeError(RejectReason.malformed, "batch must be a non-empty array")
        if len(entries) > MAX_BATCH_ENTRIES:
            raise DecodeError(RejectReason.oversized, f"batch of {len(entries)} entries exceeds {MAX_BATCH_ENTRIES}")
        readings: list[Reading] = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise DecodeError(RejectReason.malformed, f"batch[{index}] must be an object")
            unknown = set(entry) - _BATCH_ENTRY_FIELDS
            if unknown:
                raise DecodeError(RejectReason.malformed, f"unknown field(s) in batch[{index}]: {', '.join(sorted(unknown))}")
            if "ts" not in entry:
                # Entries without their own time would all land on one instant.
                raise DecodeError(RejectReason.malformed, f"batch[{index}] has no ts")
            readings.extend(_readings(entry.get("values"), parse_time(entry["ts"])))
        return tuple(readings)
    return tuple(_readings(body.get("values"), _optional_time(body, received_at)))


def _readings(values: Any, at: datetime) -> list[Reading]:
    if not isinstance(values, dict) or not values:
        raise DecodeError(RejectReason.malformed, "values must be a non-empty object")
    _check_keys(values, "telemetry key")
    return [Reading(key=key, at=at, value=_value(key, value)) for key, value in values.items()]


def _check_keys(mapping: Mapping[str, Any], what: str) -> None:
    for key in mapping:
        if not 0 < len(key) <= MAX_KEY_LENGTH:
            raise DecodeError(RejectReason.malformed, f"{what} names are 1 to {MAX_KEY_LENGTH} characters")


def _value(key: str, value: Any) -> Value:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            raise DecodeError(RejectReason.malformed, f"{key}: number out of range") from None
        if not math.isfinite(number):  # 1e999 parses to inf
            raise DecodeError(RejectReason.malformed, f"{key}: number out of range")
        return number
    if isinstance(value, str):
        if len(value) > MAX_TEXT_LENGTH:
            raise DecodeError(RejectReason.malformed, f"{key}: text longer than {MAX_TEXT_LENGTH} characters")
        return value
    kind = "null" if value is None else type(value).__name__
    raise DecodeError(RejectReason.malformed, f"{key}: a value is a number, a string or a boolean, not {kind}")


def _optional_time(body: dict[str, Any], default: datetime) -> datetime:
    return parse_time(body["ts"]) if "ts" in body else default


def parse_time(value: Any) -> datetime:
    """An ISO-8601 time with offset ("2025-03-01T12:00:00Z") or epoch milliseconds, as UTC."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DecodeError(RejectReason.malformed, "ts must be an ISO-8601 string or epoch milliseconds")
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise DecodeError(RejectReason.bad_timestamp, f"ts {value[:40]!r} is not ISO-8601") from None
        if at.tzinfo is None:
            # A device's local time without offset is ambiguous twice a year; refuse it.
            raise DecodeError(RejectReason.bad_timestamp, f"ts {value[:40]!r} has no UTC offset")
        return at.astimezone(UTC)
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise DecodeError(RejectReason.bad_timestamp, f"ts {value} ms is out of range") from None


# --- encoding (platform side) ---------------------------------------------------------


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_command(request: CommandRequest) -> tuple[str, bytes]:
    """The downlink topic and payload of a command request."""
    body = {"id": request.command_id, "command": request.name, "parameters": request.parameters,
            "expires": format_time(request.expires_at)}
    return topics.command_topic(request.serial, request.command_id), _dump(body)


# --- the device side: simulators, benchmarks, tests -------------------------------------


def encode_uplink(message: DeviceMessage) -> tuple[str, bytes]:
    """What a device would publish to produce `message`. Readings with more than one
    timestamp become a batch."""
    serial = message.serial
    if message.kind == MessageKind.telemetry:
        by_time: dict[datetime, dict[str, Value]] = {}
        for reading in message.readings:
            by_time.setdefault(reading.at, {})[reading.key] = reading.value
        if not by_time:
            raise ValueError("a telemetry message needs at least one reading")
        if len(by_time) == 1:
            ((at, values),) = by_time.items()
            body: dict[str, Any] = {"ts": format_time(at), "values": values}
        else:
            body = {"batch": [{"ts": format_time(at), "values": values} for at, values in by_time.items()]}
        return topics.uplink(serial, Channel.telemetry), _dump(body)
    stamp = {"ts": format_time(message.sent_at)} if message.sent_at else {}
    if message.kind == MessageKind.attributes:
        return topics.uplink(serial, Channel.attributes), _dump({**stamp, "attributes": message.attributes})
    if message.kind == MessageKind.event:
        body = {**stamp, "code": message.event_code, "data": message.event_data}
        return topics.uplink(serial, Channel.events), _dump(body)
    if message.kind == MessageKind.heartbeat:
        return topics.uplink(serial, Channel.heartbeat), _dump(stamp) if stamp else b""
    if message.command_id is None or message.command_outcome is None:
        raise ValueError("a command result needs command_id and command_outcome")
    body = {**stamp, "status": str(message.command_outcome), "detail": message.command_detail}
    return topics.uplink(serial, Channel.commands, message.command_id), _dump(body)


def decode_command(topic: str, payload: bytes) -> CommandRequest:
    """A command request as the device receives it. Raises DecodeError."""
    try:
        serial, command_id = topics.parse_command_topic(topic)
    except topics.TopicError as error:
        raise DecodeError(RejectReason.malformed, str(error)) from None
    body = _parse_json(payload)
    if not isinstance(body, dict) or body.get("id") != command_id or not isinstance(body.get("command"), str):
        raise DecodeError(RejectReason.malformed, "a command has id (as in the topic), command, parameters, expires")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise DecodeError(RejectReason.malformed, "parameters must be an object")
    return CommandRequest(serial=serial, command_id=command_id, name=body["command"], parameters=parameters,
                          expires_at=parse_time(body.get("expires")))
