"""Handing commands to a transport. The command service sees only `CommandSender`."""

from __future__ import annotations

import enum
from typing import Protocol

from leitstand.ingest.message import CommandRequest


class Handover(enum.StrEnum):
    """How far a transport got with a command when `send` returned."""

    sent = "sent"  # on its way to the device
    queued = "queued"  # held by the network server until the device next listens (LoRaWAN class A)


class SendFailed(RuntimeError):
    """The transport could not take the command (broker down, device unreachable)."""


class CommandSender(Protocol):
    def send(self, request: CommandRequest) -> Handover | None:
        """Hand the command to the transport; return once the transport has it. None means sent."""


class RecordingSender:
    """A transport double: keeps what it was asked to send. Used by tests and by
    installations without a broker, where commands then time out honestly."""

    def __init__(self) -> None:
        self.sent: list[CommandRequest] = []
        self.fail_with: str | None = None
        self.hand_over_as = Handover.sent  # Handover.queued: act as a network that queues downlinks

    def send(self, request: CommandRequest) -> Handover:
        if self.fail_with:
            raise SendFailed(self.fail_with)
        self.sent.append(request)
        return self.hand_over_as
