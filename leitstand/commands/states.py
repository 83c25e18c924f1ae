"""The command status machine: which status may follow which, and what each one records.

A command is *requested* once stored. A transport takes it and it is *sent*; a network that
holds downlinks until the device next listens (a LoRaWAN class A device) has it *queued*
first. The device acknowledges receipt (*delivered*) and answers with its result, *confirmed*
or *failed*. A command without a final answer by its deadline has *expired*. Every transport
maps its delivery feedback onto these seven states.

Feedback arrives late, twice or out of order (a device may answer before the transport has
reported the hand-over), so the machine only moves forward: a step it refuses changes nothing.
Skipping steps is allowed, because not every transport reports every step.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from leitstand.ingest.message import CommandOutcome

MAX_DETAIL = 300


class CommandStatus(enum.StrEnum):
    requested = "requested"
    queued = "queued"  # held by the network server until the device next listens
    sent = "sent"
    delivered = "delivered"
    confirmed = "confirmed"
    failed = "failed"
    expired = "expired"


FINAL_STATUSES = frozenset({CommandStatus.confirmed, CommandStatus.failed, CommandStatus.expired})

# The way to a result, in order: a status may follow any earlier one, and every final status
# may follow any of them. A final status is never left.
PROGRESS = (CommandStatus.requested, CommandStatus.queued, CommandStatus.sent, CommandStatus.delivered)
NEXT_STATUSES: Mapping[CommandStatus, frozenset[CommandStatus]] = {
    **{status: frozenset({*PROGRESS[index + 1:], *FINAL_STATUSES}) for index, status in enumerate(PROGRESS)},
    **{status: frozenset() for status in FINAL_STATUSES},
}

# The timestamp a status sets when reached; every final status sets `finished_at`.
STAMPS: Mapping[CommandStatus, str] = {
    CommandStatus.queued: "queued_at", CommandStatus.sent: "sent_at", CommandStatus.delivered: "delivered_at",
    **{status: "finished_at" for status in FINAL_STATUSES},
}

# A device's own answer, or its network's report. The wire protocol (JSON v1) says
# "succeeded"; that is *confirmed* here.
DEVICE_ANSWERS: Mapping[CommandOutcome, CommandStatus] = {
    CommandOutcome.queued: CommandStatus.queued,
    CommandOutcome.sent: CommandStatus.sent,
    CommandOutcome.delivered: CommandStatus.delivered,
    CommandOutcome.succeeded: CommandStatus.confirmed,
    CommandOutcome.failed: CommandStatus.failed,
}


# The names stored before migration 0015, as exports written before it still carry them.
FORMER_NAMES: Mapping[str, CommandStatus] = {"succeeded": CommandStatus.confirmed, "timed_out": CommandStatus.expired}


class Progressing(Protocol):
    """What the machine reads and writes of a command (the `Command` row)."""

    status: str
    queued_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    finished_at: datetime | None
    detail: str


def may_follow(current: str, new: str) -> bool:
    """Whether a command in status `current` may move to `new`."""
    return CommandStatus(new) in NEXT_STATUSES[CommandStatus(current)]


def preceding(status: CommandStatus) -> frozenset[CommandStatus]:
    """The statuses a command may reach `status` from: the guard of a conditional UPDATE
    where another session (ingest) may move the same command at the same time."""
    return frozenset(current for current, following in NEXT_STATUSES.items() if status in following)


def advance(command: Progressing, new: CommandStatus, at: datetime, detail: str | None = None) -> bool:
    """Move `command` to `new` and stamp when, if the machine allows the step. A refused
    step (late, repeated or backwards) changes nothing and returns False."""
    if not may_follow(command.status, new):
        return False
    command.status = CommandStatus(new).value
    setattr(command, STAMPS[new], at)
    if detail is not None:
        command.detail = detail[:MAX_DETAIL]
    return True


def apply_device_answer(command: Progressing, outcome: CommandOutcome, at: datetime, detail: str = "") -> bool:
    """A device's answer to a command. Whatever it says, the device has the command, so a
    result also stamps delivery if no receipt came first. Only a result carries a detail.
    A network's report (queued, sent) says the device does not have it yet."""
    new = DEVICE_ANSWERS[outcome]
    if new in (CommandStatus.queued, CommandStatus.sent):
        return advance(command, new, at)
    if not advance(command, new, at, None if new == CommandStatus.delivered else detail):
        return False
    command.delivered_at = command.delivered_at or at
    return True


def note_send_failure(command: Progressing, reason: str) -> None:
    """The transport could not take the command: it stays requested, with the reason, until
    it expires."""
    command.detail = f"not sent: {reason}"[:MAX_DETAIL]
