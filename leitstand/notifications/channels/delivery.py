"""What every channel shares: the notification it carries and the result of one attempt."""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leitstand.clock import clock
from leitstand.devicetypes.spec import Severity


class Channel(enum.StrEnum):
    push = "push"
    email = "email"
    webhook = "webhook"


class Outcome(enum.StrEnum):
    delivered = "delivered"
    # This attempt failed; the target may still work later (see `retry_at` for webhooks).
    failed = "failed"
    # The target no longer exists, e.g. the browser dropped its push subscription:
    # the caller deletes it instead of trying again.
    gone = "gone"
    # Every attempt the retry policy allows has failed; the delivery goes to the dead-letter list.
    dead_lettered = "dead_lettered"


@dataclass(frozen=True)
class Notification:
    """One message about one event, worded in the recipient's language.

    `tag` is the dedupe key: a newer notification with the same tag replaces an older
    one that has not been read yet (the same alarm updated, not a second alarm).
    `data` holds language-neutral facts (alarm id, device id, error code) for
    receivers that act on them rather than show them.
    """

    title: str
    body: str
    severity: Severity
    url: str = ""
    tag: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "body": self.body,
            "severity": self.severity.value,
            "url": self.url,
            "tag": self.tag,
            "data": dict(self.data),
        }


@dataclass(frozen=True)
class DeliveryResult:
    """How one delivery attempt went. `at` is when it finished, by the platform clock."""

    channel: Channel
    target: str
    outcome: Outcome
    latency_ms: float
    at: datetime
    attempts: int = 1
    status_code: int | None = None
    detail: str = ""
    retry_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.delivered


class Stopwatch:
    """Latency of one attempt. A monotonic counter, because tests freeze the platform clock."""

    def __init__(self) -> None:
        self._started = time.perf_counter()

    def result(self, channel: Channel, target: str, outcome: Outcome, **details: Any) -> DeliveryResult:
        latency_ms = (time.perf_counter() - self._started) * 1000
        return DeliveryResult(channel=channel, target=target, outcome=outcome, latency_ms=latency_ms,
                              at=clock.now(), **details)
