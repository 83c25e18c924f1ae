"""The alarm lifecycle and rule editing through the API, and what another tenant sees (nothing)."""

from __future__ import annotations

from leitstand.alarms.service import ALARM_CHANGES, raise_alarm
from leitstand.audit.models import AuditEntry
from sqlalchemy import select

from tests.alarms.conftest import advance, alarms_of, error_event, open_alarms, telemetry


def raise_error(world, ingestor, code="E01"):  # type: ignore[no-untyped-def]
    ingestor.accept([error_event(world.alpha.barrier.serial_number, code)])
    return open_alarms(world, world.alpha.barrier.id)[-1]


def test_acknowledge_comment_assign_and_clear_by_hand(app, world, ingestor):
    alarm = raise_error(world, ingestor)
    admin = world.as_user("alpha_admin")
    changes = []
    ALARM_CHANGES.listeners(app.state.session_factory).subscribe(changes.append)

    acked = admin.post(f"/api/v1/alarms/{alarm.id}/acknowledge")
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by_id"] == world.users["alpha_admin"].id

    comment = admin.post(f"/api/v1/alarms/{alarm.id}/comments", json={"text": "Technician on the way"})
    assert comment.status_code == 201
    assigned = admin.post(f"/api/v1/alarms/{alarm.id}/assign", json={"assignee_id": world.users["alpha_reader"].id})
    assert assigned.json()["assignee_id"] == world.users["alpha_reader"].id

    detail = admin.get(f"/api/v1/alarms/{alarm.id}").json()
    assert [c["text"] for c in detail["comments"]] == ["Technician on the way"]
    assert detail["steps"]["de"][0].startswith("Fahrweg")

    cleared = admin.post(f"/api/v1/alarms/{alarm.id}/clear").json()
    assert (cleared["state"], cleared["cleared_how"], cleared["cleared_by_id"]) == (
        "cleared", "manual", world.users["alpha_admin"].id)
    assert [c.change for c in changes] == ["acknowledged", "assigned", "cleared"]

    world.db.expire_all()
    audited = set(world.db.scalars(select(AuditEntry.target_type).where(AuditEntry.target_type.in_(["alarms", "alarm_comments"]))))
    assert audited == {"alarms", "alarm_comments"}


def test_an_acknowledged_alarm_clears_itself_when_its_condition_ends(world, ingestor):
    alarm = raise_error(world, ingestor, "E02")
    world.as_user("alpha_admin").post(f"/api/v1/alarms/{alarm.id}/acknowledge")
    ingestor.accept([error_event(world.alpha.barrier.serial_number, "E02", active=False)])
    [done] = alarms_of(world, world.alpha.barrier.id)
    assert (done.state, done.cleared_how, done.acknowledged_at is not None) == ("cleared", "auto", True)


def test_a_repeated_condition_after_acknowledging_updates_the_same_alarm(world, ingestor):
    alarm = raise_error(world, ingestor)
    world.as_user("alpha_admin").post(f"/api/v1/alarms/{alarm.id}/acknowledge")
    advance(30)
    again = raise_error(world, ingestor)
    assert again.id == alarm.id and again.occurrences == 2 and again.state == "acknowledged"


def test_list_filters(world, ingestor):
    raise_error(world, ingestor, "E01")
    raise_error(world, ingestor, "E03")
    admin = world.as_user("alpha_admin")
    assert admin.get("/api/v1/alarms", params={"severity": "critical"}).json()["total"] == 1
    assert admin.get("/api/v1/alarms", params={"state": "open", "site_id": world.alpha.site.id}).json()["total"] == 2
    assert admin.get("/api/v1/alarms", params={"device_id": world.alpha.thermostat.id}).json()["total"] == 0
    assert admin.get("/api/v1/alarms", params={"state": "cleared"}).json()["total"] == 0
    assert admin.get("/api/v1/alarms", params={"severity": "fatal"}).status_code == 422


