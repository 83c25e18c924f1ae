"""The alarm-rule builder (issue 15): a threshold rule from choices instead of JSON, with a preview of
where it would have fired on a device's last 7 days.

The README's German desktop screenshot of the builder (docs/screenshots/rule-builder.png) comes
from here: test-output/screenshots/rule-builder.png.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from leitstand.audit.models import AuditEntry
from leitstand.clock import clock
from leitstand.telemetry.store import Point, write_points
from tests.portal.conftest import new_context
from tests.helpers.world import World

HOT, NORMAL, LIMIT = 35.0, 20.0, 30.5
# Hours before the last reading that are too warm: three episodes, so three alarms. A reading of
# exactly the limit is not above it.
HOT_HOURS = {100, 99, 98, 50, 10, 9}
AT_THE_LIMIT_HOUR = 70


def _seed_temperatures(app: Any, device_id: int) -> list[datetime]:
    """Hourly room temperatures over the last week; returns the moments the rule > 30.5 fires."""
    last = clock.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hours = range(160, -1, -1)  # oldest first, all within the preview's 7 days

    def value(hour: int) -> float:
        return HOT if hour in HOT_HOURS else LIMIT if hour == AT_THE_LIMIT_HOUR else NORMAL

    points = [Point(device_id, "temperature", last - timedelta(hours=hour), value(hour), "Europe/Berlin") for hour in hours]
    with app.state.engine.begin() as connection:
        write_points(connection, points)
    return [last - timedelta(hours=hour) for hour in (100, 50, 10)]  # each episode's first hot reading


def _rules_of(world: World, user: str) -> list[dict[str, Any]]:
    response = world.as_user(user).get("/api/v1/alarm-rules")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_rule_built_from_choices_is_stored_with_its_condition_and_site(
    browser: Any, portal_url: str, world: World, app: Any, login, shot,  # type: ignore[no-untyped-def]
) -> None:
    _seed_temperatures(app, world.alpha.thermostat.id)
    context = new_context(browser, portal_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    login(page, "admin@alpha.test")
    page.goto("/alarms/rules")
    builder = page.locator("#rule-builder")

    builder.get_by_label("Name").fill("Raum zu warm")
    builder.get_by_label("Gerätetyp").select_option(label="Heizkörperthermostat")
    metric = builder.get_by_label("Messgröße")
    metric.select_option(label="Raumtemperatur (°C)")  # the metric with its unit
    expect(metric.locator("option:checked")).to_have_text("Raumtemperatur (°C)")
    expect(builder.locator("[data-builder-unit]")).to_have_text("°C")  # next to the threshold
    expect(metric.locator('option[data-type="barrier"]').first).to_be_hidden()  # only the thermostat's metrics
    builder.get_by_label("Operator").select_option(">")
    builder.get_by_label("Schwellwert").fill("30,5")  # a German decimal comma
    builder.get_by_label("Schweregrad").select_option("major")
    builder.get_by_label("Standorte").select_option(label=world.alpha.site.name)  # by name, not by ID

    preview = page.locator("[data-rule-preview]")
    expect(preview).to_have_attribute("data-state", "ready")
    expect(preview.locator("[data-preview-device] option:checked")).to_have_text(world.alpha.thermostat.name)
    expect(preview.locator("[data-preview-summary]")).to_have_text("Hätte in den letzten 7 Tagen 3-mal ausgelöst.")
    expect(preview.locator("[data-preview-firings] li")).to_have_count(3)
    expect(preview.locator("[data-preview-chart] canvas")).to_be_visible()
    # The builder's heading just below the sticky top bar, the preview's firings in view.
    page.evaluate("window.scrollTo(0, document.getElementById('rule-builder').getBoundingClientRect().top + scrollY - 70)")
    shot(page, "rule-builder", full_page=False)

    builder.get_by_role("button", name="Regel speichern").click()
    expect(page.locator("[data-rules-saved]")).to_have_text("1 Regel gespeichert.")
    listed = page.locator("#tenant-rules tr[data-rule-id]")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text(world.alpha.site.name)  # the target by name
    expect(listed.locator("[data-condition]")).to_have_text("Raumtemperatur > 30,5 °C")
    context.close()

    [rule] = _rules_of(world, "alpha_admin")
    assert rule["type_key"] == "thermostat"
    assert rule["name"] == "Raum zu warm"
    assert rule["severity"] == "major"
    assert rule["condition"] == {"kind": "threshold", "key": "temperature", "operator": ">", "value": 30.5,
                                 "duration_seconds": 0, "hysteresis": 0}
    assert (rule["target_kind"], rule["site_id"], rule["device_id"]) == ("site", world.alpha.site.id, None)


def test_the_preview_tells_when_the_rule_would_have_fired_and_only_on_visible_devices(world: World, app: Any) -> None:
    fired = _seed_temperatures(app, world.alpha.thermostat.id)
    query = {"device": world.alpha.thermostat.id, "metric": "temperature", "operator": ">", "threshold": "30,5"}

    response = world.as_user("alpha_operator").get("/alarms/rules/preview", params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [datetime.fromisoformat(item["at"]) for item in body["fired"]] == fired
    assert [item["value"] for item in body["fired"]] == [HOT, HOT, HOT]
    assert body["count"] == 3 and body["threshold"] == LIMIT and body["unit"] == "°C"
    assert body["summary"] == "Hätte in den letzten 7 Tagen 3-mal ausgelöst."
    assert body["values"], "the chart's series comes along"

    below = world.as_user("alpha_operator").get("/alarms/rules/preview", params={**query, "operator": "<", "threshold": "20"})
    assert below.json()["count"] == 0
    assert below.json()["summary"] == "Hätte in den letzten 7 Tagen nicht ausgelöst."

    other_tenant = world.as_user("beta_operator").get("/alarms/rules/preview", params=query)
    assert other_tenant.status_code == 404

    for bad in ({"threshold": "abc"}, {"metric": "motor_temperature"}, {"operator": ">="}):
        refused = world.as_user("alpha_operator").get("/alarms/rules/preview", params={**query, **bad})
        assert refused.status_code == 422, (bad, refused.text)


def test_another_tenant_cannot_build_a_rule_for_a_site_it_does_not_see(world: World) -> None:
    form = {"name": "Fremd", "type_key": "thermostat", "metric": "temperature", "operator": ">",
            "threshold": "30", "severity": "major", "site_id": str(world.alpha.site.id), "enabled": "on"}
    response = world.as_user("beta_admin").post("/alarms/rules", data=form, follow_redirects=False)
    assert response.status_code == 422
    assert "Wählen Sie Standorte aus der Liste." in response.text
    assert _rules_of(world, "beta_admin") == [] and _rules_of(world, "alpha_admin") == []


@pytest.fixture
def page_without_javascript(browser: Any, portal_url: str, login) -> Any:  # type: ignore[no-untyped-def]
    """Signed in (the login page needs JavaScript), then the same session with JavaScript off."""
    signing_in = new_context(browser, portal_url)
    login(signing_in.new_page(), "admin@alpha.test")
    session = signing_in.storage_state()
    signing_in.close()
    context = new_context(browser, portal_url, java_script_enabled=False, storage_state=session)
    yield context.new_page()
    context.close()


def test_bad_input_is_refused_with_clear_german_errors_and_the_form_keeps_its_values(
    page_without_javascript: Page, world: World,
) -> None:
    page = page_without_javascript
    page.goto("/alarms/rules")
    builder = page.locator("#rule-builder")
    builder.get_by_label("Name").fill("Raum zu warm")
    builder.get_by_label("Gerätetyp").select_option(label="Heizkörperthermostat")
    builder.get_by_label("Messgröße").select_option("motor_temperature")  # a barrier's metric: without JS all are listed
    builder.get_by_label("Schwellwert").fill("abc")
    builder.get_by_label("Standorte").select_option(label=world.alpha.site.name)

    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        builder.get_by_role("button", name="Regel speichern").click()
    assert posted.value.status == 422

    builder = page.locator("#rule-builder")
    expect(builder.locator("[data-builder-errors]")).to_contain_text("nicht gespeichert")
    expect(builder.locator("#builder-metric-error")).to_have_text("Wählen Sie eine Messgröße des gewählten Gerätetyps.")
    expect(builder.locator("#builder-threshold-error")).to_have_text("Geben Sie eine Zahl ein, z. B. 30,5.")
    # What was typed and chosen is still there, to correct.
    expect(builder.get_by_label("Name")).to_have_value("Raum zu warm")
    expect(builder.get_by_label("Schwellwert")).to_have_value("abc")
    expect(builder.get_by_label("Gerätetyp").locator("option:checked")).to_have_text("Heizkörperthermostat")
    expect(builder.get_by_label("Standorte").locator("option:checked")).to_have_text(world.alpha.site.name)
    expect(builder.get_by_label("Schwellwert")).to_have_attribute("aria-invalid", "true")
    assert _rules_of(world, "alpha_admin") == []

    # The plain form carries the session's CSRF token; a post from elsewhere, without it, is refused.
    forged = page.request.post("/alarms/rules", form={"name": "Fremd", "type_key": "thermostat", "metric": "temperature",
                                                      "operator": ">", "threshold": "1", "severity": "major"})
    assert forged.status == 403
    assert _rules_of(world, "alpha_admin") == []

    # Corrected, the same plain form saves the rule.
    builder.get_by_label("Messgröße").select_option(label="Raumtemperatur (°C)")
    builder.get_by_label("Schwellwert").fill("30,5")
    builder.get_by_role("button", name="Regel speichern").click()
    expect(page.locator("[data-rules-saved]")).to_have_text("1 Regel gespeichert.")
    [rule] = _rules_of(world, "alpha_admin")
    assert rule["condition"]["value"] == 30.5 and rule["site_id"] == world.alpha.site.id
    audited = world.db.scalars(select(AuditEntry).where(AuditEntry.action == "alarm_rules.create")).all()
    assert [(entry.actor_user_id, entry.target_id) for entry in audited] == [(world.users["alpha_admin"].id, str(rule["id"]))]
