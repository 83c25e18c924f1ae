"""Time ranges of the API: a start before its end and the longest span of an interval are rules
between parameters, answered with a 422 naming every parameter involved; the years 2000 to 2199
bound every day and time, and the OpenAPI says so."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from leitstand.clock import clock
from tests.helpers.world import World

DEVICE_RANGES = ["/api/v1/devices/{device}/telemetry", "/api/v1/devices/{device}/telemetry/export",
                 "/api/v1/sites/{site}/telemetry"]


def _named(response) -> list[tuple[list[str], str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    return [(error["loc"], error["type"]) for error in response.json()["errors"]]


def _url(template: str, world: World) -> str:
    return template.format(device=world.alpha.barrier.id, site=world.alpha.site.id)


@pytest.mark.parametrize("template", DEVICE_RANGES)
def test_telemetry_that_ends_before_it_starts_names_from_and_to(world: World, template: str) -> None:
    response = world.as_user("alpha_operator").get(
        _url(template, world), params={"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"})

    assert _named(response) == [(["query", "from"], "range_order"), (["query", "to"], "range_order")]


@pytest.mark.parametrize("template", DEVICE_RANGES)
def test_a_sub_hour_interval_over_too_long_a_span_names_interval_from_and_to(world: World, template: str) -> None:
    response = world.as_user("alpha_operator").get(
        _url(template, world), params={"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z", "interval": "5m"})

    assert _named(response) == [(["query", "interval"], "range_length"), (["query", "from"], "range_length"),
                                (["query", "to"], "range_length")]


@pytest.mark.parametrize("path", ["/api/v1/audit", "/api/v1/audit/export"])
def test_audit_since_after_until_names_both(world: World, path: str) -> None:
    response = world.as_user("alpha_admin").get(
        path, params={"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00+01:00"})

    assert _named(response) == [(["query", "since"], "range_order"), (["query", "until"], "range_order")]


@pytest.mark.parametrize("suffix", ["entries", "book.pdf"])
def test_a_maintenance_period_that_ends_before_it_starts_names_from_and_to(world: World, suffix: str) -> None:
    response = world.as_user("alpha_admin").get(
        f"/api/v1/maintenance/devices/{world.alpha.barrier.id}/{suffix}", params={"from": "2026-03-02", "to": "2026-03-01"})

    assert _named(response) == [(["query", "from"], "range_order"), (["query", "to"], "range_order")]


def test_the_maintenance_period_ends_on_to(world: World) -> None:
    # `to` was read as a parameter named "end", so the period always ended today.
    clock.freeze(datetime(2026, 6, 15, 9, 0, tzinfo=UTC))
    api, barrier = world.as_user("alpha_admin"), world.alpha.barrier
    for day in ("2026-02-10", "2026-05-20"):
        created = api.post(f"/api/v1/maintenance/devices/{barrier.id}/entries",
                           json={"performed_on": day, "technician_name": "M. Weber"})
        assert created.status_code == 201, created.text

    response = api.get(f"/api/v1/maintenance/devices/{barrier.id}/entries", params={"from": "2026-01-01", "to": "2026-03-31"})

    assert response.status_code == 200, response.text
    assert [entry["performed_on"] for entry in response.json()] == ["2026-02-10"]


@pytest.mark.parametrize(("path", "params"), [
    ("/api/v1/audit", {"since": "1999-12-31T23:59:59Z"}),
    ("/api/v1/audit", {"until": "2200-01-01T00:00:00+01:00"}),
    ("/api/v1/devices/{device}/telemetry", {"to": "0001-01-01T00:00:00+14:00"}),
    ("/api/v1/maintenance/devices/{device}/entries", {"from": "1999-12-31"}),
])
def test_days_and_times_outside_the_years_2000_to_2199_are_refused(world: World, path: str, params: dict) -> None:  # type: ignore[type-arg]
    response = world.as_user("alpha_admin").get(_url(path, world), params=params)

    assert _named(response) == [(["query", *params], "iso_8601")]


def test_the_openapi_states_the_bounds_and_the_rules_between_parameters(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/v1/openapi.json").json()["paths"]

    def parameter(path: str, name: str) -> dict:  # type: ignore[type-arg]
        return next(p for p in paths[path]["get"]["parameters"] if p["name"] == name)

    def schema(path: str, name: str) -> dict:  # type: ignore[type-arg]
        return parameter(path, name)["schema"]

    telemetry, audit = "/api/v1/devices/{device_id}/telemetry", "/api/v1/audit"
    entries = "/api/v1/maintenance/devices/{device_id}/entries"
    for path, name in [(telemetry, "from"), (telemetry, "to"), (audit, "since"), (audit, "until")]:
        stated = schema(path, name)
        assert stated["format"] == "date-time"
        assert re.match(stated["pattern"], "2026-03-01T08:00:00+01:00")
        assert not re.match(stated["pattern"], "1999-12-31T08:00:00Z")
        assert not re.match(stated["pattern"], "2026-03-01T08:00:00")  # an offset is required
    for name in ("from", "to"):
        assert schema(entries, name)["format"] == "date"
        assert not re.match(schema(entries, name)["pattern"], "2200-01-01")
    assert "before `to`" in parameter(telemetry, "from")["description"]
    assert "before `until`" in parameter(audit, "since")["description"]
    assert "not after `to`" in parameter(entries, "from")["description"]
    assert "31 days" in parameter(telemetry, "interval")["description"]
