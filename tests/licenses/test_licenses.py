"""Licenses: status from dates, one per device, renewal (API, job and CLI), history, month ends."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leitstand.cli import app as cli_app
from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.licenses.models import License, LicenseChange
from leitstand.licenses.service import record_change, renew_due, term_end

LICENSES = "/api/v1/licenses"


def freeze_on(day: date) -> None:
    clock.freeze(datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC))


def add_license(db, device: Device, starts_on: date, term_months: int = 12, auto_renew: bool = True) -> License:  # type: ignore[no-untyped-def]
    license_ = License(device_id=device.id, tenant_id=device.tenant_id, starts_on=starts_on,
                       ends_on=term_end(starts_on, term_months), term_months=term_months, auto_renew=auto_renew)
    db.add(license_)
    record_change(db, license_, "created", None)
    db.commit()
    return license_


def new_device(db, world, serial: str) -> Device:  # type: ignore[no-untyped-def]
    device = Device(tenant_id=world.alpha.customer.id, type_key="barrier", serial_number=serial, name=f"Schranke {serial}",
                    site_id=world.alpha.room.id)
    db.add(device)
    db.commit()
    return device


def history(api, license_id: int) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    response = api.get(f"{LICENSES}/{license_id}/history")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def admin(world):  # type: ignore[no-untyped-def]
    """Alpha's partner admin: the operator may read licenses, only the partner sells them."""
    return world.as_user("alpha_admin")


# --- status -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 2, 28), "unlicensed"),  # the day before the start
        (date(2026, 3, 1), "active"),  # the start day
        (date(2026, 9, 15), "active"),
        (date(2027, 2, 28), "active"),  # the end day is covered
        (date(2027, 3, 1), "expired"),  # the day after
    ],
)
def test_status_at_the_boundaries(world, admin, today, expected):
    created = admin.post(LICENSES, json={"device_id": world.alpha.thermostat.id, "starts_on": "2026-03-01"})
    assert created.status_code == 201, created.text
    assert created.json()["ends_on"] == "2027-02-28"
    freeze_on(today)

    single = admin.get(f"{LICENSES}/{created.json()['id']}").json()
    by_status = admin.get(LICENSES, params={"status": expected, "device_id": world.alpha.thermostat.id}).json()

    assert single["status"] == expected
    assert [item["id"] for item in by_status["items"]] == [created.json()["id"]]
    others = {"active", "expired", "unlicensed"} - {expected}
    for other in others:
        listed = admin.get(LICENSES, params={"status": other, "device_id": world.alpha.thermostat.id}).json()
        assert listed["total"] == 0, other


def test_device_filter_by_license_status_follows_the_clock(world, admin):
    admin.post(LICENSES, json={"device_id": world.alpha.thermostat.id, "starts_on": "2026-03-01", "term_months": 1})
    name = world.alpha.thermostat.name

    def devices_with(status: str) -> set[str]:
        return {item["name"] for item in admin.get("/api/v1/devices", params={"license_status": status}).json()["items"]}

    freeze_on(date(2026, 2, 28))
    assert name in devices_with("unlicensed")
    freeze_on(date(2026, 3, 31))
    assert name in devices_with("active")
    freeze_on(date(2026, 4, 1))
    assert name in devices_with("expired")


def test_ending_within_days(world, admin):
    admin.post(LICENSES, json={"device_id": world.alpha.thermostat.id, "starts_on": "2026-03-01"})
    freeze_on(date(2027, 2, 20))

    soon = admin.get(LICENSES, params={"ending_within_days": 8, "device_id": world.alpha.thermostat.id}).json()
    not_yet = admin.get(LICENSES, params={"ending_within_days": 7, "device_id": world.alpha.thermostat.id}).json()

    assert soon["total"] == 1
    assert not_yet["total"] == 0


# --- creating -----------------------------------------------------------------------------


def test_one_license_per_device(world, admin):
    response = admin.post(LICENSES, json={"device_id": world.alpha.barrier.id, "starts_on": "2026-03-01"})

    assert response.status_code == 409
    assert admin.get(LICENSES, params={"device_id": world.alpha.barrier.id}).json()["total"] == 1


def test_an_operator_may_read_but_not_sell_licenses(world):
    operator = world.as_user("alpha_operator")

    assert operator.get(f"{LICENSES}/{world.alpha.license.id}").status_code == 200
    assert operator.post(LICENSES, json={"device_id": world.alpha.thermostat.id, "starts_on": "2026-03-01"}).status_code == 403


