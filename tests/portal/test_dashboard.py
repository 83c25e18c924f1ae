"""The start dashboard: its figures per user, and its tiles following the fleet live in a browser."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from leitstand.clock import clock
from leitstand.ingest.message import DeviceMessage, MessageKind
from leitstand.scheduler.loop import JOBS, JobContext
from leitstand.tenancy.scope import system_session
from tests.helpers.world import BETA_MARK, World


@pytest.fixture(autouse=True)
def english(world: World) -> None:
    """Users default to German; these tests read the English texts."""
    for user in world.users.values():
        user.language = "en"
    world.db.commit()


def tile_value(html: str, tile_id: str) -> str:
    match = re.search(rf'id="{tile_id}"[^>]*>\s*<span class="tile-value">([^<]*)</span>', html)
    assert match, f"no tile {tile_id}"
    return match.group(1).strip()


def heartbeat(app, serial: str) -> None:  # type: ignore[no-untyped-def]
    """The device says it is alive, through the real ingest pipeline (which publishes live updates)."""
    now = clock.now()
    report = app.state.ingestor.accept([DeviceMessage(serial=serial, kind=MessageKind.heartbeat, received_at=now, sent_at=now)])
    assert not report.rejected


def run_offline_detection(app) -> None:  # type: ignore[no-untyped-def]
    """The scheduler's offline job, as the scheduler runs it: mark, commit, publish to the live hub."""
    job = next(job for job in JOBS if job.name == "offline detection")
    with system_session(app.state.session_factory, reason="test runs offline detection") as db:
        job.run(db, JobContext(app.state.live_hub.publish, app.state.settings))


def error_report(app, serial: str, code: str) -> None:  # type: ignore[no-untyped-def]
    now = clock.now()
    app.state.ingestor.accept([DeviceMessage(serial=serial, kind=MessageKind.event, received_at=now, sent_at=now,
                                             event_code=code)])


# --- server side ----------------------------------------------------------------------------


def test_the_tiles_count_what_the_user_may_see(world: World):
    heartbeat(world.app, world.alpha.barrier.serial_number)

    html = world.as_user("alpha_admin").get("/").text

    assert tile_value(html, "tile-sites") == "1"
    assert tile_value(html, "tile-online") == "1" and "of 2 devices" in html
    assert tile_value(html, "tile-offline") == "1" and "1 never seen" in html
    assert world.alpha.thermostat.name in html  # never seen: needs attention
    assert BETA_MARK not in html


def test_an_end_customer_counts_only_the_device_shared_with_them(world: World):
    html = world.as_user("alpha_end").get("/").text

    # The site belongs to the customer, not to them: no tile leading to an empty map, as in the navigation.
    assert 'id="tile-sites"' not in html
    assert "of 1 device" in html and world.alpha.barrier.name in html
    assert world.alpha.thermostat.name not in html
    assert 'id="tile-licenses"' not in html  # end customers do not read licenses


def test_licenses_ending_within_30_days_are_counted(world: World):
    world.alpha.license.ends_on = date.today() + timedelta(days=10)
    world.alpha.license.auto_renew = False
    world.beta.license.ends_on = date.today() + timedelta(days=40)
    world.db.commit()

    alpha = world.as_user("alpha_admin").get("/").text
    beta = world.as_user("beta_admin").get("/").text

    assert tile_value(alpha, "tile-licenses") == "1" and "0 renew automatically" in alpha
    assert tile_value(beta, "tile-licenses") == "0"


def test_error_reports_of_the_last_day_show_by_severity_and_the_device_needs_attention(world: World):
    from leitstand.devicetypes.spec import shipped_types

    code = shipped_types()["barrier"].errors[0]
    heartbeat(world.app, world.alpha.barrier.serial_number)
    error_report(world.app, world.alpha.barrier.serial_number, code.code)

    html = world.as_user("alpha_admin").get("/").text
    beta = world.as_user("beta_admin").get("/").text

    assert f"{code.severity.value} 1" in html
    attention = html[html.index('id="problem-devices"'):html.index('id="recent-events"')]
    assert world.alpha.barrier.name in attention and "error reported" in attention
    assert f"{code.severity.value} 1" not in beta and world.alpha.barrier.name not in beta  # no count, no event


def test_the_tiles_fragment_is_the_live_part_only(world: World):
    response = world.as_user("alpha_admin").get("/dashboard/tiles", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "<html" not in response.text and 'id="tile-online"' in response.text


def test_the_dashboard_wants_a_login(client):  # type: ignore[no-untyped-def]
    response = client.get("/", follow_redirects=False)

    assert response.status_code == 303 and response.headers["location"].startswith("/login")


# --- in a browser ---------------------------------------------------------------------------


@pytest.mark.usefixtures("world")
def test_the_online_count_drops_live_when_a_device_stops(app, world: World, page, login, shot):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    clock.freeze(datetime.now(UTC))
    heartbeat(app, world.alpha.barrier.serial_number)
    login(page, "admin@alpha.test")
    # The live stream's response means the server has subscribed this page to its devices.
    with page.expect_response(lambda response: response.url.endswith("/api/v1/live")):
        page.goto("/")
    online = page.locator("#tile-online .tile-value")
    expect(online).to_have_text("1")
    expect(page.locator("#tile-offline .tile-value")).to_have_text("1")
    shot(page, "dashboard")

    # The barrier stops reporting: past its heartbeat (5 min) and the grace, offline detection runs.
    clock.advance(timedelta(minutes=10))
    run_offline_detection(app)

    expect(online).to_have_text("0")
    expect(page.locator("#tile-offline .tile-value")).to_have_text("2")
    expect(page.locator("#problem-devices")).to_contain_text(world.alpha.barrier.name)
    assert page.url.endswith("/")  # no reload: the same page, updated in place


def test_the_dashboard_of_a_partner_admin_and_of_an_end_customer_differ(world: World, page, login):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    login(page, "admin@alpha.test")
    expect(page.locator("#tile-sites .tile-value")).to_have_text("1")
    expect(page.locator("#tile-online")).to_contain_text("of 2 devices")
    page.context.clear_cookies()

    login(page, "end@alpha.test")
    expect(page.locator("#tile-sites")).to_have_count(0)
    expect(page.locator("#tile-online")).to_contain_text("of 1 device")
    expect(page.locator("body")).not_to_contain_text(world.alpha.thermostat.name)
