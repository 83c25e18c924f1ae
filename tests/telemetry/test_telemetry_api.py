"""Telemetry over the API: series, aggregates, latest values, sites, exports, and who sees what."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from leitstand.clock import clock
from leitstand.telemetry.store import Point, write_points
from leitstand.tenancy.scope import system_session
from tests.helpers.world import ALPHA_MARK

BERLIN = "Europe/Berlin"
T0 = datetime(2026, 3, 27, tzinfo=UTC)
END = T0 + timedelta(days=4)


def write(session_factory, points) -> None:  # type: ignore[no-untyped-def]
    with system_session(session_factory, reason="test") as db:
        write_points(db.connection(), points)
        db.commit()


@pytest.fixture
def fleet(world, session_factory):  # type: ignore[no-untyped-def]
    alpha, beta = world.alpha, world.beta
    points = []
    for i in range(4 * 96):
        at = T0 + timedelta(minutes=15 * i)
        points += [Point(alpha.thermostat.id, "temperature", at, 20.0 + i % 4, BERLIN),
                   Point(alpha.barrier.id, "cycles", at, float(i), BERLIN),
                   Point(beta.thermostat.id, "temperature", at, 99.0, BERLIN)]
    points.append(Point(alpha.barrier.id, "position", T0 + timedelta(hours=1), "open", BERLIN))
    write(session_factory, points)
    clock.freeze(END)
    return world


def url(device_id: int, suffix: str = "") -> str:
    return f"/api/v1/devices/{device_id}/telemetry{suffix}"


def q(start: datetime, end: datetime, **params: object) -> dict[str, object]:
    return {"from": start.isoformat(), "to": end.isoformat(), **params}


def test_raw_points_of_a_device(fleet):
    client = fleet.as_user("alpha_operator")
    response = client.get(url(fleet.alpha.thermostat.id), params=q(T0, T0 + timedelta(hours=1)))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["interval"] == "raw" and body["time_zone"] == BERLIN and body["truncated"] is False
    assert (body["from"], body["to"]) == ("2026-03-27T01:00:00+01:00", "2026-03-27T02:00:00+01:00")
    [series] = body["series"]
    assert series["key"] == "temperature" and series["buckets"] is None
    assert [p["at"] for p in series["points"]] == [
        "2026-03-27T01:00:00+01:00", "2026-03-27T01:15:00+01:00", "2026-03-27T01:30:00+01:00", "2026-03-27T01:45:00+01:00"]
    assert [p["value"] for p in series["points"]] == [20.0, 21.0, 22.0, 23.0]


def test_the_default_range_is_the_last_day_and_limit_truncates(fleet):
    client = fleet.as_user("alpha_operator")
    body = client.get(url(fleet.alpha.barrier.id), params={"key": ["cycles"]}).json()
    assert len(body["series"][0]["points"]) == 96
    assert body["series"][0]["points"][-1]["value"] == 383.0

    limited = client.get(url(fleet.alpha.barrier.id), params={"limit": 10}).json()
    assert limited["truncated"] is True
    assert sum(len(s["points"]) for s in limited["series"]) == 10


def test_day_aggregates_across_the_spring_change(fleet):
    client = fleet.as_user("alpha_reader")
    response = client.get(url(fleet.alpha.thermostat.id), params=q(T0, END, interval="day", key="temperature"))

    assert response.status_code == 200, response.text
    buckets = response.json()["series"][0]["buckets"]
    assert [(b["start"], b["count"]) for b in buckets] == [
        ("2026-03-27T00:00:00+01:00", 92),  # from 01:00 local: the data starts at 00:00 UTC
        ("2026-03-28T00:00:00+01:00", 96),
        ("2026-03-29T00:00:00+01:00", 92),  # 23 hours
        ("2026-03-30T00:00:00+02:00", 96),
        ("2026-03-31T00:00:00+02:00", 8),
    ]
    assert buckets[1]["avg"] == pytest.approx(21.5)
    assert (buckets[1]["min"], buckets[1]["max"]) == (20.0, 23.0)


@pytest.mark.parametrize("interval, expected", [("auto", "15m"), ("hour", "hour"), ("month", "month"), ("5m", "5m")])
def test_the_interval_used_is_reported(fleet, interval, expected):
    client = fleet.as_user("alpha_operator")
    body = client.get(url(fleet.alpha.thermostat.id), params=q(T0, END, interval=interval)).json()
    assert body["interval"] == expected
    assert body["series"][0]["buckets"]


def test_latest_values(fleet):
    client = fleet.as_user("alpha_operator")
    body = client.get(url(fleet.alpha.barrier.id, "/latest")).json()

    assert body["device_id"] == fleet.alpha.barrier.id
    assert body["values"] == [
        {"key": "cycles", "at": "2026-03-31T01:45:00+02:00", "value": 383.0, "status": "measured", "interval_end": None},
        {"key": "position", "at": "2026-03-27T02:00:00+01:00", "value": "open", "status": "measured",
         "interval_end": None},
    ]


def test_site_aggregates_over_all_its_devices(fleet):
    alpha = fleet.alpha
    client = fleet.as_user("alpha_operator")
    response = client.get(f"/api/v1/sites/{alpha.site.id}/telemetry", params=q(T0, END, interval="month"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body["device_ids"]) == sorted([alpha.barrier.id, alpha.thermostat.id])
    assert {(s["device_id"], s["key"]) for s in body["series"]} == {
        (alpha.barrier.id, "cycles"), (alpha.thermostat.id, "temperature")}
    assert {s["key"]: s["buckets"][0]["count"] for s in body["total"]} == {"cycles": 384, "temperature": 384}
    assert all(s["device_id"] is None for s in body["total"])
    assert body["total"][0]["buckets"][0]["start"] == "2026-03-01T00:00:00+01:00"


def test_site_aggregates_of_one_key(fleet):
    client = fleet.as_user("alpha_operator")
    body = client.get(f"/api/v1/sites/{fleet.alpha.building.id}/telemetry",
                      params=q(T0, END, interval="day", key="temperature")).json()
    assert [s["key"] for s in body["total"]] == ["temperature"]
    assert sum(b["count"] for b in body["total"][0]["buckets"]) == 384


def test_csv_export(fleet):
    client = fleet.as_user("alpha_operator")
    response = client.get(url(fleet.alpha.thermostat.id, "/export"), params=q(T0, T0 + timedelta(hours=1), format="csv"))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["device_id", "key", "time", "value", "status", "interval_end"]
    assert rows[1] == [str(fleet.alpha.thermostat.id), "temperature", "2026-03-27T01:00:00+01:00", "20.0", "measured", ""]
    assert len(rows) == 5


def test_xlsx_export_of_aggregates(fleet):
    client = fleet.as_user("alpha_operator")
    response = client.get(url(fleet.alpha.thermostat.id, "/export"), params=q(T0, END, format="xlsx", interval="day"))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    workbook = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    assert rows[0][:5] == ("device_id", "key", "bucket_start", "bucket_start_utc_offset", "count")
    assert [(row[2], row[3], row[4]) for row in rows[1:]] == [
        (datetime(2026, 3, 27), "+01:00", 92), (datetime(2026, 3, 28), "+01:00", 96),
        (datetime(2026, 3, 29), "+01:00", 92), (datetime(2026, 3, 30), "+02:00", 96), (datetime(2026, 3, 31), "+02:00", 8)]


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("params", [
    {"from": "2026-03-27T00:00:00", "to": "2026-03-28T00:00:00Z"},  # no offset
    {"from": "2026-03-28T00:00:00Z", "to": "2026-03-27T00:00:00Z"},  # backwards
    {"from": "1970-01-01T00:00:00Z", "to": "2026-03-27T00:00:00Z"},  # implausible
    {"from": "0001-01-01T00:00:00+14:00", "to": "2026-03-27T00:00:00Z"},
    {"from": "2026-01-01T00:00:00Z", "to": "2026-03-27T00:00:00Z", "interval": "5m"},  # too long for 5m
    {"interval": "week"},
    {"key": "Temperature\x00"},
    {"limit": 0},
])
def test_bad_parameters_are_a_422_problem(fleet, params):
    response = fleet.as_user("alpha_operator").get(url(fleet.alpha.thermostat.id), params=params)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


# --- who sees what ------------------------------------------------------------------------


def alpha_urls(world) -> list[str]:  # type: ignore[no-untyped-def]
    alpha = world.alpha
    return [url(alpha.thermostat.id), url(alpha.thermostat.id, "/latest"), url(alpha.thermostat.id, "/export"),
            url(alpha.barrier.id, "/export") + "?format=xlsx", f"/api/v1/sites/{alpha.site.id}/telemetry",
            f"/api/v1/sites/{alpha.room.id}/telemetry"]


def test_another_tenant_gets_404_for_every_telemetry_route(fleet):
    attacker = fleet.as_user("beta_admin")
    for target in alpha_urls(fleet):
        response = attacker.get(target)
        assert response.status_code == 404, target
        assert response.headers["content-type"].startswith("application/problem+json")
        assert ALPHA_MARK not in response.text


def test_the_end_customer_sees_the_shared_device_only(fleet):
    client = fleet.as_user("alpha_end")
    shared = client.get(url(fleet.alpha.barrier.id), params=q(T0, END, key="cycles", interval="day"))
    assert shared.status_code == 200
    assert sum(b["count"] for b in shared.json()["series"][0]["buckets"]) == 384
    assert client.get(url(fleet.alpha.thermostat.id)).status_code == 404


def test_a_site_bound_technician_sees_only_devices_below_the_site(fleet, session_factory):
    from leitstand.devices.models import Device

    alpha = fleet.alpha
    with system_session(session_factory, reason="test") as db:
        elsewhere = Device(tenant_id=alpha.customer.id, type_key="thermostat", serial_number="ALPHA-THM-0099",
                           name="Elsewhere", site_id=None)
        db.add(elsewhere)
        db.commit()
    client = fleet.as_user("alpha_site_tech")

    assert client.get(url(alpha.thermostat.id, "/latest")).status_code == 200
    assert client.get(url(elsewhere.id, "/latest")).status_code == 404
    body = client.get(f"/api/v1/sites/{alpha.site.id}/telemetry", params=q(T0, END, interval="day")).json()
    assert sorted(body["device_ids"]) == sorted([alpha.barrier.id, alpha.thermostat.id])


def test_a_role_without_device_read_is_refused(fleet):
    fleet.user_with_role("nobody", None, fleet.alpha.customer)
    client = fleet.as_user("nobody")
    for target in alpha_urls(fleet):
        assert client.get(target).status_code == 403, target
