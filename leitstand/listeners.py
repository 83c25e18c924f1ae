"""Who hears of an event, per session factory rather than per module.

A domain that announces something after a commit (an alarm change, new device
credentials) declares an `EventKind`. The listeners of that kind live on a session
factory: every session the factory makes carries them in its `info`, so the code that
commits finds them without a global, and two apps (two factories) in one Python
process, as tests run them, never hear each other's events.

    ALARM_CHANGES: EventKind[[AlarmChange]] = EventKind("alarm changes")
    stop = ALARM_CHANGES.listeners(factory).subscribe(notifier.submit)   # at start-up
    ALARM_CHANGES.notify(session, change)                                # after a commit
    stop()                                                               # at shutdown

The components of leitstand.runtime.STARTUP subscribe when they start and unsubscribe
when they stop; nothing subscribes at import time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, ParamSpec

from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
P = ParamSpec("P")

# The one entry a factory's `info` holds for all its event kinds. Sessions copy the factory's
# `info` when they are made; this dict is shared by reference, so a session made before a
# kind's first listener still reaches it.
_ALL_LISTENERS = "leitstand.listeners"


class Listeners(Generic[P]):
    """The listeners of one kind of event on one session factory. A listener must be quick;
    one that raises is logged and does not keep the others from hearing the event."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._listeners: list[Callable[P, None]] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Callable[P, None]) -> Callable[[], None]:
        """Add `listener` (once, however often subscribed); returns what unsubscribes it."""
        with self._lock:
            if listener not in self._listeners:
                self._listeners.append(listener)
        return lambda: self.unsubscribe(listener)

    def unsubscribe(self, listener: Callable[P, None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def __contains__(self, listener: object) -> bool:
        return listener in self._listeners

    def __len__(self) -> int:
        return len(self._listeners)

    def notify(self, *args: P.args, **kwargs: P.kwargs) -> list[Exception]:
        """Tell every listener; returns the exceptions of those that failed (empty: all took it)."""
        with self._lock:
            listeners = list(self._listeners)  # one may unsubscribe while we call it
        failures = []
        for listener in listeners:
            try:
                listener(*args, **kwargs)
            except Exception as error:  # one listener must not stop the others, nor undo the commit
                log.exception("%s: listener %r failed", self.kind, listener)
                failures.append(error)
        return failures


def carry_listeners(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Give `factory` its own listeners, which every session it makes carries. Returns it."""
    info: dict[str, Any] = factory.kw.setdefault("info", {})
    info.setdefault(_ALL_LISTENERS, {})
    return factory


class EventKind(Generic[P]):
    """One kind of event and what its listeners are called with (P)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def listeners(self, factory: sessionmaker[Session]) -> Listeners[P]:
        """The listeners of this kind on `factory` (made on first use)."""
        by_kind: dict[str, Listeners[Any]] = carry_listeners(factory).kw["info"][_ALL_LISTENERS]
        if self.name not in by_kind:
            by_kind.setdefault(self.name, Listeners(self.name))
        return by_kind[self.name]

    def notify(self, where: Session | sessionmaker[Session], *args: P.args, **kwargs: P.kwargs) -> list[Exception]:
        """Tell the listeners of `where`: a factory's, or those of the factory a session came
        from. A session of a factory without listeners (a bare `sessionmaker`, a
        `Session(engine)`) tells nobody."""
        if isinstance(where, sessionmaker):
            return self.listeners(where).notify(*args, **kwargs)
        listeners = where.info.get(_ALL_LISTENERS, {}).get(self.name)
        return listeners.notify(*args, **kwargs) if listeners is not None else []
