"""Listeners live on a session factory, not in a module: two apps in one Python process
(as the tests start them) never hear each other's alarm changes or device credentials."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import sessionmaker

from leitstand.alarms.change import AlarmChange
from leitstand.alarms.service import ALARM_CHANGES, raise_alarm
from leitstand.devices.claiming import CREDENTIAL_CHANGES, announce_credentials
from leitstand.listeners import EventKind, Listeners
from leitstand.runtime import app_without_transports, start
from leitstand.tenancy.scope import system_session
from tests.helpers.world import World


def raise_maintenance_alarm(factory: sessionmaker[Any], device_id: int, key: str) -> None:
    with system_session(factory, reason="test alarm") as db:
        raise_alarm(db, device_id=device_id, kind="maintenance_due", key=key, severity="minor", title="Maintenance due")
        db.commit()


def test_two_apps_in_one_process_hear_only_their_own_alarm_changes_and_credentials(app, settings, world: World) -> None:
    first = app.state.session_factory
    with app_without_transports(settings) as other_app:
        second = other_app.state.session_factory
        alarms_first: list[AlarmChange] = []
        alarms_second: list[AlarmChange] = []
        ALARM_CHANGES.listeners(first).subscribe(alarms_first.append)
        ALARM_CHANGES.listeners(second).subscribe(alarms_second.append)
        credentials_first: list[tuple[str, str | None]] = []
        credentials_second: list[tuple[str, str | None]] = []
        CREDENTIAL_CHANGES.listeners(first).subscribe(lambda *heard: credentials_first.append(heard))
        CREDENTIAL_CHANGES.listeners(second).subscribe(lambda *heard: credentials_second.append(heard))
        barrier = world.alpha.barrier

        raise_maintenance_alarm(first, barrier.id, "maintenance:first")
        announce_credentials(first, "B-FIRST", "first-secret")

        assert [change.key for change in alarms_first] == ["maintenance:first"]
        assert credentials_first == [("B-FIRST", "first-secret")]
        assert alarms_second == [] and credentials_second == []

        raise_maintenance_alarm(second, barrier.id, "maintenance:second")
        with system_session(second, reason="test decommission") as db:
            announce_credentials(db, "B-SECOND", None)  # a session tells its factory's listeners

        assert [change.key for change in alarms_second] == ["maintenance:second"]
        assert credentials_second == [("B-SECOND", None)]
        assert [change.key for change in alarms_first] == ["maintenance:first"]
        assert credentials_first == [("B-FIRST", "first-secret")]


def test_each_app_s_notifier_listens_to_its_own_factory_until_it_stops(app, settings) -> None:
    with app_without_transports(settings) as other_app:
        other_notifier = other_app.state.notifier
        assert other_notifier.submit in ALARM_CHANGES.listeners(other_app.state.session_factory)
        assert other_notifier.submit not in ALARM_CHANGES.listeners(app.state.session_factory)
    assert other_notifier.submit not in ALARM_CHANGES.listeners(other_app.state.session_factory)


def test_the_notifier_component_subscribes_on_start_and_unsubscribes_on_stop(settings) -> None:
    process, _app = start(settings, "scheduler", skip=frozenset({"database", "broker-admin", "rollups", "scheduler"}))
    try:
        assert len(ALARM_CHANGES.listeners(process.factory)) == 1
    finally:
        process.stop()
    assert len(ALARM_CHANGES.listeners(process.factory)) == 0


def test_a_session_made_before_the_first_listener_still_reaches_it(session_factory) -> None:
    kind: EventKind[[str]] = EventKind("test events")
    heard: list[str] = []
    with system_session(session_factory, reason="test") as db:
        kind.listeners(session_factory).subscribe(heard.append)
        kind.notify(db, "hello")
    assert heard == ["hello"]


def test_a_listener_is_called_once_however_often_subscribed_and_a_failing_one_harms_nobody() -> None:
    listeners: Listeners[[int]] = Listeners("numbers")
    heard: list[int] = []

    def broken(number: int) -> None:
        raise ValueError(f"cannot take {number}")

    listeners.subscribe(broken)
    unsubscribe = listeners.subscribe(heard.append)
    listeners.subscribe(heard.append)

    failures = listeners.notify(1)
    unsubscribe()
    listeners.notify(2)

    assert heard == [1]
    assert [str(error) for error in failures] == ["cannot take 1"]
