"""`AlarmChange`: what happened to an alarm, as a plain frozen value.

The one snapshot of an alarm change: alarm listeners receive it after the commit (no ORM
object, they may run in other threads), the notification domain routes and words it,
and an escalation watch keeps it as JSON to word the escalation later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class AlarmChange:
    alarm_id: int
    tenant_id: int
    site_id: int | None
    device_id: int
    device_name: str
    device_type_key: str
    severity: str
    state: str
    title: str
    title_de: str
    steps_en: tuple[str, ...]
    steps_de: tuple[str, ...]
    raised_at: datetime
    change: str  # raised | updated | acknowledged | cleared | assigned
    received_at: datetime | None = None  # when the device message that caused it arrived
    key: str = ""
    kind: str = ""  # the alarm's kind; a catalogue alarm is not told to the device's sharers
    assignee_id: int | None = None
    location: str = ""  # the site's full path ("Parkhaus Hbf › Einfahrt"), named when routed

    @property
    def event_at(self) -> datetime:
        """When it started: the device message that caused it, else the raise."""
        return self.received_at or self.raised_at

    def as_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["raised_at"] = self.raised_at.isoformat()
        document["received_at"] = self.received_at.isoformat() if self.received_at else None
        document["steps_en"], document["steps_de"] = list(self.steps_en), list(self.steps_de)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> AlarmChange:
        """Also from a document stored before a field was added (it takes its default)."""
        values = dict(document)
        values["raised_at"] = datetime.fromisoformat(values["raised_at"])
        values["received_at"] = datetime.fromisoformat(values["received_at"]) if values.get("received_at") else None
        values["steps_en"], values["steps_de"] = tuple(values["steps_en"]), tuple(values["steps_de"])
        return cls(**values)