def test_another_organisations_license_is_404(world, admin):
    beta_license = world.beta.license

    assert admin.get(f"{LICENSES}/{beta_license.id}").status_code == 404
    assert admin.get(f"{LICENSES}/{beta_license.id}/history").status_code == 404
    assert admin.patch(f"{LICENSES}/{beta_license.id}", json={"auto_renew": False}).status_code == 404
    assert admin.post(f"{LICENSES}/{beta_license.id}/renew").status_code == 404
    assert admin.post(LICENSES, json={"device_id": world.beta.thermostat.id, "starts_on": "2026-03-01"}).status_code == 404


def test_implausible_dates_and_terms_are_422(world, admin):
    device_id = world.alpha.thermostat.id

    assert admin.post(LICENSES, json={"device_id": device_id, "starts_on": "1999-12-31"}).status_code == 422
    assert admin.post(LICENSES, json={"device_id": device_id, "starts_on": "2026-03-01", "term_months": 0}).status_code == 422
    assert admin.post(LICENSES, json={"device_id": device_id, "starts_on": "2026-02-30"}).status_code == 422
    ends_before_start = admin.patch(f"{LICENSES}/{world.alpha.license.id}", json={"ends_on": "2000-01-01"})
    assert ends_before_start.status_code == 422


# --- month ends -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts_on", "months", "ends_on"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2026, 1, 30), 1, date(2026, 2, 28)),
        (date(2026, 1, 28), 1, date(2026, 2, 27)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2026, 3, 1), 12, date(2027, 2, 28)),
        (date(2027, 3, 1), 12, date(2028, 2, 29)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 5, 15), 12, date(2027, 5, 14)),
        (date(2026, 12, 1), 1, date(2026, 12, 31)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
    ],
)
def test_term_end(starts_on, months, ends_on):
    assert term_end(starts_on, months) == ends_on


def test_a_month_from_31_january_via_the_api(world, admin):
    response = admin.post(LICENSES, json={"device_id": world.alpha.thermostat.id, "starts_on": "2026-01-31", "term_months": 1})

    assert response.json()["ends_on"] == "2026-02-28"
    freeze_on(date(2026, 2, 28))
    assert admin.get(f"{LICENSES}/{response.json()['id']}").json()["status"] == "active"
    freeze_on(date(2026, 3, 1))
    assert admin.get(f"{LICENSES}/{response.json()['id']}").json()["status"] == "expired"


# --- renewal ----------------------------------------------------------------------------


@pytest.fixture
def renewal_fleet(world, system_db):  # type: ignore[no-untyped-def]
    """Three licenses on new devices: overdue and auto-renewing, overdue and cancelled, not yet due."""
    overdue = add_license(system_db, new_device(system_db, world, "ALPHA-BAR-0101"), date(2025, 1, 15))
    cancelled = add_license(system_db, new_device(system_db, world, "ALPHA-BAR-0102"), date(2025, 1, 15), auto_renew=False)
    current = add_license(system_db, new_device(system_db, world, "ALPHA-BAR-0103"), date(2027, 1, 1))
    return overdue, cancelled, current


def test_renew_due_extends_by_whole_terms_until_today(world, system_db, renewal_fleet):
    overdue, cancelled, current = renewal_fleet
    today = date(2027, 6, 1)

    renewed = renew_due(system_db, today)
    system_db.commit()

    system_db.expire_all()
    assert system_db.get(License, overdue.id).ends_on == date(2028, 1, 14)  # 2026-01-14 + two whole years
    assert system_db.get(License, cancelled.id).ends_on == date(2026, 1, 14)
    assert system_db.get(License, current.id).ends_on == date(2027, 12, 31)
    assert system_db.get(License, cancelled.id).status(today) == "expired"
    # The world's own license started 30 days ago and is not due either.
    assert renewed == 1 + (world.alpha.license.ends_on < today) + (world.beta.license.ends_on < today)


def test_renew_due_covers_the_end_day_and_is_idempotent(world, system_db, renewal_fleet):
    overdue = renewal_fleet[0]

    assert renew_due(system_db, date(2026, 1, 14)) == 0  # the end day itself is still covered
    renew_due(system_db, date(2026, 1, 15))
    system_db.commit()
    again = renew_due(system_db, date(2026, 1, 15))

    system_db.expire_all()
    assert system_db.get(License, overdue.id).ends_on == date(2027, 1, 14)
    assert again == 0