def test_another_tenant_gets_404(world, ingestor):
    alarm = raise_error(world, ingestor)
    rule = world.as_user("alpha_admin").post("/api/v1/alarm-rules", json={
        "key": "barrier.cycles", "name": "Cycles", "severity": "warning", "type_key": "barrier",
        "condition": {"kind": "threshold", "key": "cycles", "operator": ">", "value": 100000},
    }).json()
    beta = world.as_user("beta_admin")
    assert beta.get("/api/v1/alarms").json()["total"] == 0
    assert beta.get("/api/v1/alarm-rules").json()["total"] == 0
    for method, path in [("GET", f"/api/v1/alarms/{alarm.id}"), ("POST", f"/api/v1/alarms/{alarm.id}/acknowledge"),
                         ("POST", f"/api/v1/alarms/{alarm.id}/clear"), ("GET", f"/api/v1/alarm-rules/{rule['id']}"),
                         ("DELETE", f"/api/v1/alarm-rules/{rule['id']}")]:
        response = beta.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert open_alarms(world, world.alpha.barrier.id)[0].state == "active"


def test_a_reader_may_look_but_not_acknowledge(world, ingestor):
    alarm = raise_error(world, ingestor)
    reader = world.as_user("alpha_reader")
    assert reader.get(f"/api/v1/alarms/{alarm.id}").status_code == 200
    assert reader.post(f"/api/v1/alarms/{alarm.id}/acknowledge").status_code == 403


def test_rule_crud_and_it_takes_effect_at_once(world, ingestor):
    admin = world.as_user("alpha_admin")
    created = admin.post("/api/v1/alarm-rules", json={
        "key": "barrier.motor_hot", "name": "Motor hot early", "severity": "major", "type_key": "barrier",
        "tenant_id": world.alpha.customer.id,
        "condition": {"kind": "threshold", "key": "motor_temperature", "operator": ">", "value": 50},
    })
    assert created.status_code == 201, created.text
    rule = created.json()
    ingestor.accept([telemetry(world.alpha.barrier.serial_number, ("motor_temperature", 55))])
    assert [a.title for a in open_alarms(world, world.alpha.barrier.id)] == ["Motor hot early"]

    patched = admin.patch(f"/api/v1/alarm-rules/{rule['id']}", json={"enabled": False})
    assert patched.json()["enabled"] is False
    assert admin.get("/api/v1/alarm-rules", params={"type_key": "barrier"}).json()["total"] == 1
    assert admin.delete(f"/api/v1/alarm-rules/{rule['id']}").status_code == 204
    defaults = admin.get("/api/v1/alarm-rules/defaults", params={"type_key": "barrier"}).json()
    assert "barrier.errors" in {d["key"] for d in defaults}


