"""Handing commands to a transport. The command service sees only `CommandSender`."""

from __future__ import annotations

from typing import Protocol

from leitstand.ingest.message import CommandRequest


class SendFailed(RuntimeError):
    """The transport could not take the command (broker down, device unreachable)."""


class CommandSender(Protocol):
    def send(self, request: CommandRequest) -> None:
        """Hand the command to the transport; return once the transport has it."""


class RecordingSender:
    """A transport double: keeps what it was asked to send. Used by tests and by
    installations without a broker, where commands then time out honestly."""

    def __init__(self) -> None:
        self.sent: list[CommandRequest] = []
        self.fail_with: str | None = None

    def send(self, request: CommandRequest) -> None:
        if self.fail_with:
            raise SendFailed(self.fail_with)
        self.sent.append(request)
