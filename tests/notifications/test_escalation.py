"""Escalation: an alarm nobody acknowledged within N minutes goes to the escalation group, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from leitstand.alarms.models import Alarm
from leitstand.alarms.service import acknowledge
from leitstand.clock import clock
from leitstand.notifications.models import Delivery, EscalationWatch
from leitstand.scheduler.loop import Scheduler
from leitstand.tenancy.scope import system_session
from tests.notifications.helpers import raise_and_notify


def _escalating_rule(world) -> None:  # type: ignore[no-untyped-def]
    response = world.as_user("alpha_admin").post("/api/v1/notifications/rules", json={
        "tenant_id": world.alpha.customer.id, "name": "Störung Schranke", "user_ids": [world.alpha.operator.id],
        "channels": ["email"], "escalate_after_minutes": 15, "escalation_user_ids": [world.users["alpha_reader"].id]})
    assert response.status_code == 201, response.text


def _run_escalations(app) -> int:  # type: ignore[no-untyped-def]
    scheduler = Scheduler(app.state.session_factory, lambda *_: None)
    return scheduler.run_due()["alarm escalations"]


def test_unacknowledged_alarm_escalates_once_after_n_minutes(app, world, smtp) -> None:  # type: ignore[no-untyped-def]
    clock.freeze()
    _escalating_rule(world)
    raise_and_notify(app, world.alpha.barrier)
    assert [m["To"] for m in smtp.messages] == [world.alpha.operator.email]

    clock.advance(timedelta(minutes=14))
    assert _run_escalations(app) == 0
    clock.advance(timedelta(minutes=1))
    assert _run_escalations(app) == 1
    clock.advance(timedelta(minutes=30))
    assert _run_escalations(app) == 0  # once only

    reader = world.users["alpha_reader"].email
    assert [m["To"] for m in smtp.messages] == [world.alpha.operator.email, reader]
    assert smtp.to(reader)[0]["Subject"].startswith("[Kritisch] Eskalation: ")
    world.db.expire_all()
    escalation = world.db.scalar(select(Delivery).where(Delivery.reason == "escalation"))
    assert escalation is not None and escalation.outcome == "delivered" and escalation.user_id == world.users["alpha_reader"].id
    [watch] = world.db.scalars(select(EscalationWatch)).all()
    assert watch.escalated_at is not None


def test_acknowledged_alarm_does_not_escalate(app, world, smtp) -> None:  # type: ignore[no-untyped-def]
    clock.freeze()
    _escalating_rule(world)
    alarm_id = raise_and_notify(app, world.alpha.barrier)
    clock.advance(timedelta(minutes=5))
    with system_session(app.state.session_factory, reason="test acknowledges") as db:
        acknowledge(db, db.get(Alarm, alarm_id), world.alpha.operator.id)
        db.commit()
    assert app.state.notifier.wait_idle(10)

    clock.advance(timedelta(minutes=20))
    assert _run_escalations(app) == 0

    assert [m["To"] for m in smtp.messages] == [world.alpha.operator.email]
    world.db.expire_all()
    [watch] = world.db.scalars(select(EscalationWatch)).all()
    assert watch.settled_at is not None and watch.escalated_at is None
