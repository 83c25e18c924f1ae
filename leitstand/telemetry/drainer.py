"""The rollup drainer: a background thread that keeps deferred rollups caught up.

Ingest on PostgreSQL queues new points for their rollups (see leitstand.telemetry.store).
Every process on PostgreSQL runs one `RollupDrainer`; every `rollup_drain_seconds` it
drains the queue in transactions of up to `limit` points until it is empty, then waits.
The drain's advisory lock lets one process at a time do the work; the others find the
lock taken and wait for their next turn. A failed drain (database restarting, a lost
connection) is logged and tried again on the next turn: the queued points stay queued.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from leitstand.telemetry.store import DRAIN_LIMIT, drain_rollup_queue

log = logging.getLogger(__name__)


class RollupDrainer:
    """Drains the rollup queue every `interval` seconds in a daemon thread, with its own
    connections from `engine`. start() does nothing where the database is not PostgreSQL."""

    def __init__(self, engine: Engine, interval: float, *, limit: int = DRAIN_LIMIT, name: str = "rollup-drainer") -> None:
        self.engine = engine
        self.interval = interval
        self.limit = limit
        self.name = name
        self.drained = 0  # points drained by this drainer since start
        self.turns = 0  # turns completed, successful or not
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._turn_done = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.engine.dialect.name != "postgresql" or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current drain; the queue keeps whatever is left for the next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Drain now instead of at the end of the current wait."""
        self._wake.set()

    def wait_for_turn(self, after: int, timeout: float) -> bool:
        """Block until more than `after` turns are done (compare with `turns` read before); False on timeout."""
        with self._turn_done:
            return self._turn_done.wait_for(lambda: self.turns > after, timeout)

    def drain_until_empty(self) -> int:
        """Drain in transactions of up to `limit` points until a drain comes back short. Returns points drained."""
        total = 0
        while not self._stopping.is_set():
            with self.engine.begin() as connection:
                drained = drain_rollup_queue(connection, limit=self.limit)
            total += drained
            if drained < self.limit:  # empty as far as this drain could see, or another process drains
                break
        return total

    def _run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            self._wake.clear()  # a wake() from here on means another turn
            try:
                self.drained += self.drain_until_empty()
                if failing:
                    log.info("rollup drain works again")
                failing = False
            except Exception as error:  # never end the thread: the next turn tries again
                if failing:
                    log.warning("rollup drain failed again: %s", (str(error).strip().splitlines() or [repr(error)])[0])
                else:
                    log.exception("rollup drain failed; retrying every %.1f s", self.interval)
                failing = True
            with self._turn_done:
                self.turns += 1
                self._turn_done.notify_all()
            if self._stopping.is_set():
                break
            self._wake.wait(self.interval)
