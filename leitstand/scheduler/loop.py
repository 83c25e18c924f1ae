"""The scheduler: periodic jobs, run by exactly one process of an installation.

The jobs are an explicit list. On PostgreSQL the scheduler holds an advisory lock for
as long as it runs, so starting it in several processes is safe: the others wait as
standbys and take over when the holder dies. On SQLite there is one process anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.tenancy.scope import system_session

if TYPE_CHECKING:
    from leitstand.commands.router import CommandRouter

log = logging.getLogger(__name__)
ADVISORY_LOCK_ID = 0x1E175A4D  # "Leitstand scheduler"
Publish = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True)
class JobContext:
    """What a job gets besides its session: where live updates go, and the process's settings."""

    publish: Publish
    settings: Settings
    # The process's command router: jobs that send commands (heating targets) hand them to it.
    commands: CommandRouter | None = None


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    run: Callable[[Session, JobContext], Any]


def _offline(db: Session, context: JobContext) -> int:
    from leitstand.state.service import mark_offline

    updates = mark_offline(db)
    db.commit()
    for tenant_id, update in updates:
        context.publish(tenant_id, update)
    return len(updates)


def _command_timeouts(db: Session, context: JobContext) -> int:
    from leitstand.commands.service import expire_overdue

    expired = expire_overdue(db)
    db.commit()
    return expired


def _license_renewal(db: Session, context: JobContext) -> int:
    from leitstand.licenses.service import renew_due

    renewed = renew_due(db, clock.now().date())
    db.commit()
    return renewed


def _retention(db: Session, context: JobContext) -> Any:
    from leitstand.telemetry.retention import apply_retention

    factory = sessionmaker(db.get_bind(), expire_on_commit=False)
    return apply_retention(factory, clock.now().date())


def _maintenance_due(db: Session, context: JobContext) -> int:
    from leitstand.alarms.service import bind_live
    from leitstand.maintenance.due_alarms import sync_due_alarms

    report = sync_due_alarms(bind_live(db, context.publish))
    db.commit()
    return len(report.raised) + len(report.cleared)


def _partitions(db: Session, context: JobContext) -> None:
    if db.get_bind().dialect.name != "postgresql":
        return
    from leitstand.telemetry.store import ensure_partitions

    today = clock.now().date()
    months = [(today.year + (today.month - 1 + ahead) // 12, (today.month - 1 + ahead) % 12 + 1) for ahead in range(3)]
    with db.get_bind().begin() as connection:
        ensure_partitions(connection, months)


def _alarms(db: Session, context: JobContext) -> int:
    from leitstand.alarms.evaluation import evaluate_time_based
    from leitstand.alarms.service import bind_live

    return evaluate_time_based(bind_live(db, context.publish))


def _notification_retries(db: Session, context: JobContext) -> int:
    from leitstand.notifications.dispatch import retry_job

    return retry_job(db)


def _notification_escalations(db: Session, context: JobContext) -> int:
    from leitstand.notifications.dispatch import escalation_job

    return escalation_job(db)


def _sla_clocks(db: Session, context: JobContext) -> Any:
    from leitstand.support.tickets import watch_sla_clocks

    return watch_sla_clocks(db, context.settings)


def _quiet_throttle_counters(db: Session, context: JobContext) -> int:
    from leitstand.auth.throttle import remove_quiet

    removed = remove_quiet(db, context.settings)
    db.commit()
    return removed


def _token_expiry_reminders(db: Session, context: JobContext) -> int:
    from leitstand.users.service import remind_of_expiring_tokens

    reminded = remind_of_expiring_tokens(db, context.settings)
    db.commit()
    return reminded


def _connection_events(db: Session, context: JobContext) -> int:
    from leitstand.devices.connections import forget_old_events

    forgotten = forget_old_events(db)
    db.commit()
    return forgotten


def _heating_targets(db: Session, context: JobContext) -> int:
    from leitstand.heating.sending import send_due_targets

    if context.commands is None:
        return 0  # a scheduler without transports sends nothing
    return send_due_targets(db, context.settings, context.commands)


def _backup(db: Session, context: JobContext) -> str:
    from leitstand.backups.schedule import run_if_due

    return run_if_due(db, context.settings)


JOBS: tuple[Job, ...] = (
    Job("offline detection", timedelta(seconds=30), _offline),
    Job("command timeouts", timedelta(seconds=5), _command_timeouts),
    Job("alarm rules over time", timedelta(seconds=15), _alarms),
    Job("webhook retries", timedelta(seconds=10), _notification_retries),
    Job("alarm escalations", timedelta(seconds=30), _notification_escalations),
    Job("license renewal", timedelta(hours=1), _license_renewal),
    Job("telemetry retention", timedelta(hours=6), _retention),
    Job("telemetry partitions", timedelta(hours=6), _partitions),
    Job("maintenance due", timedelta(minutes=1), _maintenance_due),
    Job("ticket SLA clocks", timedelta(minutes=1), _sla_clocks),
    Job("backup", timedelta(hours=1), _backup),
    Job("quiet throttle counters", timedelta(minutes=10), _quiet_throttle_counters),
    Job("API token expiry reminders", timedelta(hours=1), _token_expiry_reminders),
    Job("network-server event ids", timedelta(hours=1), _connection_events),
    Job("heating targets", timedelta(minutes=1), _heating_targets),
)


class Scheduler:
    def __init__(self, factory: sessionmaker[Session], publish: Publish, jobs: tuple[Job, ...] = JOBS,
                 settings: Settings | None = None, commands: CommandRouter | None = None) -> None:
        from leitstand import config

        self.factory = factory
        self.publish = publish
        self.context = JobContext(publish, settings or config.get_settings(), commands)
        self.jobs = jobs
        self._next_run = {job.name: clock.now() for job in jobs}
        self._stop = threading.Event()
        self._lock_connection: Any = None

    def run_due(self) -> dict[str, Any]:
        """Run every job whose time has come, once. Returns what each job reported."""
        results: dict[str, Any] = {}
        for job in self.jobs:
            if clock.now() < self._next_run[job.name]:
                continue
            try:
                with system_session(self.factory, reason=f"scheduled job: {job.name}") as db:
                    results[job.name] = job.run(db, self.context)
            except Exception:  # one failing job must not stop the others
                log.exception("scheduled job %s failed", job.name)
            self._next_run[job.name] = clock.now() + job.every
        return results

    def _acquire_leadership(self) -> bool:
        engine = self.factory.kw["bind"]
        if engine.dialect.name != "postgresql":
            return True
        if self._lock_connection is None:
            self._lock_connection = engine.connect()
        got = self._lock_connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": ADVISORY_LOCK_ID}).scalar()
        self._lock_connection.commit()
        return bool(got)

    def run_forever(self, tick_seconds: float = 1.0) -> None:
        leader = False
        while not self._stop.is_set():
            if not leader:
                leader = self._acquire_leadership()
                if not leader:
                    self._stop.wait(15)  # a standby: another process runs the jobs
                    continue
                log.info("scheduler: running jobs in this process")
            self.run_due()
            self._stop.wait(tick_seconds)
        if self._lock_connection is not None:
            self._lock_connection.close()

    def stop(self) -> None:
        self._stop.set()
