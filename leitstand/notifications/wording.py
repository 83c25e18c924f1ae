"""From an alarm to a notification in the recipient's language.

`AlarmFacts` is this domain's own snapshot of an alarm change: built from the
alarms domain's `AlarmChange` (or anything with the same attributes) and kept as
JSON on an escalation watch, so escalations are worded without the alarm's ORM row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from leitstand.devicetypes.spec import Severity
from leitstand.formats import format_moment
from leitstand.notifications.channels import Notification

# Steps in a push or mail body: the first few are what someone on the way needs; the
# alarm page has all of them.
MAX_STEPS = 3

TEXTS = {
    "de": {"since": "Seit {time}", "steps": "Erste Schritte:", "escalated": "Eskalation",
           "unacknowledged": "Seit {minutes} Minuten nicht quittiert.", "test": "Test-Benachrichtigung von Leitstand",
           "test_body": "Wenn Sie dies lesen, kommt der Webhook an."},
    "en": {"since": "Since {time}", "steps": "First steps:", "escalated": "Escalation",
           "unacknowledged": "Not acknowledged for {minutes} minutes.", "test": "Test notification from Leitstand",
           "test_body": "If you read this, the webhook works."},
}


@dataclass(frozen=True)
class AlarmFacts:
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
    change: str
    received_at: datetime | None = None
    kind: str = ""  # the alarm's kind; a catalogue alarm is not told to the device's sharers
    location: str = ""  # the site's full path ("Parkhaus Hbf › Einfahrt"), named when routed

    @classmethod
    def of(cls, change: Any) -> AlarmFacts:
        """From an `AlarmChange` or any object with its attributes."""
        return cls(
            alarm_id=change.alarm_id, tenant_id=change.tenant_id, site_id=change.site_id, device_id=change.device_id,
            device_name=change.device_name, device_type_key=change.device_type_key, severity=str(change.severity),
            state=str(change.state), title=change.title, title_de=getattr(change, "title_de", "") or "",
            steps_en=tuple(getattr(change, "steps_en", ()) or ()), steps_de=tuple(getattr(change, "steps_de", ()) or ()),
            raised_at=change.raised_at, change=str(change.change), received_at=getattr(change, "received_at", None),
            kind=str(getattr(change, "kind", "")),
        )

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
    def from_json(cls, document: dict[str, Any]) -> AlarmFacts:
        values = dict(document)
        values["raised_at"] = datetime.fromisoformat(values["raised_at"])
        values["received_at"] = datetime.fromisoformat(values["received_at"]) if values.get("received_at") else None
        values["steps_en"], values["steps_de"] = tuple(values["steps_en"]), tuple(values["steps_de"])
        return cls(**values)


def alarm_notification(facts: AlarmFacts, language: str, public_url: str, *,
                       escalated_after_minutes: int | None = None, time_zone: str = "UTC") -> Notification:
    language = language if language in TEXTS else "en"
    texts = TEXTS[language]
    title = (facts.title_de if language == "de" and facts.title_de else facts.title) or facts.title_de
    steps = facts.steps_de if language == "de" and facts.steps_de else facts.steps_en
    heading = f"{facts.device_name}: {title}"
    lines = [texts["since"].format(time=format_moment(facts.raised_at, time_zone, language))]
    if facts.location:
        lines.insert(0, facts.location)
    if escalated_after_minutes is not None:
        heading = f"{texts['escalated']}: {heading}"
        lines.insert(0, texts["unacknowledged"].format(minutes=escalated_after_minutes))
    if steps:
        lines += ["", texts["steps"], *(f"{number}. {step}" for number, step in enumerate(steps[:MAX_STEPS], 1))]
    return Notification(
        title=heading, body="\n".join(lines), severity=Severity(facts.severity),
        url=f"{public_url.rstrip('/')}/alarms/{facts.alarm_id}", tag=f"alarm-{facts.alarm_id}",
        data={"alarm_id": facts.alarm_id, "device_id": facts.device_id, "site_id": facts.site_id,
              "location": facts.location, "device_type": facts.device_type_key, "severity": facts.severity,
              "state": facts.state,
              "change": "escalated" if escalated_after_minutes is not None else facts.change},
    )


def sample_notification(public_url: str) -> Notification:
    texts = TEXTS["en"]
    return Notification(title=texts["test"], body=texts["test_body"], severity=Severity.warning,
                        url=public_url.rstrip("/") + "/notifications", tag="leitstand-test", data={"test": True})


def notification_from_payload(payload: dict[str, Any]) -> Notification:
    """The stored notification of a delivery, for a retry that sends it unchanged."""
    return Notification(title=payload["title"], body=payload["body"], severity=Severity(payload["severity"]),
                        url=payload.get("url", ""), tag=payload.get("tag", ""), data=payload.get("data") or {})
