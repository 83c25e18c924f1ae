"""The platform's notion of "now".

Lockouts, token expiry and licenses depend on time. Tests move this clock
instead of sleeping, so every time-dependent rule is tested without waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        return self._frozen if self._frozen is not None else datetime.now(UTC)

    def freeze(self, at: datetime | None = None) -> None:
        self._frozen = at or datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        if self._frozen is None:
            self.freeze()
        assert self._frozen is not None
        self._frozen += delta

    def unfreeze(self) -> None:
        self._frozen = None


clock = Clock()
