"""The heating API: plans (H48, H49), assignments (H51), the week view, modes (H50), a resident's
room target (H17), a thermostat's effective target, default plans (H15), audit and tenants."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from leitstand.audit.models import AuditEntry
from leitstand.clock import clock
from leitstand.heating import service
from leitstand.heating.models import HeatingPlan
from tests.helpers.world import World

# Monday 2026-12-07, 10:00 in Europe/Berlin.
MONDAY_10 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def hours(day: float, night: float, start: int = 6, end: int = 22) -> list[dict]:
    return [{"hour": hour, "celsius": day if start <= hour < end else night} for hour in range(24)]


def plan_body(world: World, name: str = "Büro Werktag", **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"name": name, "site_id": world.alpha.building.id, "targets": hours(21, 17), "min_celsius": 5,
            "max_celsius": 30, "overrule_minutes": 120, **extra}


def create_plan(api, world: World, **extra) -> dict:  # type: ignore[no-untyped-def]
    response = api.post("/api/v1/heating/plans", json=plan_body(world, **extra))
    assert response.status_code == 201, response.text
    return response.json()


def test_a_named_plan_is_created_and_one_without_a_name_or_with_a_bad_hour_is_422(world: World) -> None:
    api = world.as_user("alpha_admin")
    plan = create_plan(api, world)
    assert plan["name"] == "Büro Werktag" and len(plan["targets"]) == 24
    assert plan["targets"][6] == {"hour": 6, "celsius": 21} and plan["targets"][5]["celsius"] == 17
    nameless = plan_body(world)
    del nameless["name"]
    assert api.post("/api/v1/heating/plans", json=nameless).status_code == 422
    assert api.post("/api/v1/heating/plans", json=plan_body(world, name="  ")).status_code == 422
    missing = plan_body(world, targets=hours(21, 17)[:23])
    assert api.post("/api/v1/heating/plans", json=missing).status_code == 422
    duplicate = hours(21, 17)
    duplicate[23] = {"hour": 22, "celsius": 17}
    assert api.post("/api/v1/heating/plans", json=plan_body(world, targets=duplicate)).status_code == 422
    assert api.post("/api/v1/heating/plans", json=plan_body(world, min_celsius=25, max_celsius=20)).status_code == 422
    assert api.patch(f"/api/v1/heating/plans/{plan['id']}", json={"min_celsius": 29, "max_celsius": 28}).status_code == 422
    assert api.patch(f"/api/v1/heating/plans/{plan['id']}", json={"name": None}).status_code == 422
    renamed = api.patch(f"/api/v1/heating/plans/{plan['id']}", json={"name": "Werktag"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Werktag"


def test_changes_are_audited(world: World) -> None:
    api = world.as_user("alpha_admin")
    plan = create_plan(api, world)
    api.post(f"/api/v1/heating/rooms/{world.alpha.room.id}/mode", json={"mode": "fix", "celsius": 19})
    api.delete(f"/api/v1/heating/plans/{plan['id']}")
    actions = set(world.db.scalars(select(AuditEntry.action).where(AuditEntry.target_type.like("heating_%"))))
    assert {"heating_plans.create", "heating_plans.delete", "heating_modes.create"} <= actions


def test_assignments_per_weekday_and_level_decide_the_effective_target(world: World) -> None:
    clock.freeze(MONDAY_10)
    api, alpha = world.as_user("alpha_admin"), world.alpha
    werktag = create_plan(api, world, name="Werktag")
    wochenende = create_plan(api, world, name="Wochenende", targets=hours(19, 16, 8, 23))
    own = create_plan(api, world, name="Eigener", targets=hours(23, 23))
    for plan, days in ((werktag, [0, 1, 2, 3, 4]), (wochenende, [5, 6])):
        response = api.post("/api/v1/heating/assignments", json={
            "plan_id": plan["id"], "level": "building", "target_id": alpha.building.id, "weekdays": days})
        assert response.status_code == 201, response.text
    effective = api.get(f"/api/v1/heating/devices/{alpha.thermostat.id}/effective-target").json()
    assert (effective["celsius"], effective["source"], effective["plan_id"]) == (21, "plan", werktag["id"])
    assert effective["would_send"] is True and effective["reason"] == "changed"
    # A day already taken at that target is a conflict; a room is not a building.
    taken = api.post("/api/v1/heating/assignments", json={
        "plan_id": own["id"], "level": "building", "target_id": alpha.building.id, "weekdays": [0]})
    assert taken.status_code == 409
    wrong_kind = api.post("/api/v1/heating/assignments", json={
        "plan_id": own["id"], "level": "building", "target_id": alpha.room.id, "weekdays": [0]})
    assert wrong_kind.status_code == 422
    assert api.post("/api/v1/heating/assignments", json={
        "plan_id": own["id"], "level": "thermostat", "target_id": alpha.thermostat.id, "weekdays": [0, 0]}).status_code == 422
    mine = api.post("/api/v1/heating/assignments", json={
        "plan_id": own["id"], "level": "thermostat", "target_id": alpha.thermostat.id, "weekdays": [0]})
    assert mine.status_code == 201 and mine.json()["target_id"] == alpha.thermostat.id
    assert api.get(f"/api/v1/heating/devices/{alpha.thermostat.id}/effective-target").json()["celsius"] == 23

    week = api.get(f"/api/v1/heating/buildings/{alpha.building.id}/week").json()
    assert [day["plan_name"] for day in week["days"]] == ["Werktag"] * 5 + ["Wochenende"] * 2
    copied = api.post("/api/v1/heating/week/copy-day", json={
        "level": "building", "target_id": alpha.building.id, "from_weekday": 5, "to_weekday": 4})
    assert [day["plan_name"] for day in copied.json()["days"]] == ["Werktag"] * 4 + ["Wochenende"] * 3
    room_week = api.post("/api/v1/heating/week/copy-week", json={
        "level": "building", "target_id": alpha.building.id, "to_level": "room", "to_target_id": alpha.room.id})
    assert [day["plan_name"] for day in room_week.json()["days"]] == ["Werktag"] * 4 + ["Wochenende"] * 3


def test_modes_fix_and_manual_are_clamped_and_shown_as_limited(world: World) -> None:
    clock.freeze(MONDAY_10)
    api, alpha = world.as_user("alpha_admin"), world.alpha
    narrow = create_plan(api, world, min_celsius=18, max_celsius=25)
    api.post("/api/v1/heating/assignments", json={
        "plan_id": narrow["id"], "level": "room", "target_id": alpha.room.id, "weekdays": list(range(7))})
    assert api.get(f"/api/v1/heating/rooms/{alpha.room.id}/mode").json() == {"mode": "plan", "celsius": None,
                                                                         "is_default": True}
    assert api.post(f"/api/v1/heating/rooms/{alpha.room.id}/mode", json={"mode": "fix"}).status_code == 422
    assert api.post(f"/api/v1/heating/rooms/{alpha.building.id}/mode", json={"mode": "plan"}).status_code == 422
    assert api.post(f"/api/v1/heating/rooms/{alpha.room.id}/mode", json={"mode": "fix", "celsius": 16}).status_code == 200
    fixed = api.get(f"/api/v1/heating/devices/{alpha.thermostat.id}/effective-target").json()
    assert (fixed["celsius"], fixed["source"], fixed["limited"], fixed["unclamped"]) == (18, "fix", True, 16)
    api.post(f"/api/v1/heating/devices/{alpha.thermostat.id}/mode", json={"mode": "manual", "celsius": 27})
    manual = api.get(f"/api/v1/heating/devices/{alpha.thermostat.id}/effective-target").json()
    assert (manual["celsius"], manual["source"], manual["limited"]) == (25, "manual", True)
    assert api.delete(f"/api/v1/heating/devices/{alpha.thermostat.id}/mode").status_code == 204
    assert api.get(f"/api/v1/heating/devices/{alpha.thermostat.id}/effective-target").json()["source"] == "fix"


def _resident(world: World) -> object:
    world.user_with_role("resident", None, world.alpha.customer)
    world.grant("resident", "end_customer", site=world.alpha.room)
    return world.as_user("resident")


def test_a_resident_sets_a_manual_target_for_their_room_only_clamped(world: World) -> None:
    clock.freeze(MONDAY_10)
    admin, alpha = world.as_user("alpha_admin"), world.alpha
    narrow = create_plan(admin, world, min_celsius=18, max_celsius=25)
    admin.post("/api/v1/heating/assignments", json={
        "plan_id": narrow["id"], "level": "building", "target_id": alpha.building.id, "weekdays": list(range(7))})
    other_room = admin.post("/api/v1/sites", json={"kind": "room", "name": "Raum B", "parent_id": alpha.building.id}).json()
    for room_id in (alpha.room.id, other_room["id"]):
        admin.post(f"/api/v1/heating/rooms/{room_id}/mode", json={"mode": "manual", "celsius": 20})
    resident = _resident(world)

    accepted = resident.post(f"/api/v1/heating/rooms/{alpha.room.id}/target", json={"celsius": 22})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"site_id": alpha.room.id, "celsius": 22, "requested": 22, "limited": False,
                               "min_celsius": 18, "max_celsius": 25}
    limited = resident.post(f"/api/v1/heating/rooms/{alpha.room.id}/target", json={"celsius": 27}).json()
    assert (limited["celsius"], limited["limited"]) == (25, True)
    effective = resident.get(f"/api/v1/heating/devices/{alpha.thermostat.id}/effective-target").json()
    assert (effective["celsius"], effective["source"]) == (25, "manual")

    other = resident.post(f"/api/v1/heating/rooms/{other_room['id']}/target", json={"celsius": 22})
    assert other.status_code == 403
    assert resident.post("/api/v1/heating/rooms/999999/target", json={"celsius": 22}).status_code == 403
    # A resident edits neither plans nor modes.
    assert resident.post("/api/v1/heating/plans", json=plan_body(world)).status_code == 403
    assert resident.post(f"/api/v1/heating/rooms/{alpha.room.id}/mode", json={"mode": "plan"}).status_code == 403
    # Not in MANUAL mode: the owner decides.
    admin.post(f"/api/v1/heating/rooms/{alpha.room.id}/mode", json={"mode": "plan"})
    assert resident.post(f"/api/v1/heating/rooms/{alpha.room.id}/target", json={"celsius": 22}).status_code == 409


def test_a_building_gets_its_default_plan_on_first_read_once(world: World) -> None:
    api, alpha = world.as_user("alpha_admin"), world.alpha
    building = api.post("/api/v1/sites", json={"kind": "building", "name": "Neubau", "parent_id": alpha.site.id}).json()
    week = api.get(f"/api/v1/heating/buildings/{building['id']}/week").json()
    assert {day["plan_name"] for day in week["days"]} == {"Standard"}
    again = api.get(f"/api/v1/heating/buildings/{building['id']}/week").json()
    assert again == week
    plans = api.get("/api/v1/heating/plans", params={"site_id": building["id"]}).json()["items"]
    assert len(plans) == 1
    default = plans[0]
    assert (default["is_default"], default["min_celsius"], default["max_celsius"], default["overrule_minutes"]) == (
        True, 5, 30, 120)
    # Visible and editable.
    assert api.patch(f"/api/v1/heating/plans/{default['id']}", json={"overrule_minutes": 60}).status_code == 200


def test_another_tenant_sees_and_changes_nothing(world: World) -> None:
    alpha_api, beta_api, alpha = world.as_user("alpha_admin"), world.as_user("beta_admin"), world.alpha
    plan = create_plan(alpha_api, world)
    assert beta_api.get(f"/api/v1/heating/plans/{plan['id']}").status_code == 404
    assert beta_api.patch(f"/api/v1/heating/plans/{plan['id']}", json={"name": "x"}).status_code == 404
    assert plan["id"] not in {p["id"] for p in beta_api.get("/api/v1/heating/plans").json()["items"]}
    assert beta_api.post("/api/v1/heating/assignments", json={
        "plan_id": plan["id"], "level": "room", "target_id": alpha.room.id, "weekdays": [0]}).status_code == 404
    # Beta's own plan cannot be bound to Alpha's room, nor Alpha's to Beta's.
    beta_plan = beta_api.post("/api/v1/heating/plans", json=plan_body(world, site_id=world.beta.building.id)).json()
    assert alpha_api.post("/api/v1/heating/assignments", json={
        "plan_id": beta_plan["id"], "level": "room", "target_id": alpha.room.id, "weekdays": [0]}).status_code == 404
    assert beta_api.get(f"/api/v1/heating/devices/{alpha.thermostat.id}/effective-target").status_code == 404
    assert beta_api.post(f"/api/v1/heating/rooms/{alpha.room.id}/target", json={"celsius": 20}).status_code == 403
    assert beta_api.get(f"/api/v1/heating/buildings/{alpha.building.id}/week").status_code == 404
    world.db.expire_all()
    assert world.db.scalars(select(HeatingPlan).where(HeatingPlan.tenant_id == alpha.customer.id)).all()[0].name == "Büro Werktag"


def test_the_scheduler_function_lists_changed_targets_and_respects_join_and_budget(world: World, system_db) -> None:  # type: ignore[no-untyped-def]
    clock.freeze(MONDAY_10)
    api, alpha = world.as_user("alpha_admin"), world.alpha
    plan = create_plan(api, world)
    api.post("/api/v1/heating/assignments", json={
        "plan_id": plan["id"], "level": "building", "target_id": alpha.building.id, "weekdays": list(range(7))})
    settings = world.app.state.settings.model_copy(update={"heating_daily_downlink_budget": 2})
    thermostats = {alpha.thermostat.id, world.beta.thermostat.id}
    first = {send.device_id: send for send in service.targets_to_send(system_db, MONDAY_10, settings)
             if send.device_id in thermostats}
    assert first[alpha.thermostat.id].celsius == 21 and first[alpha.thermostat.id].reason == "changed"
    device = system_db.get(type(alpha.thermostat), alpha.thermostat.id)
    service.record_sent(system_db, device, 21, MONDAY_10)
    system_db.commit()
    ids = lambda at: {s.device_id for s in service.targets_to_send(system_db, at, settings)}  # noqa: E731
    assert alpha.thermostat.id not in ids(MONDAY_10)
    service.record_join(system_db, device, MONDAY_10)
    rejoined = [s for s in service.targets_to_send(system_db, MONDAY_10, settings) if s.device_id == device.id]
    assert rejoined[0].reason == "rejoined"
    service.record_sent(system_db, device, 21, MONDAY_10)
    # Budget 2 spent: the 22:00 change (17) is held back and flagged, not listed.
    evening = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)
    assert device.id not in ids(evening)
    state = service.state_of(system_db, device)
    assert (state.deferred_celsius, state.deferred_at) == (17, evening)
    # A day after the sends the budget is free again: the value then in force goes out.
    tuesday_evening = datetime(2026, 12, 8, 21, 30, tzinfo=UTC)
    listed = [s for s in service.targets_to_send(system_db, tuesday_evening, settings) if s.device_id == device.id]
    assert [(s.celsius, s.reason) for s in listed] == [(17, "changed")]


def test_no_heating_table_holds_a_person() -> None:
    """H18: plans attach to thermostats, rooms, groups and buildings; nothing refers to a user."""
    from leitstand.db.models import Base

    tables = [table for name, table in Base.metadata.tables.items() if name.startswith("heating_")]
    assert len(tables) == 4
    for table in tables:
        assert {key.column.table.name for key in table.foreign_keys} <= {"tenants", "sites", "site_groups", "devices",
                                                                          "heating_plans"}, table.name
        assert not {"email", "display_name", "user_id", "phone"} & set(table.c.keys()), table.name
