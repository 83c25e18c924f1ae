"""The audit log: what a change records, secrets kept out, filters, export, and tenant isolation."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from leitstand.audit.models import AuditEntry
from leitstand.clock import clock
from tests.helpers.world import BETA_MARK

AUDIT = "/api/v1/audit"
EXPORT = "/api/v1/audit/export"
COLUMNS = ["id", "at", "tenant_id", "actor_user_id", "actor", "action", "outcome", "target_type", "target_id",
           "changes", "source_ip"]


def entries(api, **params) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    response = api.get(AUDIT, params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_device_update_records_the_changed_fields_actor_tenant_and_ip(world):
    alpha = world.alpha
    api = world.as_user("alpha_operator")

    response = api.patch(f"/api/v1/devices/{alpha.thermostat.id}", json={"name": "Thermostat Flur", "labels": ["flur"]})

    assert response.status_code == 200, response.text
    found = entries(api, action="devices.update", target_id=str(alpha.thermostat.id))
    assert len(found) == 1
    entry = found[0]
    assert entry["changes"] == {
        "name": [alpha.thermostat.name, "Thermostat Flur"],
        "labels": [["heizung"], ["flur"]],
    }
    assert entry["actor"] == "operator@alpha.test"
    assert entry["actor_user_id"] == alpha.operator.id
    assert entry["tenant_id"] == alpha.customer.id
    assert entry["target_type"] == "devices"
    assert entry["outcome"] == "success"
    assert entry["source_ip"] == "testclient"  # what the test transport reports as the peer


def test_an_unchanged_update_records_nothing(world):
    alpha = world.alpha
    api = world.as_user("alpha_operator")

    api.patch(f"/api/v1/devices/{alpha.thermostat.id}", json={"name": alpha.thermostat.name})

    assert entries(api, action="devices.update", target_id=str(alpha.thermostat.id)) == []


def test_secret_columns_are_recorded_as_changed_without_values(world):
    alpha = world.alpha
    api = world.as_user("alpha_operator")
    created = api.post("/api/v1/devices", json={"serial_number": "ALPHA-POL-0001", "type_key": "bollard",
                                                "tenant_id": alpha.customer.id, "name": "Poller",
                                                "claim_secret": "printed-label-0001"})
    device_id = created.json()["id"]

    rotated = api.post(f"/api/v1/devices/{device_id}/claim-secret")

    assert rotated.status_code == 200
    update = entries(api, action="devices.update", target_id=str(device_id))
    assert [entry["changes"] for entry in update] == [{"claim_secret_hash": "<changed>"}]
    create = entries(api, action="devices.create", target_id=str(device_id))
    assert create[0]["changes"]["claim_secret_hash"] == "<changed>"
    assert create[0]["changes"]["serial_number"] == "ALPHA-POL-0001"
    everything = api.get(EXPORT, params={"format": "ndjson"}).text + api.get(AUDIT, params={"limit": 500}).text
    assert "$argon2" not in everything
    assert "printed-label-0001" not in everything
    assert rotated.json()["claim_secret"] not in everything


# --- filters -----------------------------------------------------------------------------


@pytest.fixture
def two_updates(world):  # type: ignore[no-untyped-def]
    """Two renames of Alpha's thermostat, at 10:00 and 12:00 UTC on 1 May 2026."""
    api = world.as_user("alpha_operator")
    url = f"/api/v1/devices/{world.alpha.thermostat.id}"
    clock.freeze(datetime(2026, 5, 1, 10, 0, tzinfo=UTC))
    api.patch(url, json={"name": "Vormittag"})
    clock.advance(timedelta(hours=2))
    api.patch(url, json={"name": "Mittag"})
    clock.unfreeze()
    return api


