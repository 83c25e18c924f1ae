"""Throttling of guesses and of requests that send mail, in the style of OWASP's guidance.

Guesses (passwords, claim secrets) are counted in three ways:
- per pair: one *subject* (an account; a serial number) from one *client* (a client
  address; the claiming tenant);
- per client, over all subjects;
- per subject, over all clients (logins only).

A pair or a client past its threshold waits 2 s, 4 s, 8 s … (at most 5 minutes) after its
last failure before its next guess is checked. Guesses during the wait are refused
unchecked, so guessing does not go on in the background.

The count per subject never refuses a client that has not failed for that subject: failures
from elsewhere can neither lock the owner out nor slow them down. Past its threshold it
makes the clients that *have* failed for the subject wait their turn as well (so a guesser
spread over many addresses gets one guess per address, and then joins one queue), and it
says when to tell the owner, at most once per window. Nothing ever locks.

A count is forgotten once it has been quiet for its window. A success clears its pair
only; the client and subject counts run out with the window, so that logging in to one's
own account between guesses does not wipe a guesser's count.

Requests that send mail (password resets) have quotas instead: `take` counts a request
while its key has room in the window, and refuses without counting once it has none.

The counters live in the database and each is written with one atomic upsert, so every
API process of an installation counts the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leitstand.auth.models import LoginThrottle
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.db.base import UtcDateTime

MAX_BACKOFF = timedelta(minutes=5)
MAX_KEY_LENGTH = 400
_counters = LoginThrottle.__table__


@dataclass(frozen=True)
class Refusal:
    retry_after_seconds: int


@dataclass(frozen=True)
class GuessPolicy:
    """What is guessed, and how many failures each count takes before it slows down.

    The counters' kinds are "<kind>-pair", "<kind>-client" and "<kind>-subject".
    """

    kind: str
    pair_slowdown_after: int
    client_slowdown_after: int
    subject_slowdown_after: int | None  # None: not counted per subject
    window: timedelta


@dataclass(frozen=True)
class Failure:
    """A counted failure. `alert`: the subject's count is past its threshold and its owner
    has not been told within the window; of racing callers exactly one is told so."""

    subject_failures: int
    alert: bool


def login_policy(settings: Settings) -> GuessPolicy:
    """Passwords and second factors: the subject is the account's e-mail, the client its address."""
    return GuessPolicy(
        "login", settings.login_slowdown_after, settings.login_address_slowdown_after,
        settings.login_account_alert_after, timedelta(minutes=settings.login_failure_window_minutes),
    )


def check(db: Session, policy: GuessPolicy, subject: str, client: str) -> Refusal | None:
    """Whether a guess for `subject` from `client` may be checked now."""
    now = clock.now()
    pair, per_client, per_subject = _fresh(db, policy, subject, client, now)
    ready_at = [_ready_at(pair, policy.pair_slowdown_after), _ready_at(per_client, policy.client_slowdown_after)]
    if pair is not None and policy.subject_slowdown_after is not None:
        ready_at.append(_ready_at(per_subject, policy.subject_slowdown_after))
    latest = max((moment for moment in ready_at if moment is not None), default=None)
    if latest is not None and latest > now:
        return Refusal(_seconds(latest - now))
    return None


def record_failure(db: Session, policy: GuessPolicy, subject: str, client: str) -> Failure:
    now = clock.now()
    # Always in this order (pair, client, subject), so that concurrent failures lock rows in one order.
    _count(db, f"{policy.kind}-pair", _key(subject, client), now, policy.window)
    _count(db, f"{policy.kind}-client", _key(client), now, policy.window)
    if policy.subject_slowdown_after is None:
        return Failure(subject_failures=0, alert=False)
    kind, key = f"{policy.kind}-subject", _key(subject)
    failures = _count(db, kind, key, now, policy.window) or 0
    alert = failures >= policy.subject_slowdown_after and _take_alert(db, kind, key, now, policy.window)
    return Failure(subject_failures=failures, alert=alert)


