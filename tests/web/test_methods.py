"""Each API path answers OPTIONS, and a method it lacks with 405, naming exactly the methods the
OpenAPI documents for it (leitstand.web.methods)."""

from __future__ import annotations

import re

import pytest

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _documented_paths(client) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    return {path: {method.upper() for method in item} for path, item in paths.items() if path.startswith("/api/")}


def _concrete(path: str) -> str:
    # An id that could exist: a template's parameter then matches it and a literal beside it does not.
    return re.sub(r"\{[^}]+\}", "1", path)


def _allowed(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {method.strip() for method in response.headers["allow"].split(",")}


def test_options_names_exactly_the_documented_methods_on_every_api_path(client) -> None:  # type: ignore[no-untyped-def]
    paths = _documented_paths(client)
    assert len(paths) >= 100

    wrong = {}
    for path, methods in paths.items():
        response = client.options(_concrete(path))
        if response.status_code != 204 or _allowed(response) != methods | {"OPTIONS"}:
            wrong[path] = (response.status_code, response.headers.get("allow"), sorted(methods))
    assert not wrong


def test_every_method_a_path_lacks_is_a_405_naming_the_paths_methods(client) -> None:  # type: ignore[no-untyped-def]
    wrong = {}
    for path, methods in _documented_paths(client).items():
        for method in sorted(set(HTTP_METHODS) - methods):
            response = client.request(method, _concrete(path))
            if (response.status_code != 405 or _allowed(response) != methods | {"OPTIONS"}
                    or not response.headers["content-type"].startswith("application/problem+json")):
                wrong[f"{method} {path}"] = (response.status_code, response.headers.get("allow"))
    assert not wrong


@pytest.mark.parametrize(("method", "path", "allow"), [
    # Literal paths beside a template with the method asked for: they answered 422 for the id "claim".
    ("PATCH", "/api/v1/devices/claim", {"POST", "OPTIONS"}),
    ("DELETE", "/api/v1/me/webauthn/options", {"POST", "OPTIONS"}),
    ("PATCH", "/api/v1/alarm-rules/defaults", {"GET", "OPTIONS"}),
    # A path with several methods: Allow named only the first route's.
    ("PUT", "/api/v1/sites", {"GET", "POST", "OPTIONS"}),
])
def test_a_wrong_method_is_refused_before_a_template_beside_the_path_sees_it(client, method, path, allow) -> None:  # type: ignore[no-untyped-def]
    response = client.request(method, path)

    assert response.status_code == 405
    assert _allowed(response) == allow
    assert response.json()["type"].endswith("/problems/method-not-allowed")


def test_an_allowed_method_still_reaches_its_route(world) -> None:  # type: ignore[no-untyped-def]
    api = world.as_user("alpha_operator")

    assert api.get("/api/v1/sites").status_code == 200
    assert api.request("OPTIONS", "/api/v1/nowhere").status_code == 404
