"""Names that one process of an installation holds at a time, for as long as it runs.

Every process of an installation shares its database, so the database is where a name
is claimed: on PostgreSQL a session-level advisory lock on a connection kept open for
the purpose, on SQLite an exclusive `flock` on a file beside the database file (SQLite
installations run on one machine). Either way the lock goes when the process does, even
when it is killed, so a restarted process gets its name back at once.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, text

Release = Callable[[], None]

# Two-key advisory locks: the first key keeps these names apart from every other lock.
_NAMESPACE = "leitstand.process-name"


def hold_name(engine: Engine, name: str) -> Release | None:
    """Claim `name` for this process; returns what releases it, or None if another holds it."""
    if engine.dialect.name == "postgresql":
        return _hold_advisory_lock(engine, name)
    database = engine.url.database
    if not database or database == ":memory:":
        return lambda: None  # a database only this process can see
    return _hold_file_lock(Path(f"{database}.{name}.lock"))


def _hold_advisory_lock(engine: Engine, name: str) -> Release | None:
    keys = {"namespace": _NAMESPACE, "name": name}
    connection = engine.connect()
    try:
        held = connection.execute(text("SELECT pg_try_advisory_lock(hashtext(:namespace), hashtext(:name))"),
                                  keys).scalar()
        connection.commit()
    except Exception:
        connection.close()
        raise
    if not held:
        connection.close()
        return None

    def release() -> None:
        # The pool keeps the connection (and a session lock with it): unlock explicitly.
        try:
            connection.execute(text("SELECT pg_advisory_unlock(hashtext(:namespace), hashtext(:name))"), keys)
            connection.commit()
        finally:
            connection.close()

    return release


def _hold_file_lock(path: Path) -> Release | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle.close
