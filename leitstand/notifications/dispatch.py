"""The notifier: alarm changes in, notifications out, without holding up ingest.

A started notifier listens to the alarm changes of its session factory
(`leitstand.alarms.service.ALARM_CHANGES`), so it hears the alarms raised in that factory's
sessions and no other app's; it stops listening when it stops. Hearing a change only
queues it; a small thread pool routes it and sends. A raised alarm is routed and sent;
an acknowledged or cleared one settles its pending escalations.

One notifier runs per process that raises alarms (ingest, scheduler, API): started by
`start_notifier()` from the notifier component of `leitstand.runtime` (and from
`app_without_transports`). The scheduler jobs (webhook retries, escalations) use the
running notifier's sender.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from leitstand.alarms.change import AlarmChange
from leitstand.alarms.service import ALARM_CHANGES
from leitstand.auth.secrets import SecretBox
from leitstand.config import Settings
from leitstand.notifications.channels import Channel, RetryPolicy
from leitstand.notifications.channels.webhook import DEFAULT_RETRY_POLICY
from leitstand.notifications.routing import plan_alarm
from leitstand.notifications.service import (
    Sender,
    SendOutcome,
    escalate_due,
    new_delivery_key,
    record,
    retry_due_webhooks,
    settle_escalations,
    watch_for_escalation,
)
from leitstand.sites.locations import location_path
from leitstand.tenancy.scope import system_session

log = logging.getLogger(__name__)

# Enough to overlap the network waits of many alarms at once; each worker holds at most
# one database connection at a time.
DEFAULT_WORKERS = 8


class Notifier:
    def __init__(self, settings: Settings, factory: sessionmaker[Session], *, workers: int = DEFAULT_WORKERS,
                 policy: RetryPolicy = DEFAULT_RETRY_POLICY, timeout: float = 10.0) -> None:
        self.factory = factory
        self.sender = Sender(settings, SecretBox(settings.resolved_secret_key()), policy=policy, timeout=timeout)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notify")
        self._pending: set[Future[Any]] = set()
        self._idle = threading.Condition()
        self._stopped = False
        self._stop_listening = ALARM_CHANGES.listeners(factory).subscribe(self.submit)

    # --- the queue ----------------------------------------------------------------------

    def submit(self, change: AlarmChange) -> None:
        """Queue one alarm change; returns at once."""
        if self._stopped:
            return
        with self._idle:
            future = self._pool.submit(self.handle, change)
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[Any]) -> None:
        with self._idle:
            self._pending.discard(future)
            self._idle.notify_all()
        if not future.cancelled() and future.exception() is not None:
            log.error("notification routing failed", exc_info=future.exception())

    def _retire(self) -> None:
        """Hear and take no more changes; what is queued still runs."""
        self._stop_listening()
        self._stopped = True
        self._pool.shutdown(wait=False, cancel_futures=False)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every queued change is handled (tests, benchmarks, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout=timeout)

    def stop(self) -> None:
        self._retire()
        self._pool.shutdown(wait=True, cancel_futures=False)
        self.sender.close()

    # --- the work -----------------------------------------------------------------------

    def handle(self, facts: AlarmChange) -> int:
        """Route and send one change; returns how many notifications went out."""
        if facts.change in ("acknowledged", "cleared"):
            with system_session(self.factory, reason="settle alarm escalations") as db:
                settle_escalations(db, facts.alarm_id)
                db.commit()
            return 0
        if facts.change != "raised":
            return 0  # an update of an open alarm is no news to people already told
        with system_session(self.factory, reason="route alarm notifications") as db:
            # The alarm change carries only the site's id; its full name is read once here and
            # kept with the facts on an escalation watch.
            facts = replace(facts, location=location_path(db, facts.site_id) or "")
            plan = plan_alarm(db, facts)
            vapid = self.sender.vapid(db) if any(p.channel == Channel.push for p in plan.deliveries) else None
        # Sent outside the session, so no connection is held during network waits.
        outcomes, keys = [], []
        for planned in plan.deliveries:
            notification = self.sender.word(planned, facts)
            key = new_delivery_key()
            result = self.sender.send(planned, notification, vapid=vapid, delivery_key=key)
            outcomes.append(SendOutcome(planned, notification, result))
            keys.append(key)
        if outcomes or plan.escalating_rules:
            with system_session(self.factory, reason="record alarm notifications") as db:
                record(db, outcomes, tenant_id=facts.tenant_id, alarm_id=facts.alarm_id, reason="alarm",
                       event_at=facts.event_at, keys=keys)
                watch_for_escalation(db, facts, plan.escalating_rules)
                db.commit()
        return len(outcomes)

    # --- scheduler jobs -----------------------------------------------------------------

    def retry_due(self, db: Session) -> int:
        return retry_due_webhooks(db, self.sender)

    def escalate_due(self, db: Session) -> int:
        return escalate_due(db, self.sender)


_current: Notifier | None = None
_lock = threading.Lock()


def current_notifier() -> Notifier | None:
    return _current


def start_notifier(settings: Settings, factory: sessionmaker[Session], **options: Any) -> Notifier:
    """Start this process's notifier (replacing an earlier one), listening to the alarm changes of `factory`."""
    global _current
    notifier = Notifier(settings, factory, **options)
    with _lock:
        previous, _current = _current, notifier
    if previous is not None:
        previous._retire()
    return notifier


def stop_notifier(notifier: Notifier) -> None:
    global _current
    with _lock:
        if _current is notifier:
            _current = None
    notifier.stop()


def retry_job(db: Session) -> int:
    """Scheduler job: due webhook retries (leitstand.scheduler.loop)."""
    notifier = _current
    return notifier.retry_due(db) if notifier is not None else 0


def escalation_job(db: Session) -> int:
    """Scheduler job: escalations of alarms nobody acknowledged in time."""
    notifier = _current
    return notifier.escalate_due(db) if notifier is not None else 0
