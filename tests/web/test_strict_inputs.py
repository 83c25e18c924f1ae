"""Request values are taken as the JSON kind the schema states, nothing looser: no number as a date,
no boolean as a number, no number as a flag (leitstand.web.types). What the API answers then agrees
with what its OpenAPI says, which tests/api/test_schemathesis.py checks over every operation."""

from __future__ import annotations

import inspect
import re
import types
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from leitstand.app import API_ROUTERS
from tests.helpers.world import World

# What pydantic's lax mode would take for each kind, and JSON Schema would not.
LOOSE: dict[type, list[Any]] = {
    bool: [0, 1, "true"],
    int: [True, "5"],
    float: [False, "5.5"],
    date: [0.5, "0.5", "2026-03-01T00:00:00Z", "1999-12-31"],
    datetime: [0.5, "1700000000", "2026-03-01T08:00:00", "1999-12-31T23:00:00Z"],
}


def _scalar_kind(annotation: Any) -> tuple[type | None, bool]:
    """The bool/int/float/date/datetime a field holds, and whether in a list."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        kinds = [_scalar_kind(arg) for arg in get_args(annotation) if arg is not type(None)]
        return kinds[0] if len(kinds) == 1 else (None, False)
    if origin is list:
        kind, _ = _scalar_kind(get_args(annotation)[0])
        return kind, True
    # datetime before date: it is a date too.
    return next((kind for kind in (bool, int, float, datetime, date) if annotation is kind), None), False


def _models(annotation: Any) -> list[type[BaseModel]]:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) is Literal:
        return []
    return [model for arg in get_args(annotation) for model in _models(arg)]


def _body_models() -> set[type[BaseModel]]:
    """Every model a request body of the API is read into, nested ones included."""
    found: set[type[BaseModel]] = set()
    pending = [model for router in API_ROUTERS for route in router.routes
               if isinstance(route, APIRoute) and route.body_field is not None
               for model in _models(route.body_field.field_info.annotation)]
    while pending:
        model = pending.pop()
        if model not in found:
            found.add(model)
            pending.extend(nested for field in model.model_fields.values() for nested in _models(field.annotation))
    return found


def _loose_fields() -> list[tuple[str, str, Any]]:
    cases = []
    for model in sorted(_body_models(), key=lambda m: f"{m.__module__}.{m.__qualname__}"):
        for name, field in model.model_fields.items():
            kind, in_list = _scalar_kind(field.annotation)
            for value in LOOSE.get(kind, []) if kind else []:
                cases.append((f"{model.__module__}.{model.__qualname__}", field.alias or name, [value] if in_list else value))
    return cases


def _model(qualified: str) -> type[BaseModel]:
    return next(model for model in _body_models() if f"{model.__module__}.{model.__qualname__}" == qualified)


LOOSE_FIELDS = _loose_fields()


def test_the_walk_finds_the_fields_of_every_kind() -> None:
    fields = {(model, name) for model, name, _ in LOOSE_FIELDS}
    assert len(fields) >= 60
    assert ("leitstand.sites.schemas.SiteUpdate", "longitude") in fields
    assert ("leitstand.users.schemas.UserUpdate", "is_active") in fields
    assert ("leitstand.licenses.schemas.LicenseCreate", "starts_on") in fields


@pytest.mark.parametrize(("model", "field", "value"), LOOSE_FIELDS)
def test_every_body_field_refuses_a_value_of_another_json_kind(model: str, field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        _model(model).model_validate({field: value})

    assert any(error["loc"][0] == field and error["type"] != "missing" for error in refused.value.errors())


# --- the three examples of the issue, over HTTP ------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/audit", "/api/v1/audit/export"])
def test_a_number_is_not_taken_as_a_time(world: World, path: str) -> None:
    # Lax parsing read until=0.5 as half a second after 1970 and answered an empty 200.
    response = world.as_user("alpha_admin").get(path, params={"until": "0.5"})

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [["query", "until"]]


def test_false_is_not_taken_as_a_longitude(world: World) -> None:
    api, site = world.as_user("alpha_operator"), world.alpha.site

    response = api.patch(f"/api/v1/sites/{site.id}", json={"longitude": False})

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [["body", "longitude"]]
    assert api.get(f"/api/v1/sites/{site.id}").json()["longitude"] == 10.0


def test_zero_is_not_taken_as_a_flag(world: World) -> None:
    api, reader = world.as_user("alpha_operator"), world.users["alpha_reader"]

    response = api.patch(f"/api/v1/users/{reader.id}", json={"is_active": 0})

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [["body", "is_active"]]
    assert api.get(f"/api/v1/users/{reader.id}").json()["is_active"] is True


def test_json_values_of_the_right_kind_are_still_taken(world: World) -> None:
    # Strictness must not refuse what JSON can only send as text (a date) or as a float (30.0).
    api, alpha = world.as_user("alpha_admin"), world.alpha

    license_ = api.post("/api/v1/licenses", json={"device_id": alpha.thermostat.id, "starts_on": "2026-03-01",
                                                  "term_months": 12.0, "auto_renew": False})
    site = api.patch(f"/api/v1/sites/{alpha.site.id}", json={"latitude": 53, "longitude": 9.99})
    audit = api.get("/api/v1/audit", params={"since": "2026-01-01T00:00:00+01:00", "until": "2026-01-02T00:00:00Z"})

    assert license_.status_code == 201, license_.text
    assert (license_.json()["starts_on"], license_.json()["term_months"], license_.json()["auto_renew"]) == (
        "2026-03-01", 12, False)
    assert site.status_code == 200 and (site.json()["latitude"], site.json()["longitude"]) == (53.0, 9.99)
    assert audit.status_code == 200


def test_an_upload_holds_the_file_field_and_nothing_else(world: World) -> None:
    # The schema names the one field `file`; a second field was ignored, or a 400 past five of them.
    api, csv = world.as_user("alpha_admin"), "serial_number,type_key\nNT-UP-0001,barrier\n"
    upload = {"file": ("devices.csv", csv.encode(), "text/csv")}
    params = {"tenant_id": world.alpha.partner.id, "dry_run": "true"}

    refused = api.post("/api/v1/devices/import", params=params, files=upload, data={"note": "from the ERP"})
    taken = api.post("/api/v1/devices/import", params=params, files=upload)

    assert refused.status_code == 422 and "Formularfeld `file` und sonst nichts" in refused.json()["detail"]
    assert taken.status_code == 200, taken.text


@pytest.mark.parametrize("name", ["\n", " \t ", "\u200b", "\u3000", "\ufeff\u200d"])
def test_a_name_that_is_stripped_to_nothing_is_refused_by_the_schema_too(world: World, client, name: str) -> None:  # type: ignore[no-untyped-def]
    spec = client.get("/api/v1/openapi.json").json()
    pattern = spec["components"]["schemas"]["SiteCreate"]["properties"]["name"]["pattern"]

    response = world.as_user("alpha_operator").post(
        "/api/v1/sites", json={"kind": "site", "name": name, "tenant_id": world.alpha.customer.id})

    assert re.search(pattern, name) is None
    assert response.status_code == 422
