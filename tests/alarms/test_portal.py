"""The alarm pages render what the user may see (server side, without a browser)."""

from __future__ import annotations

from tests.alarms.conftest import error_event, open_alarms


def test_alarm_pages_and_fragments(world, ingestor):
    ingestor.accept([error_event(world.alpha.barrier.serial_number, "E02")])
    [alarm] = open_alarms(world, world.alpha.barrier.id)
    admin, beta = world.as_user("alpha_admin"), world.as_user("beta_admin")

    listing = admin.get("/alarms")
    assert listing.status_code == 200 and "Lichtschranke gestört" in listing.text
    detail = admin.get(f"/alarms/{alarm.id}").text
    assert "Linsen der Lichtschranke reinigen." in detail and "Quittieren" in detail
    assert 'data-open-alarms="1"' in admin.get("/alarms/tile").text
    assert "Linsen der Lichtschranke reinigen." in admin.get(f"/alarms/device/{world.alpha.barrier.id}").text
    assert 'id="device-alarms"' in admin.get(f"/devices/{world.alpha.barrier.id}").text
    assert 'id="tile-alarms"' in admin.get("/").text
    rules = admin.get("/alarms/rules").text
    assert "barrier.errors" in rules and 'id="rule-editor"' in rules

    assert beta.get(f"/alarms/{alarm.id}").status_code == 404
    assert "Lichtschranke" not in beta.get("/alarms").text
    assert 'data-open-alarms="0"' in beta.get("/alarms/tile").text


def test_a_reader_sees_no_buttons_and_no_rule_editor(world, ingestor):
    ingestor.accept([error_event(world.alpha.barrier.serial_number, "E01")])
    [alarm] = open_alarms(world, world.alpha.barrier.id)
    reader = world.as_user("alpha_reader")
    assert "Quittieren" not in reader.get(f"/alarms/{alarm.id}").text
    assert 'id="rule-editor"' not in reader.get("/alarms/rules").text
