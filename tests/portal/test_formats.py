"""One format module: local times with their zone, German decimal commas, counted nouns."""

from __future__ import annotations

from datetime import UTC, date, datetime

from leitstand.dataexport.models import ExportJob
from leitstand.formats import format_day, format_interval, format_moment, format_number, format_quantity
from leitstand import i18n
from leitstand.state.models import DeviceState
from tests.helpers.world import World

WINTER = datetime(2026, 12, 3, 13, 5, tzinfo=UTC)
SUMMER = datetime(2026, 7, 3, 12, 5, tzinfo=UTC)


def test_a_utc_time_reads_as_berlin_time_with_its_zone_in_winter_and_summer() -> None:
    assert format_moment(WINTER, "Europe/Berlin", "de") == "03.12.2026, 14:05 MEZ"
    assert format_moment(SUMMER, "Europe/Berlin", "de") == "03.07.2026, 14:05 MESZ"
    assert format_moment(WINTER, "Europe/Berlin", "en") == "2026-12-03 14:05 CET"
    assert format_moment(SUMMER, "Europe/Berlin", "en") == "2026-07-03 14:05 CEST"
    assert format_moment(WINTER, "UTC", "de") == "03.12.2026, 13:05 UTC"
    assert format_moment(None, "Europe/Berlin", "de") == ""
    assert format_moment(None, "Europe/Berlin", "de", empty="—") == "—"


def test_an_interval_reads_as_local_clock_times_and_names_the_date_when_it_ends_on_another_day() -> None:
    quarter_end = datetime(2026, 12, 3, 13, 20, tzinfo=UTC)
    assert format_interval(WINTER, quarter_end, "Europe/Berlin", "de") == "14:05–14:20"
    assert format_interval(WINTER, quarter_end, "Europe/Berlin", "en") == "14:05–14:20"
    assert format_interval(WINTER, datetime(2026, 12, 4, 13, 5, tzinfo=UTC), "Europe/Berlin", "de") == (
        "03.12.2026, 14:05 MEZ–04.12.2026 14:05")
    assert format_interval(WINTER, None, "Europe/Berlin", "de") == ""


def test_an_unknown_zone_or_language_falls_back_instead_of_failing() -> None:
    assert format_moment(WINTER, "Mars/Olympus", "de") == "03.12.2026, 13:05 UTC"
    assert format_moment(WINTER, "Europe/Berlin", "fr") == "2026-12-03 14:05 CET"


def test_numbers_and_quantities_use_the_languages_marks() -> None:
    assert format_number(21.5, "de", 1) == "21,5"
    assert format_number(21.5, "en", 1) == "21.5"
    assert format_number(1234.5, "de", 1) == "1.234,5"
    assert format_number(1234.5, "en", 1) == "1,234.5"
    assert format_number(1234, "de") == "1.234"
    assert format_number(None, "de") == ""
    assert format_quantity(21.46, "°C", "de") == "21,5\u00a0°C"
    assert format_quantity(87.0, "%", "de") == "87\u00a0%"
    assert format_quantity(21.0, "°C", "de", 1) == "21,0\u00a0°C"
    assert format_number("open", "de") == "open"
    assert format_quantity(45, "%", "en", 0) == "45\u00a0%"
    assert format_quantity(3.0, "", "de") == "3"


def test_days_read_in_the_languages_order() -> None:
    assert format_day(date(2026, 1, 2), "de") == "02.01.2026"
    assert format_day(date(2026, 1, 2), "en") == "2026-01-02"
    assert format_day(None, "de", empty="—") == "—"


def test_counted_values_have_a_german_singular_and_plural() -> None:
    german = i18n.translations("de")
    assert german.ngettext("%(num)s value", "%(num)s values", 1) % {"num": 1} == "1 Wert"
    assert german.ngettext("%(num)s value", "%(num)s values", 2) % {"num": 2} == "2 Werte"


def test_the_export_list_shows_requested_times_in_the_tenants_zone_not_utc(world: World) -> None:
    world.db.add(ExportJob(tenant_id=world.alpha.customer.id, state="done", progress=100.0, file_name="a.zip",
                           size=1572864, sha256="ab" * 32, created_at=WINTER))
    world.db.commit()
    page = world.as_user("alpha_admin").get("/exports/jobs", headers={"accept-language": "de"})
    assert page.status_code == 200
    assert "03.12.2026, 14:05 MEZ" in page.text
    assert " UTC" not in page.text
    assert "1,5\u00a0MiB" in page.text  # 1.5 MiB with a decimal comma


def test_a_german_device_page_shows_telemetry_with_a_decimal_comma(world: World) -> None:
    thermostat = world.alpha.thermostat
    at = WINTER.isoformat()
    world.db.add(DeviceState(device_id=thermostat.id, tenant_id=thermostat.tenant_id, online=True, last_seen_at=WINTER,
                             latest={"temperature": {"value": 21.5, "at": at}, "valve_opening": {"value": 40, "at": at}}))
    world.db.commit()
    page = world.as_user("alpha_admin").get(f"/devices/{thermostat.id}/status", headers={"accept-language": "de"})
    assert page.status_code == 200
    assert "21,5\u00a0°C" in page.text
    assert "40\u00a0%" in page.text  # a whole number stays whole
    assert "21.5" not in page.text.replace('data-value="21.5"', "")
    assert "03.12.2026, 14:05 MEZ" in page.text  # last seen, with its zone


def test_another_tenants_export_or_device_stays_hidden(world: World) -> None:
    world.db.add(ExportJob(tenant_id=world.alpha.customer.id, state="done", progress=100.0, file_name="a.zip",
                           size=10, sha256="ab" * 32, created_at=WINTER))
    world.db.commit()
    outsider = world.as_user("beta_admin")
    assert "03.12.2026" not in outsider.get("/exports/jobs").text
    assert outsider.get(f"/devices/{world.alpha.thermostat.id}/status").status_code == 404


def test_a_german_dashboard_counts_one_licence_in_the_singular(world: World) -> None:
    world.alpha.license.ends_on = date.today()
    world.alpha.license.auto_renew = True
    world.db.commit()
    page = world.as_user("alpha_admin").get("/", headers={"accept-language": "de"})
    assert page.status_code == 200
    assert "1 verlängert sich automatisch" in page.text
    assert "1 verlängern" not in page.text


def test_a_live_last_seen_update_reads_as_the_server_writes_it(page, portal_url: str, world: World, app, login):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from leitstand.ingest.message import DeviceMessage, MessageKind
    from tests.portal.devices_support import wait_for_live_subscribers

    login(page, "admin@alpha.test")
    page.goto("/devices")
    cell = page.locator(".device-table tbody tr", has_text=world.alpha.barrier.name).locator("[data-last-seen-cell] time")
    wait_for_live_subscribers(app)
    now = datetime.now(UTC)
    app.state.ingestor.accept([DeviceMessage(serial=world.alpha.barrier.serial_number, kind=MessageKind.heartbeat,
                                             received_at=now, sent_at=now)])
    expect(cell).to_be_visible()
    seen = datetime.fromisoformat(cell.get_attribute("datetime") or "")
    expect(cell).to_have_text(format_moment(seen, "Europe/Berlin", "de"))