def renamed_to(found: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [entry["changes"]["name"][1] for entry in found]


def test_filter_by_action(world, two_updates):
    assert renamed_to(entries(two_updates, action="devices.update")) == ["Mittag", "Vormittag"]  # newest first
    assert entries(two_updates, action="devices.delete") == []


def test_since_is_inclusive_and_until_exclusive(world, two_updates):
    api = two_updates

    since_noon = entries(api, action="devices.update", since="2026-05-01T12:00:00Z")
    until_noon = entries(api, action="devices.update", until="2026-05-01T12:00:00Z")

    assert renamed_to(since_noon) == ["Mittag"]
    assert renamed_to(until_noon) == ["Vormittag"]


def test_since_and_until_honour_the_offset(world, two_updates):
    api = two_updates

    # 13:00 in UTC+02:00 is 11:00 UTC: between the two updates.
    after = entries(api, action="devices.update", since="2026-05-01T13:00:00+02:00")
    before = entries(api, action="devices.update", until="2026-05-01T13:00:00+02:00")
    window = entries(api, action="devices.update", since="2026-05-01T05:30:00-04:00", until="2026-05-01T09:31:00-02:00")

    assert renamed_to(after) == ["Mittag"]
    assert renamed_to(before) == ["Vormittag"]
    assert renamed_to(window) == ["Vormittag"]


@pytest.mark.parametrize("parameter", ["since", "until"])
def test_a_naive_datetime_is_422(world, parameter):
    api = world.as_user("alpha_operator")

    listed = api.get(AUDIT, params={parameter: "2026-05-01T12:00:00"})
    exported = api.get(EXPORT, params={parameter: "2026-05-01T12:00:00"})

    assert listed.status_code == 422
    assert exported.status_code == 422
    assert listed.headers["content-type"].startswith("application/problem+json")


def test_bad_filter_values_are_422(world):
    api = world.as_user("alpha_operator")

    assert api.get(AUDIT, params={"action": "devices update"}).status_code == 422
    assert api.get(AUDIT, params={"outcome": "maybe"}).status_code == 422
    assert api.get(AUDIT, params={"since": "yesterday"}).status_code == 422
    assert api.get(EXPORT, params={"format": "xml"}).status_code == 422


# --- export ---------------------------------------------------------------------------


@pytest.fixture
def many_entries(world, system_db):  # type: ignore[no-untyped-def]
    """More entries than a page holds, for Alpha, and a few for Beta with the same action."""
    at = datetime(2026, 4, 1, tzinfo=UTC)
    rows = [AuditEntry(at=at + timedelta(minutes=i), tenant_id=world.alpha.customer.id, actor="job", action="test.bulk",
                       target_type="devices", target_id=str(i), changes={"n": i, "text": "Größe, \"zitiert\"\nneu"})
            for i in range(120)]
    rows += [AuditEntry(at=at, tenant_id=world.beta.customer.id, actor=BETA_MARK, action="test.bulk", changes={})
             for _ in range(3)]
    system_db.add_all(rows)
    system_db.commit()
    return 120


def test_export_csv_has_a_header_and_every_matching_entry(world, many_entries):
    api = world.as_user("alpha_operator")

    response = api.get(EXPORT, params={"format": "csv", "action": "test.bulk"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="audit.csv"' in response.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(response.text))
    assert reader.fieldnames == COLUMNS
    rows = list(reader)
    assert len(rows) == many_entries
    assert {row["tenant_id"] for row in rows} == {str(world.alpha.customer.id)}
    assert sorted(int(row["target_id"]) for row in rows) == list(range(many_entries))
    assert json.loads(rows[0]["changes"])["text"] == "Größe, \"zitiert\"\nneu"
    assert BETA_MARK not in response.text


def test_export_ndjson_has_every_matching_entry(world, many_entries):
    api = world.as_user("alpha_operator")

    response = api.get(EXPORT, params={"format": "ndjson", "action": "test.bulk"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    assert len(lines) == many_entries
    records = [json.loads(line) for line in lines]
    assert all(list(record) == COLUMNS for record in records)
    assert records[0]["changes"]["n"] == many_entries - 1  # newest first, like the list
    assert records[0]["at"].startswith("2026-04-01T01:59:00")


def test_export_honours_the_time_filters(world, many_entries):
    api = world.as_user("alpha_operator")

    response = api.get(EXPORT, params={"format": "ndjson", "action": "test.bulk",
                                       "since": "2026-04-01T02:00:00+02:00", "until": "2026-04-01T00:10:00Z"})

    assert sorted(json.loads(line)["changes"]["n"] for line in response.text.splitlines()) == list(range(10))


def test_an_empty_csv_export_still_has_its_header(world):
    response = world.as_user("alpha_operator").get(EXPORT, params={"action": "nothing.here"})

    assert response.status_code == 200
    assert response.text.splitlines() == [",".join(COLUMNS)]


def test_list_and_export_agree(world, many_entries):
    api = world.as_user("alpha_operator")

    listed = api.get(AUDIT, params={"action": "test.bulk", "limit": 50}).json()
    exported = api.get(EXPORT, params={"format": "ndjson", "action": "test.bulk"}).text.splitlines()

    assert listed["total"] == len(exported) == many_entries
    assert [item["id"] for item in listed["items"]] == [json.loads(line)["id"] for line in exported[:50]]


# --- isolation -----------------------------------------------------------------------------


def test_another_tenants_operator_sees_none_of_it(world, many_entries):
    alpha = world.alpha
    world.as_user("alpha_operator").patch(f"/api/v1/devices/{alpha.thermostat.id}", json={"name": "Geheim"})
    beta = world.as_user("beta_operator")

    listed = entries(beta)
    filtered = entries(beta, tenant_id=alpha.customer.id)
    exported = beta.get(EXPORT, params={"format": "ndjson"}).text

    assert all(entry["tenant_id"] == world.beta.customer.id for entry in listed)
    assert len([entry for entry in listed if entry["action"] == "test.bulk"]) == 3
    assert filtered == []
    assert "Geheim" not in exported and "ALPHA" not in exported
    assert {json.loads(line)["tenant_id"] for line in exported.splitlines()} <= {world.beta.customer.id}


def test_without_audit_permission_the_log_is_403(world):
    api = world.as_user("alpha_reader")

    assert api.get(AUDIT).status_code == 403
    assert api.get(EXPORT).status_code == 403
