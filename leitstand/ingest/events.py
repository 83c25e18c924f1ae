"""What a committed ingest batch tells the floors above: the `IngestedBatch`.

The pipeline builds one per committed batch, from what its writer collected anyway, and
hands it to its subscribers (the alarm rules, say). A subscriber reads only this type,
never the writer, so ingest need not know who listens: the composition root
(leitstand.runtime) decides that. A batch that did not commit is never announced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leitstand.devicetypes.service import UnknownCodeSighting
from leitstand.devicetypes.spec import DeviceTypeSpec


@dataclass(frozen=True)
class KnownDevice:
    """A device as ingest knows it (cached between batches): the context of what it reported."""

    id: int
    serial: str
    tenant_id: int
    time_zone: str
    type_spec: DeviceTypeSpec
    license_starts: Any
    license_ends: Any
    decommissioned: bool
    # For rule selection after the batch (leitstand.alarms): who the device belongs to.
    name: str = ""
    tenant_path: str = ""
    site_id: int | None = None
    site_path: str | None = None


@dataclass(frozen=True, slots=True)
class IngestedEvent:
    """An event the batch stored: a device's own (kind "event" or "error"), or one ingest
    derived (kind "connectivity" when a device comes online, "state" when a state key changes)."""

    device_id: int
    kind: str
    code: str
    at: datetime
    severity: str = ""
    data: Mapping[str, Any] | None = None
    unknown_code: bool = False  # a code its type's catalogue lacks


@dataclass(frozen=True)
class IngestedBatch:
    """One committed batch, per device that took part in it.

    devices: every device with an accepted message, by id.
    last_seen: when each of them was last heard from in this batch (its latest receive time).
    latest: per device the newest value per telemetry key, key -> (at, value); only keys
        the batch brought (its readings may be older than what is stored already).
    events: the stored events, in order.
    unknown_codes: per device type and code outside its catalogue, the batch's sightings.
    """

    devices: Mapping[int, KnownDevice]
    last_seen: Mapping[int, datetime | None]
    latest: Mapping[int, Mapping[str, tuple[datetime, Any]]]
    events: Sequence[IngestedEvent]
    unknown_codes: Sequence[UnknownCodeSighting] = ()


# Called after a batch has committed. A failing subscriber is logged, and never fails ingest:
# the batch is stored already.
BatchSubscriber = Callable[[IngestedBatch], Any]