def test_bad_rules_are_refused_with_422(world):
    admin = world.as_user("alpha_admin")
    base = {"key": "barrier.custom", "name": "Custom", "severity": "minor", "type_key": "barrier"}
    bad = [
        {**base, "condition": {"kind": "threshold", "key": "nope", "operator": ">", "value": 1}},
        {**base, "condition": {"kind": "threshold", "key": "cycles", "operator": "=", "value": 1}},
        {**base, "condition": {"kind": "threshold", "key": "cycles", "operator": ">", "value": 1, "hysteresis": -1}},
        {**base, "condition": {"kind": "offline", "seconds": 1}},
        {**base, "condition": {"kind": "error_code", "codes": ["E77"]}},
        {**base, "condition": {"kind": "battery_low"}},
        {**base, "condition": {"kind": "telepathy"}},
        {**base, "severity": None, "condition": {"kind": "offline", "seconds": 600}},
        {**base, "target_kind": "site", "condition": {"kind": "offline", "seconds": 600}},
        {**base, "target_kind": "device", "device_id": world.alpha.thermostat.id, "condition": {"kind": "offline", "seconds": 600}},
        {**base, "key": "thermostat.battery_low", "condition": {"kind": "offline", "seconds": 600}},
    ]
    for body in bad:
        response = admin.post("/api/v1/alarm-rules", json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
    ok = admin.post("/api/v1/alarm-rules", json={**base, "condition": {"kind": "offline", "seconds": 600}})
    assert ok.status_code == 201
    assert admin.post("/api/v1/alarm-rules", json={**base, "condition": {"kind": "offline", "seconds": 600}}).status_code == 409
    assert admin.patch(f"/api/v1/alarm-rules/{ok.json()['id']}",
                       json={"condition": {"kind": "no_data", "key": "nope", "seconds": 60}}).status_code == 422


def test_raise_alarm_through_a_user_session_sees_only_visible_devices(world, session_factory):
    from leitstand.alarms.service import AlarmNotFound
    from leitstand.tenancy.scope import AccessScope, bind_scope
    import pytest

    db = bind_scope(session_factory(), AccessScope(tenant_paths=frozenset({world.beta.partner.path})))
    with pytest.raises(AlarmNotFound):
        raise_alarm(db, device_id=world.alpha.barrier.id, kind="maintenance_due", key="m", severity="minor", title="x")
    db.close()


def test_a_catalogue_alarm_and_its_counter_are_seen_by_the_platform_only(world, ingestor):
    """The barrier's catalogue is the platform's: its gaps count every tenant's devices, so
    neither the first device's tenant, its partner, the end customer it is shared with nor
    another tenant sees the alarm or the counter; each sees its own events marked."""
    alpha, beta = world.alpha.barrier, world.beta.barrier
    ingestor.accept([error_event(alpha.serial_number, "E99"), error_event(beta.serial_number, "E99")])

    platform = world.as_user("platform_admin")
    [alarm] = [a for a in platform.get("/api/v1/alarms").json()["items"] if a["kind"] == "unknown_code"]
    assert (alarm["tenant_id"], alarm["device_id"], alarm["severity"], alarm["occurrences"]) == (
        world.root.id, alpha.id, "warning", 2)
    assert platform.get(f"/api/v1/alarms/{alarm['id']}").status_code == 200
    counters = platform.get("/api/v1/device-types/barrier/unknown-codes")
    assert counters.status_code == 200, counters.text
    assert [(c["code"], c["count"], c["first_device_id"]) for c in counters.json()] == [("E99", 2, alpha.id)]

    for user in ("alpha_operator", "alpha_admin", "alpha_end", "beta_admin"):
        client = world.as_user(user)
        assert client.get("/api/v1/alarms").json()["total"] == 0, user
        assert client.get(f"/api/v1/alarms/{alarm['id']}").status_code == 404, user
        assert client.get("/api/v1/alarms", params={"device_id": alpha.id}).json()["total"] == 0, user
        assert client.get("/api/v1/device-types/barrier/unknown-codes").json() == [], user
    events = world.as_user("alpha_end").get(f"/api/v1/devices/{alpha.id}/events").json()["items"]
    assert [(e["code"], e["unknown_code"]) for e in events if e["kind"] == "event"] == [("E99", True)]


def test_the_codes_a_tenants_own_type_lacks_are_that_tenants(world, ingestor):
    from datetime import date

    from leitstand.devices.models import Device
    from leitstand.licenses.models import License
    from leitstand.licenses.service import term_end

    alpha = world.alpha
    sensor = Device(tenant_id=alpha.customer.id, type_key=alpha.device_type.key, serial_number="ALPHA-CUS-0001",
                    name="Alpha custom sensor", site_id=alpha.room.id)
    world.db.add(sensor)
    world.db.flush()
    world.db.add(License(device_id=sensor.id, tenant_id=alpha.customer.id, starts_on=date(2026, 1, 1),
                         ends_on=term_end(date(2026, 1, 1), 12), term_months=12, auto_renew=True))
    world.db.commit()

    ingestor.accept([error_event(sensor.serial_number, "X1")])

    operator = world.as_user("alpha_operator")
    [alarm] = operator.get("/api/v1/alarms").json()["items"]
    assert (alarm["kind"], alarm["tenant_id"], alarm["device_id"]) == ("unknown_code", alpha.customer.id, sensor.id)
    codes = operator.get(f"/api/v1/device-types/{alpha.device_type.key}/unknown-codes").json()
    assert [(c["code"], c["count"]) for c in codes] == [("X1", 1)]
    beta = world.as_user("beta_admin")
    assert beta.get(f"/api/v1/device-types/{alpha.device_type.key}/unknown-codes").status_code == 404
    assert beta.get(f"/api/v1/alarms/{alarm['id']}").status_code == 404
