"""What the ingest pipeline needs from the floors above it, named here so it need not import them.

Telemetry stores a batch's points, state its devices' live state and events, commands
record a device's answer, licences say who may ingest, and state counts refusals. Each
of those domains implements its port in its own `ingest.py`; the composition root
(`leitstand.app.ingest_ports`) bundles them into an `IngestPorts` and hands that to the
`Ingestor`. Every port works inside the batch's transaction: it writes through the
session it is given and never commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import Select, SQLColumnExpression
from sqlalchemy.orm import Session

from leitstand.ingest.events import KnownDevice
from leitstand.ingest.message import DeviceMessage

# A refusal to count: (device id, or None for a stranger; RejectReason; detail).
Refusal = tuple[int | None, str, str]
# A live update for the open pages of a tenant: (tenant id, update).
LiveUpdate = tuple[int, dict[str, Any]]


class DeviceUpdate:
    """What one batch changes about one device's live state."""

    def __init__(self, device: KnownDevice) -> None:
        self.device = device
        self.last_seen: datetime | None = None
        self.latest: dict[str, tuple[datetime, Any]] = {}
        self.attributes: dict[str, Any] = {}

    def seen(self, at: datetime) -> None:
        self.last_seen = max(self.last_seen or at, at)

    def value(self, key: str, at: datetime, value: Any) -> None:
        current = self.latest.get(key)
        if current is None or at >= current[0]:
            self.latest[key] = (at, value)


class StagedBatch(Protocol):
    """What a batch has staged when it is written: the writer's own collections.

    updates: per device id, what the batch changes about its live state.
    events: the events to store, as rows of device_events; a port may add the ones it derives.
    live_updates: what goes out to open pages after the commit; a port may add to them.
    """

    @property
    def updates(self) -> Mapping[int, DeviceUpdate]: ...

    @property
    def events(self) -> list[dict[str, Any]]: ...

    @property
    def live_updates(self) -> list[LiveUpdate]: ...


class WritePoints(Protocol):
    """Telemetry's side: a batch's readings as points, stored in one go."""

    @property
    def point(self) -> Callable[[int, str, datetime, Any, str, str, datetime | None], object]:
        """Builds one point per reading: (device id, key, at, value, time zone, status, interval end).
        The writer makes them, so they reach it in the form it stores, without a copy."""
        ...

    def write(self, db: Session, points: Sequence[Any]) -> int:
        """Store the points; returns how many were new (a point stored already is skipped)."""
        ...


class WriteStates(Protocol):
    def __call__(self, db: Session, batch: StagedBatch) -> None:
        """Store the batch's live device states and then its events. Adds the events the states imply
        (a device coming online, a state key changing) and the live updates of the devices."""


class AnswerCommand(Protocol):
    def __call__(self, db: Session, device: KnownDevice, message: DeviceMessage) -> str | None:
        """Record the device's answer (a command result message) to one of its commands. Returns the
        command's new status, or None if the answer changed nothing (late, repeated or without an
        outcome). Raises Rejection if the device has no such command."""


class CountRejections(Protocol):
    def __call__(self, db: Session, refusals: Sequence[Refusal]) -> None:
        """Count refused messages on their devices (and log them); a stranger's are only logged."""


class Licenses(Protocol):
    """Which devices may ingest, from their licence's terms.

    The rule for historic values: a licence is asked about the day of ingest, never about a
    reading's time. A batch source backfilling years for a device licensed today is accepted,
    also for the years before the licence began; a device whose licence has ended loses even
    readings from while it was active (only its heartbeats are processed).
    """

    def with_terms(self, query: Select, device_id: SQLColumnExpression[int]) -> Select:
        """The device directory's query with two more columns: each device's licence start and end
        (None for a device without a licence)."""
        ...

    def licensed_on(self, device: KnownDevice, day: date) -> bool:
        """Whether the device's licence (its terms as the directory read them) is active on `day`."""
        ...


@dataclass(frozen=True, slots=True)
class IngestPorts:
    """Everything the pipeline writes or asks beyond devices and their types, one port per domain."""

    points: WritePoints
    states: WriteStates
    answer_command: AnswerCommand
    count_rejections: CountRejections
    licenses: Licenses
