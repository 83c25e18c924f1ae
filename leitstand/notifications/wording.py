"""From an alarm change to a notification in the recipient's language.

The change is the alarms domain's `AlarmChange`; an escalation watch keeps it as JSON,
so escalations are worded without the alarm's ORM row.
"""

from __future__ import annotations

from typing import Any

from leitstand.alarms.change import AlarmChange
from leitstand.devicetypes.spec import Severity
from leitstand.formats import format_moment
from leitstand.i18n import LANGUAGES, Message
from leitstand.notifications.channels import Notification

# Steps in a push or mail body: the first few are what someone on the way needs; the
# alarm page has all of them.
MAX_STEPS = 3

def alarm_notification(facts: AlarmChange, language: str, public_url: str, *,
                       escalated_after_minutes: int | None = None, time_zone: str = "UTC") -> Notification:
    language = language if language in LANGUAGES else "en"
    title = (facts.title_de if language == "de" and facts.title_de else facts.title) or facts.title_de
    steps = facts.steps_de if language == "de" and facts.steps_de else facts.steps_en
    heading = f"{facts.device_name}: {title}"
    lines = [Message("Since %(time)s", time=format_moment(facts.raised_at, time_zone, language)).in_language(language)]
    if facts.location:
        lines.insert(0, facts.location)
    if escalated_after_minutes is not None:
        heading = f"{Message('Escalation').in_language(language)}: {heading}"
        lines.insert(0, Message("Not acknowledged for %(minutes)s minutes.",
                                minutes=escalated_after_minutes).in_language(language))
    if steps:
        lines += ["", Message("First steps:").in_language(language), *(f"{number}. {step}" for number, step in enumerate(steps[:MAX_STEPS], 1))]
    return Notification(
        title=heading, body="\n".join(lines), severity=Severity(facts.severity),
        url=f"{public_url.rstrip('/')}/alarms/{facts.alarm_id}", tag=f"alarm-{facts.alarm_id}",
        data={"alarm_id": facts.alarm_id, "device_id": facts.device_id, "site_id": facts.site_id,
              "location": facts.location, "device_type": facts.device_type_key, "severity": facts.severity,
              "state": facts.state,
              "change": "escalated" if escalated_after_minutes is not None else facts.change},
    )


def sample_notification(public_url: str, language: str = "en") -> Notification:
    return Notification(title=Message("Test notification from Leitstand").in_language(language),
                        body=Message("If you read this, the webhook works.").in_language(language), severity=Severity.warning,
                        url=public_url.rstrip("/") + "/notifications", tag="leitstand-test", data={"test": True})


def notification_from_payload(payload: dict[str, Any]) -> Notification:
    """The stored notification of a delivery, for a retry that sends it unchanged."""
    return Notification(title=payload["title"], body=payload["body"], severity=Severity(payload["severity"]),
                        url=payload.get("url", ""), tag=payload.get("tag", ""), data=payload.get("data") or {})
