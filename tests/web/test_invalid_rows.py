"""A stored row its response model refuses: left out of lists and logged with its key, never a 500 list.

The rows here pass every database constraint (a list of labels is a JSON array) but not the
API's model (a label is a string): data written around the API, by hand or by an older
version. Issue 13, defect 1: one such row made every device list of its tenant answer 500.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from tests.helpers.world import World

PROBLEM = "application/problem+json"


def corrupt(world: World, statement: str, **values: object) -> None:
    world.db.execute(text(statement), values)
    world.db.commit()


def logged_rows(caplog) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR)


def test_a_row_its_model_refuses_is_left_out_of_the_page_and_logged_with_its_id(world: World, caplog) -> None:  # type: ignore[no-untyped-def]
    barrier, thermostat = world.alpha.barrier, world.alpha.thermostat
    corrupt(world, "UPDATE devices SET labels = '[1]' WHERE id = :id", id=barrier.id)

    response = world.as_user("alpha_operator").get("/api/v1/devices")

    assert response.status_code == 200, response.text
    page = response.json()
    assert [item["id"] for item in page["items"]] == [thermostat.id]
    assert page["total"] == 2  # the rows in the database: offsets keep counting rows
    assert f"devices {barrier.id}" in logged_rows(caplog)
    assert "DevicePublic" in logged_rows(caplog)


def test_a_single_get_of_such_a_row_is_a_problem_and_logged_with_its_id(world: World, caplog) -> None:  # type: ignore[no-untyped-def]
    barrier = world.alpha.barrier
    corrupt(world, "UPDATE devices SET labels = '[1]' WHERE id = :id", id=barrier.id)

    response = world.as_user("alpha_operator").get(f"/api/v1/devices/{barrier.id}")

    assert response.status_code == 500
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"].endswith("/problems/invalid-stored-data")
    assert "Traceback" not in response.text
    assert f"devices {barrier.id}" in logged_rows(caplog)


def test_a_list_without_paging_leaves_such_a_row_out_too(world: World, caplog) -> None:  # type: ignore[no-untyped-def]
    operator = world.as_user("alpha_operator")  # a second token of the operator, besides the ERP one
    corrupt(world, "UPDATE api_tokens SET scopes = '[1]' WHERE id = :id", id=world.alpha.token.id)

    response = operator.get("/api/v1/me/tokens")

    assert response.status_code == 200, response.text
    listed = [item["id"] for item in response.json()]
    assert world.alpha.token.id not in listed and len(listed) == 1
    assert f"api_tokens {world.alpha.token.id}" in logged_rows(caplog)


def test_the_count_of_refused_rows_goes_up_per_table(world: World) -> None:
    from leitstand.db.stored_rows import invalid_rows

    before = invalid_rows["devices"]
    corrupt(world, "UPDATE devices SET labels = '[null]' WHERE id = :id", id=world.alpha.barrier.id)

    assert world.as_user("alpha_operator").get("/api/v1/devices").status_code == 200

    assert invalid_rows["devices"] == before + 1


def test_a_model_a_route_builds_itself_from_such_a_row_is_a_problem_too(world: World, caplog) -> None:  # type: ignore[no-untyped-def]
    custom = world.alpha.device_type
    corrupt(world, "UPDATE device_types SET spec = '{}' WHERE key = :key", key=custom.key)
    reader = world.as_user("alpha_operator")

    single = reader.get(f"/api/v1/device-types/{custom.key}")
    listed = reader.get("/api/v1/device-types")

    assert single.status_code == 500
    assert single.json()["type"].endswith("/problems/invalid-stored-data")
    assert listed.status_code == 200, listed.text
    keys = [item["key"] for item in listed.json()]
    assert custom.key not in keys and "barrier" in keys
    assert f"device_types {custom.key}" in logged_rows(caplog)