def record_success(db: Session, policy: GuessPolicy, subject: str, client: str) -> None:
    """The client got it right: its own back-off for the subject ends."""
    db.execute(delete(_counters).where(_counters.c.kind == f"{policy.kind}-pair",
                                       _counters.c.key == _key(subject, client)))


def take(db: Session, kind: str, key: str, limit: int, window: timedelta) -> Refusal | None:
    """Count one request against a quota of `limit` per window. None: counted. A refusal:
    the quota is used up, nothing was counted, and it has room again after Retry-After."""
    now = clock.now()
    key = _key(key)
    if _count(db, kind, key, now, window, below=limit) is not None:
        return None
    last = db.scalar(select(_counters.c.last_attempt_at).where(_counters.c.kind == kind, _counters.c.key == key))
    return Refusal(_seconds((last or now) + window - now))


def longest_window(settings: Settings) -> timedelta:
    return timedelta(minutes=max(settings.login_failure_window_minutes, settings.password_reset_window_minutes))


def remove_quiet(db: Session, settings: Settings) -> int:
    """Delete the counters quiet for longer than every window: they count nothing any more."""
    cutoff = clock.now() - longest_window(settings)
    result = db.execute(delete(_counters).where(_counters.c.last_attempt_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- the counters ------------------------------------------------------------------------


def _key(*parts: str) -> str:
    # "|" cannot occur in an address or a tenant id, the parts after the first.
    key = "|".join(parts)
    if len(key) > MAX_KEY_LENGTH:
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _count(db: Session, kind: str, key: str, now: datetime, window: timedelta, below: int | None = None) -> int | None:
    """Add one to a counter, starting it over if it was quiet for the window; returns the new
    count. With `below`: only while the count is below it, else None and nothing changes."""
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    moment = literal(now, UtcDateTime())
    quiet = _counters.c.last_attempt_at <= literal(now - window, UtcDateTime())
    statement = dialect.insert(_counters).values(
        kind=kind, key=key, attempts=1, window_started_at=now, last_attempt_at=now,
    ).on_conflict_do_update(
        index_elements=[_counters.c.kind, _counters.c.key],
        set_={
            "attempts": case((quiet, 1), else_=_counters.c.attempts + 1),
            "window_started_at": case((quiet, moment), else_=_counters.c.window_started_at),
            "last_attempt_at": moment,
        },
        where=None if below is None else or_(quiet, _counters.c.attempts < below),
    ).returning(_counters.c.attempts)
    return db.execute(statement).scalar()


def _take_alert(db: Session, kind: str, key: str, now: datetime, window: timedelta) -> bool:
    alerted = _counters.c.alerted_at
    result = db.execute(
        update(_counters)
        .where(_counters.c.kind == kind, _counters.c.key == key, or_(alerted.is_(None), alerted <= now - window))
        .values(alerted_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Count:
    attempts: int
    last_attempt_at: datetime


def _fresh(db: Session, policy: GuessPolicy, subject: str, client: str,
           now: datetime) -> tuple[_Count | None, _Count | None, _Count | None]:
    """The pair, client and subject counts that are not yet forgotten."""
    wanted = [(f"{policy.kind}-pair", _key(subject, client)), (f"{policy.kind}-client", _key(client)),
              (f"{policy.kind}-subject", _key(subject))]
    rows = db.execute(
        select(_counters.c.kind, _counters.c.key, _counters.c.attempts, _counters.c.last_attempt_at).where(
            tuple_(_counters.c.kind, _counters.c.key).in_(wanted),
            _counters.c.last_attempt_at > now - policy.window,
        )
    ).all()
    found = {(row.kind, row.key): _Count(row.attempts, row.last_attempt_at) for row in rows}
    pair, per_client, per_subject = (found.get(wanted_key) for wanted_key in wanted)
    return pair, per_client, per_subject


def _ready_at(count: _Count | None, slowdown_after: int) -> datetime | None:
    if count is None or count.attempts < slowdown_after:
        return None
    extra = min(count.attempts - slowdown_after, 16)  # 2**17 s is far past the cap already
    return count.last_attempt_at + min(timedelta(seconds=2 ** (extra + 1)), MAX_BACKOFF)


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))
