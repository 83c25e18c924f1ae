"""Issue 15: wherever a location appears, it reads as its full path ("Parkhaus Hbf › Haus › Einfahrt").

The world's devices stand in room "Alpha Raum" of building "Alpha Haus" of site "Alpha Parkhaus".
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from sqlalchemy import event

from leitstand.alarms.service import raise_alarm
from leitstand.clock import clock
from leitstand.alarms.change import AlarmChange
from leitstand.notifications.wording import alarm_notification
from leitstand.sites.models import Site, SiteKind
from leitstand.sites.locations import location_paths
from leitstand.tenancy.models import new_path_segment
from leitstand.tenancy.scope import AccessScope, bind_scope, system_session
from tests.notifications.helpers import raise_and_notify
from tests.helpers.world import ALPHA_MARK, World

NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)


def room_path(world: World) -> str:
    alpha = world.alpha
    return f"{alpha.site.name} › {alpha.building.name} › {alpha.room.name}"


def linked(site: Site, text: str) -> str:
    return f'<a href="/sites/{site.id}">{text}</a>'


def _alarm(world: World) -> int:
    with system_session(world.app.state.session_factory, reason="test raises an alarm") as db:
        alarm = raise_alarm(db, device_id=world.alpha.barrier.id, kind="error_code", key="errors:E12",
                            severity="major", title="Motor blocked", title_de="Motor blockiert", code="E12")
        db.commit()
        return alarm.id


def _plan(world: World) -> None:
    response = world.as_user("alpha_admin").post(
        f"/api/v1/maintenance/devices/{world.alpha.barrier.id}/plans",
        json={"name": "Annual safety inspection", "kind": "interval", "interval_months": 12, "last_done_on": "2025-05-01"})
    assert response.status_code == 201, response.text


# --- the one function ------------------------------------------------------------------------


def test_paths_of_many_sites_take_as_many_queries_as_of_one_and_respect_the_scope(world: World,
                                                                                  session_factory) -> None:
    alpha = world.alpha

    def counted(site_ids: list[int | None]) -> tuple[dict[int, str], int]:
        statements: list[str] = []
        with system_session(session_factory, reason="test") as db:
            listener = lambda *args: statements.append(args[2])  # noqa: E731
            event.listen(db.get_bind(), "before_cursor_execute", listener)
            try:
                return location_paths(db, site_ids), len(statements)
            finally:
                event.remove(db.get_bind(), "before_cursor_execute", listener)

    paths, queries = counted([alpha.room.id, alpha.building.id, alpha.site.id, None, world.beta.room.id])
    assert queries == counted([alpha.room.id])[1] <= 2
    assert paths[alpha.room.id] == room_path(world)
    assert paths[alpha.building.id] == f"{alpha.site.name} › {alpha.building.name}"
    assert paths[alpha.site.id] == alpha.site.name
    assert paths[world.beta.room.id].startswith(world.beta.site.name)

    # Someone granted only the building reads the path from there; another tenant's room is not named.
    with session_factory() as db:
        bind_scope(db, AccessScope(site_paths=frozenset({alpha.building.path})))
        granted = location_paths(db, [alpha.room.id, world.beta.room.id, alpha.site.id])
    assert granted == {alpha.room.id: f"{alpha.building.name} › {alpha.room.name}"}


# --- the portal's pages ----------------------------------------------------------------------


def test_device_list_and_device_page_show_the_full_path(world: World) -> None:
    api, room = world.as_user("alpha_admin"), world.alpha.room
    table = api.get("/devices", headers={"HX-Request": "true", "HX-Target": "device-table"}).text
    assert linked(room, room_path(world)) in table

    device_page = api.get(f"/devices/{world.alpha.barrier.id}").text
    breadcrumb = device_page.split('class="muted breadcrumb"')[1].split("</p>")[0]
    assert linked(room, room_path(world)) in breadcrumb
    assert f"<dd>{linked(room, room_path(world))}</dd>" in device_page

    assert ALPHA_MARK not in world.as_user("beta_admin").get("/devices").text


def test_alarm_list_and_alarm_page_show_the_full_path(world: World) -> None:
    alarm_id = _alarm(world)
    api = world.as_user("alpha_admin")
    row = api.get("/alarms/table").text.split(f'data-alarm-id="{alarm_id}"')[1].split("</tr>")[0]
    assert room_path(world) in row

    breadcrumb = api.get(f"/alarms/{alarm_id}").text.split('class="muted breadcrumb"')[1].split("</p>")[0]
    assert linked(world.alpha.room, room_path(world)) in breadcrumb
    assert world.as_user("beta_admin").get(f"/alarms/{alarm_id}").status_code == 404


def test_maintenance_board_book_and_service_history_show_the_full_path(world: World) -> None:
    clock.freeze(NOW)
    _plan(world)
    api, room = world.as_user("alpha_admin"), world.alpha.room
    red = api.get("/maintenance").text.split('id="maintenance-red"')[1].split("</section>")[0]
    assert room_path(world) in red

    book = api.get(f"/maintenance/devices/{world.alpha.barrier.id}").text
    assert f'href="/maintenance/sites/{room.id}">Servicehistorie: {room_path(world)}</a>' in book

    history = api.get(f"/maintenance/sites/{room.id}").text
    breadcrumb = history.split('class="breadcrumb"')[1].split("</nav>")[0]
    assert linked(room, room_path(world)) in breadcrumb
    assert world.as_user("beta_admin").get(f"/maintenance/sites/{room.id}").status_code == 404


def test_ticket_list_and_ticket_page_show_the_full_path(world: World) -> None:
    api, room = world.as_user("alpha_operator"), world.alpha.room
    form = api.get(f"/tickets/new?site_id={room.id}").text
    assert f'<strong id="ticket-reference">{room_path(world)}</strong>' in form
    created = api.post("/api/v1/tickets", json={"ticket_class": 3, "title": "Einfahrt klemmt", "site_id": room.id})
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]
    from_device = api.post("/api/v1/tickets", json={"ticket_class": 3, "title": "Schranke",
                                                    "device_id": world.alpha.barrier.id}).json()["id"]

    listing = api.get("/tickets").text
    for listed in (ticket_id, from_device):
        row = listing.split(f'href="/tickets/{listed}"')[1].split("</tr>")[0]
        assert room_path(world) in row
    header = api.get(f"/tickets/{ticket_id}").text.split('id="sla-clock"')[0]
    assert linked(room, room_path(world)) in header
    assert world.as_user("beta_admin").get(f"/tickets/{ticket_id}").status_code == 404


def test_muted_sites_and_the_mute_choices_show_the_full_path(world: World) -> None:
    api, room = world.as_user("alpha_operator"), world.alpha.room
    settings_page = api.get("/notifications").text
    assert f'<option value="{room.id}">{room_path(world)}</option>' in settings_page

    assert api.request("PUT", f"/api/v1/me/site-mutes/{room.id}").status_code == 200
    mutes = api.get("/notifications").text.split('id="site-mutes"')[1].split("</section>")[0]
    assert f"<li>{room_path(world)} <button" in mutes
    assert world.as_user("beta_admin").request("PUT", f"/api/v1/me/site-mutes/{room.id}").status_code == 404


def test_site_page_lists_its_devices_with_their_full_path(world: World) -> None:
    alpha = world.alpha
    devices = world.as_user("alpha_admin").get(f"/sites/{alpha.site.id}").text.split('id="site-device-list"')[1]
    row = devices.split(f'data-device-id="{alpha.barrier.id}"')[1].split("</tr>")[0]
    assert f"<td>{room_path(world)}</td>" in row

    # A technician granted the building reads the path from there: the site above is not theirs to see.
    world.user_with_role("building_tech", None, alpha.customer)
    world.grant("building_tech", "operator_technician", site=alpha.building)
    granted = world.as_user("building_tech").get(f"/sites/{alpha.building.id}").text.split('id="site-device-list"')[1]
    assert f"<td>{alpha.building.name} › {alpha.room.name}</td>" in granted
    assert alpha.site.name not in granted
    # Their list starts at the building too.
    assert linked(alpha.building, alpha.building.name) in world.as_user("building_tech").get("/sites/list").text


# --- notifications -----------------------------------------------------------------------------


def _facts(**changes: object) -> AlarmChange:
    facts = AlarmChange(alarm_id=7, tenant_id=1, site_id=3, device_id=5, device_name="Schranke 1",
                        device_type_key="barrier", severity="major", state="active", title="Motor blocked",
                        title_de="Motor blockiert", steps_en=(), steps_de=(), raised_at=NOW, change="raised",
                        location="Parkhaus Hbf › Einfahrt")
    return replace(facts, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", ["de", "en"])
def test_notification_texts_name_the_full_location(language: str) -> None:
    for escalated_after in (None, 15):
        notification = alarm_notification(_facts(), language, "https://leitstand.example",
                                          escalated_after_minutes=escalated_after)
        assert "Parkhaus Hbf › Einfahrt" in notification.body.splitlines()
        assert notification.data["location"] == "Parkhaus Hbf › Einfahrt"  # webhooks get it as a field
    # A device without a site: no empty line where the location would be.
    assert alarm_notification(_facts(site_id=None, location=""), language, "https://x").body.splitlines()[0] != ""


def test_the_location_survives_an_escalation_watch() -> None:
    facts = _facts()
    assert AlarmChange.from_json(facts.as_json()) == facts
    stored_before_locations = {key: value for key, value in facts.as_json().items() if key != "location"}
    assert AlarmChange.from_json(stored_before_locations).location == ""


def test_a_raised_alarm_is_mailed_with_its_full_location(app, world: World, smtp) -> None:  # type: ignore[no-untyped-def]
    rule = world.as_user("alpha_admin").post("/api/v1/notifications/rules", json={
        "tenant_id": world.alpha.customer.id, "name": "Leitwarte", "user_ids": [world.alpha.operator.id],
        "channels": ["email"]})
    assert rule.status_code == 201, rule.text
    raise_and_notify(app, world.alpha.barrier)
    [mail] = smtp.to(world.alpha.operator.email)
    text = message_from_bytes(mail.as_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    assert room_path(world) in text
