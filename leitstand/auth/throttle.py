"""Back-off and lockout after failed password attempts, per account.

After `slowdown_after` failures within the window, each further attempt must wait
2, 4, 8 … seconds after the previous failure (capped at 5 minutes). After
`lockout_after` failures the account is locked for `lockout_minutes`. A correct
password resets the count. Attempts during a wait or lock are refused unchecked,
so guessing does not continue in the background.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.auth.models import LoginThrottle
from leitstand.clock import clock
from leitstand.config import Settings

MAX_BACKOFF = timedelta(minutes=5)


@dataclass(frozen=True)
class Refusal:
    locked: bool
    retry_after_seconds: int


def _row(db: Session, email: str) -> LoginThrottle | None:
    return db.scalar(select(LoginThrottle).where(LoginThrottle.email == email))


def _backoff(settings: Settings, failures: int) -> timedelta:
    extra = failures - settings.login_slowdown_after
    if extra < 0:
        return timedelta(0)
    return min(timedelta(seconds=2 ** (extra + 1)), MAX_BACKOFF)


def check(db: Session, settings: Settings, email: str) -> Refusal | None:
    """Whether an attempt for this account may be checked now."""
    row = _row(db, email)
    now = clock.now()
    if row is None:
        return None
    if row.locked_until and row.locked_until > now:
        return Refusal(locked=True, retry_after_seconds=_seconds(row.locked_until - now))
    if row.first_failure_at and now - row.first_failure_at > timedelta(minutes=settings.login_failure_window_minutes):
        if not row.locked_until or row.locked_until <= now:
            row.failures, row.first_failure_at, row.locked_until = 0, None, None
        return None
    if row.last_failure_at:
        ready_at = row.last_failure_at + _backoff(settings, row.failures)
        if ready_at > now:
            return Refusal(locked=False, retry_after_seconds=_seconds(ready_at - now))
    return None


def record_failure(db: Session, settings: Settings, email: str) -> LoginThrottle:
    row = _row(db, email) or LoginThrottle(email=email, failures=0)
    db.add(row)
    now = clock.now()
    row.failures += 1
    row.first_failure_at = row.first_failure_at or now
    row.last_failure_at = now
    if row.failures >= settings.login_lockout_after:
        row.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
    return row


def record_success(db: Session, email: str) -> None:
    row = _row(db, email)
    if row is not None:
        db.delete(row)


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


def locked_until(db: Session, email: str) -> datetime | None:
    row = _row(db, email)
    return row.locked_until if row else None