def test_renewal_is_in_the_history_with_before_and_after(world, system_db, admin, renewal_fleet):
    overdue = renewal_fleet[0]
    renew_due(system_db, date(2027, 6, 1))
    system_db.commit()

    entries = history(admin, overdue.id)

    assert [entry["action"] for entry in entries] == ["created", "renewed"]
    assert entries[0]["before"] is None
    assert entries[0]["after"]["ends_on"] == "2026-01-14"
    assert entries[1]["before"]["ends_on"] == "2026-01-14"
    assert entries[1]["after"]["ends_on"] == "2028-01-14"
    assert entries[1]["actor_user_id"] is None  # the job, not a person


def test_every_api_change_is_in_the_history(world, admin):
    freeze_on(date(2026, 6, 1))
    created = admin.post(LICENSES, json={"device_id": world.alpha.thermostat.id, "starts_on": "2026-03-01", "term_months": 12})
    license_id = created.json()["id"]

    changed = admin.patch(f"{LICENSES}/{license_id}", json={"term_months": 24})
    renewed = admin.post(f"{LICENSES}/{license_id}/renew")
    unchanged = admin.patch(f"{LICENSES}/{license_id}", json={"term_months": 24})
    cancelled = admin.patch(f"{LICENSES}/{license_id}", json={"auto_renew": False})

    assert [r.status_code for r in (changed, renewed, unchanged, cancelled)] == [200, 200, 200, 200]
    assert renewed.json()["ends_on"] == "2029-02-28"  # 2027-02-28 plus the new 24-month term
    entries = history(admin, license_id)
    assert [entry["action"] for entry in entries] == ["created", "changed", "renewed", "cancelled"]
    changed_entry, renewed_entry, cancelled_entry = entries[1:]
    assert (changed_entry["before"]["term_months"], changed_entry["after"]["term_months"]) == (12, 24)
    assert (renewed_entry["before"]["ends_on"], renewed_entry["after"]["ends_on"]) == ("2027-02-28", "2029-02-28")
    assert (cancelled_entry["before"]["auto_renew"], cancelled_entry["after"]["auto_renew"]) == (True, False)
    alpha_admin = world.users["alpha_admin"]
    assert {entry["actor_user_id"] for entry in entries} == {alpha_admin.id}


def test_switching_auto_renew_off_is_a_cancellation_and_stops_renewal(world, admin, system_db):
    license_id = world.alpha.license.id

    response = admin.patch(f"{LICENSES}/{license_id}", json={"auto_renew": False})

    assert response.status_code == 200
    assert response.json()["auto_renew"] is False
    assert history(admin, license_id)[-1]["action"] == "cancelled"
    ends_on = world.alpha.license.ends_on
    assert renew_due(system_db, date(ends_on.year + 1, ends_on.month, 1)) == 1  # Beta's license only
    system_db.commit()
    system_db.expire_all()
    assert system_db.get(License, license_id).ends_on == ends_on
    switched_on = admin.patch(f"{LICENSES}/{license_id}", json={"auto_renew": True})
    assert history(admin, license_id)[-1]["action"] == "changed"
    assert switched_on.json()["auto_renew"] is True


def test_history_is_hidden_from_other_tenants(world):
    response = world.as_user("beta_admin").get(f"{LICENSES}/{world.alpha.license.id}/history")

    assert response.status_code == 404


# --- the CLI ----------------------------------------------------------------------------


def test_cli_license_renew(world, settings, system_db, renewal_fleet, tmp_path):
    overdue, cancelled, _ = renewal_fleet
    runner = CliRunner()

    result = runner.invoke(
        cli_app, ["license", "renew", "--today", "2027-06-01", "--data-dir", str(tmp_path / "cli")],
        env={"LEITSTAND_DATABASE_URL": settings.database_url, "LEITSTAND_CONFIG": None},
    )

    assert result.exit_code == 0, result.output
    assert "Renewed" in result.output and "2027-06-01" in result.output
    system_db.expire_all()
    assert system_db.get(License, overdue.id).ends_on == date(2028, 1, 14)
    assert system_db.get(License, cancelled.id).ends_on == date(2026, 1, 14)
    actions = system_db.scalars(select(LicenseChange.action).where(LicenseChange.license_id == overdue.id)
                                .order_by(LicenseChange.id)).all()
    assert actions == ["created", "renewed"]


def test_cli_license_renew_rejects_a_bad_date(settings, tmp_path):
    result = CliRunner().invoke(
        cli_app, ["license", "renew", "--today", "2027-02-30", "--data-dir", str(tmp_path / "cli")],
        env={"LEITSTAND_DATABASE_URL": settings.database_url},
    )

    assert result.exit_code != 0
