"""Raising alarms the way the alarms domain does, and waiting for their notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leitstand.alarms.service import raise_alarm
from leitstand.tenancy.scope import system_session

STEPS = {"en": ["Check the light barrier", "Restart the drive"], "de": ["Lichtschranke prüfen", "Antrieb neu starten"]}


def raise_and_notify(app: Any, device: Any, *, severity: str = "critical", code: str = "E12",
                     received_at: datetime | None = None) -> int:
    """Raise an error-code alarm at `device`, commit (which notifies) and wait until it is sent."""
    with system_session(app.state.session_factory, reason="test raises an alarm") as db:
        alarm = raise_alarm(db, device_id=device.id, kind="error_code", key=f"errors:{code}", severity=severity,
                            title=f"Motor blocked ({code})", title_de=f"Motor blockiert ({code})", steps=STEPS,
                            code=code, received_at=received_at)
        db.commit()
        alarm_id = alarm.id
    assert app.state.notifier.wait_idle(20)
    return alarm_id
