"""Errors are application/problem+json everywhere; bad input is a 422 at the edge; the health check."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, kind: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["type"].endswith(f"/problems/{kind}")
    assert body["title"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/nowhere", "/api/v1/devices/1/nothing"])
def test_unknown_route_is_a_404_problem(client, path):
    assert_problem(client.get(path), 404, "not-found")


def test_an_unknown_page_outside_the_api_is_a_404_page(client):
    # People reach those with a browser: they get the portal's error page, not a JSON document.
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "404" in response.text


def test_unknown_record_is_a_404_problem(world):
    body = assert_problem(world.as_user("alpha_operator").get("/api/v1/devices/999999"), 404, "not-found")

    assert "Gerät" in body["detail"]  # in the user's language: tests/web/test_problem_language.py


def test_wrong_method_is_a_405_problem(client):
    assert_problem(client.put("/healthz"), 405, "method-not-allowed")


def test_missing_authentication_is_a_401_problem(client):
    response = client.get("/api/v1/devices")

    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_an_unknown_token_is_a_401_problem(client, world):
    response = client.get("/api/v1/devices", headers={"Authorization": "Bearer lst_not-a-real-token"})

    assert_problem(response, 401, "unauthenticated")


def test_malformed_json_is_a_422_problem_with_errors(world):
    api = world.as_user("alpha_operator")

    response = api.post("/api/v1/sites", content=b'{"kind": "site", "name": ', headers={"content-type": "application/json"})

    body = assert_problem(response, 422, "invalid")
    assert body["errors"]
    assert body["errors"][0]["type"] == "json_invalid"
    assert set(body["errors"][0]) == {"loc", "msg", "type"}


def test_schema_violations_list_each_error(world):
    api = world.as_user("alpha_operator")

    response = api.post("/api/v1/sites", json={"kind": "castle", "latitude": 91, "colour": "red"})

    body = assert_problem(response, 422, "invalid")
    locations = {tuple(error["loc"]) for error in body["errors"]}
    assert ("body", "kind") in locations
    assert ("body", "name") in locations
    assert ("body", "latitude") in locations
    assert ("body", "colour") in locations  # unknown fields are errors, not silently dropped


def test_a_json_array_where_an_object_belongs_is_422(world):
    response = world.as_user("alpha_operator").post("/api/v1/sites", json=["site"])

    assert_problem(response, 422, "invalid")


@pytest.mark.parametrize(
    "name",
    ["Halle\x00B", "x" * 201, "y" * 100_000, "Tab\x07Bell", ""],
    ids=["nul", "one-too-long", "huge", "control-character", "empty"],
)
def test_unstorable_strings_are_422(world, name):
    api = world.as_user("alpha_operator")

    response = api.post("/api/v1/sites", json={"kind": "site", "name": name, "tenant_id": world.alpha.customer.id})

    assert_problem(response, 422, "invalid")
    assert api.get("/api/v1/sites").json()["total"] == 3


def test_a_nul_in_a_query_parameter_is_422(world):
    api = world.as_user("alpha_operator")

    assert_problem(api.get("/api/v1/devices", params={"q": "a\x00b"}), 422, "invalid")
    assert_problem(api.get("/api/v1/sites", params={"q": "z" * 101}), 422, "invalid")


def test_ids_beyond_32_bits_are_422_not_500(world):
    api = world.as_user("alpha_operator")

    assert_problem(api.get(f"/api/v1/devices/{2**31}"), 422, "invalid")
    assert_problem(api.get("/api/v1/devices/0"), 422, "invalid")
    response = api.post("/api/v1/sites", json={"kind": "site", "name": "Groß", "tenant_id": 2**40})
    assert_problem(response, 422, "invalid")


def test_a_longest_allowed_name_is_stored(world):
    api = world.as_user("alpha_operator")

    response = api.post("/api/v1/sites", json={"kind": "site", "name": "ß" * 200, "tenant_id": world.alpha.customer.id})

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "ß" * 200


def test_healthz_reports_ok_with_the_database(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["version"]


def test_healthz_reports_an_unreachable_database(settings):
    from fastapi.testclient import TestClient

    from leitstand.runtime import app_without_transports

    # Nothing listens on port 1: the engine is created lazily, the first connection fails.
    broken = settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:1/leitstand"})
    with app_without_transports(broken) as app, TestClient(app) as client:
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}


def test_login_refuses_a_cross_site_form_post(client, world):
    """A foreign page can post a form (text/plain or urlencoded) without a CORS preflight, but
    the login only reads JSON, so such a post never logs the browser into an attacker's account."""
    body = '{"email": "operator@alpha.test", "password": "correct horse battery"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = client.post("/api/v1/auth/login", content=body, headers={"content-type": content_type})
        assert response.status_code == 422, content_type
        assert "set-cookie" not in response.headers
