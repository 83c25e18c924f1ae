"""The native topic scheme, version 1: MQTT topics, and the same channels below HTTP ingest's URL.

A device talks only under its own serial number:

    ls/v1/{serial}/up/telemetry               device → platform: measured values
    ls/v1/{serial}/up/attributes              device → platform: firmware, configuration
    ls/v1/{serial}/up/events                  device → platform: error codes, button presses
    ls/v1/{serial}/up/heartbeat               device → platform: "I am alive"
    ls/v1/{serial}/up/commands/{command_id}   device → platform: result of a command
    ls/v1/{serial}/down/commands/{command_id} platform → device: a command request

The broker's ACL confines each device to `ls/v1/{its serial}/up/#` (publish) and
`ls/v1/{its serial}/down/#` (subscribe), so the serial in an uplink topic is the
authenticated identity of the sender. This module is the only place that knows the
layout; everything else asks it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

PREFIX = "ls/v1"
# MQTT wildcards and separators cannot appear inside one topic level; "$" would make a
# topic a broker-internal one. A serial or command id containing them is unaddressable.
_FORBIDDEN = frozenset("/+#$\x00")
MAX_SERIAL = 64  # devices.serial_number
MAX_COMMAND_ID = 32  # commands.public_id


class Channel(enum.StrEnum):
    """The kinds of uplink topics."""

    telemetry = "telemetry"
    attributes = "attributes"
    events = "events"
    heartbeat = "heartbeat"
    commands = "commands"  # a command result: ls/v1/{serial}/up/commands/{command_id}


class TopicError(ValueError):
    """A topic outside the scheme.

    serial: the sender, when the topic lies below `ls/v1/{serial}/up`: only that device may
    publish there, so a refusal of such a topic is still counted on it.
    """

    def __init__(self, message: str, serial: str | None = None) -> None:
        super().__init__(message)
        self.serial = serial


@dataclass(frozen=True, slots=True)
class Uplink:
    """A parsed uplink topic."""

    serial: str
    channel: Channel
    command_id: str | None = None


def is_topic_level(value: str, max_length: int = MAX_SERIAL) -> bool:
    """True if `value` can stand as one level of a topic (a serial or a command id)."""
    return 0 < len(value) <= max_length and not (_FORBIDDEN & set(value))


def uplink(serial: str, channel: Channel | str, command_id: str | None = None) -> str:
    channel = Channel(channel)
    if channel == Channel.commands:
        if command_id is None:
            raise TopicError("a command result topic needs the command id")
        return f"{PREFIX}/{serial}/up/commands/{command_id}"
    return f"{PREFIX}/{serial}/up/{channel}"


def command_topic(serial: str, command_id: str) -> str:
    """Where a command request for a device is published."""
    return f"{PREFIX}/{serial}/down/commands/{command_id}"


def command_subscription(serial: str) -> str:
    """What a device subscribes to, to receive its commands."""
    return f"{PREFIX}/{serial}/down/commands/+"


def device_publish_filter(serial: str) -> str:
    """The one filter a device may publish under."""
    return f"{PREFIX}/{serial}/up/#"


def device_subscribe_filter(serial: str) -> str:
    """The one filter a device may subscribe under."""
    return f"{PREFIX}/{serial}/down/#"


ALL_UPLINKS = f"{PREFIX}/+/up/#"
ALL_DOWNLINKS = f"{PREFIX}/+/down/#"


def ingest_subscription(shared_group: str = "") -> str:
    """What ingest workers subscribe to: all uplinks, shared across a group of workers
    when one is named (each message then goes to one worker of the group)."""
    if shared_group:
        if not is_topic_level(shared_group, max_length=200):
            raise TopicError(f"shared subscription group {shared_group!r} is not a single topic level")
        return f"$share/{shared_group}/{ALL_UPLINKS}"
    return ALL_UPLINKS


def parse_uplink(topic: str) -> Uplink:
    """Split an uplink topic; raise TopicError for anything outside the scheme."""
    levels = topic.split("/")
    # `ls/v1/{serial}/up` itself matches the device's `…/up/#` too, so it is the device's topic.
    if len(levels) < 4 or f"{levels[0]}/{levels[1]}" != PREFIX or levels[3] != "up":
        raise TopicError(f"not an uplink topic of {PREFIX}: {topic!r}")
    serial = levels[2]
    if not is_topic_level(serial):
        raise TopicError(f"invalid serial number in topic {topic!r}")
    return _channel_of(serial, levels[4:])


def parse_uplink_path(serial: str, path: str) -> Uplink:
    """The channel below `ls/v1/{serial}/up/` named by `path`, as HTTP ingest's URL names it
    for its authenticated device: refused as the same publish would be, naming the serial."""
    return _channel_of(serial, path.split("/") if path else [])


def _channel_of(serial: str, levels: list[str]) -> Uplink:
    if not levels:
        raise TopicError(f"no channel after {PREFIX}/{serial}/up", serial)
    try:
        channel = Channel(levels[0])
    except ValueError:
        raise TopicError(f"unknown uplink channel {levels[0][:40]!r}", serial) from None
    below = "/".join(levels)
    if channel == Channel.commands:
        if len(levels) != 2 or not is_topic_level(levels[1], MAX_COMMAND_ID):
            raise TopicError(f"a command result goes to {PREFIX}/{{serial}}/up/commands/{{command_id}}, not "
                             f"{PREFIX}/{serial}/up/{below!r}", serial)
        return Uplink(serial, channel, levels[1])
    if len(levels) != 1:
        raise TopicError(f"unexpected levels after {channel} in {PREFIX}/{serial}/up/{below!r}", serial)
    return Uplink(serial, channel)


def parse_command_topic(topic: str) -> tuple[str, str]:
    """(serial, command_id) of a downlink command topic; used by device-side code."""
    levels = topic.split("/")
    if (len(levels) != 6 or f"{levels[0]}/{levels[1]}" != PREFIX or levels[3] != "down"
            or levels[4] != "commands" or not is_topic_level(levels[2]) or not is_topic_level(levels[5], MAX_COMMAND_ID)):
        raise TopicError(f"not a command topic: {topic!r}")
    return levels[2], levels[5]


def filter_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (`+` one level, `#` the rest), for brokers that need it by hand."""
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return index == len(filter_levels) - 1
        if index >= len(topic_levels) or level not in ("+", topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)


def filter_within(requested: str, allowed: str) -> bool:
    """True if every topic matched by the filter `requested` is also matched by `allowed`.

    Used for subscriptions: a device asking for `ls/v1/+/down/#` must not pass because
    its own `ls/v1/S/down/#` would match the literal text.
    """
    requested_levels = requested.split("/")
    allowed_levels = allowed.split("/")
    for index, level in enumerate(allowed_levels):
        if level == "#":
            return index == len(allowed_levels) - 1
        if index >= len(requested_levels):
            return False
        wanted = requested_levels[index]
        if wanted == "#":
            return False  # requests more levels than `allowed` covers
        if level == "+":
            continue
        if wanted != level:  # includes wanted == "+" against a literal level
            return False
    return len(requested_levels) == len(allowed_levels)
