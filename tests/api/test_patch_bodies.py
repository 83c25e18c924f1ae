"""PATCH and PUT bodies: a field left out keeps its value, null is taken only where a field is nullable.

Driven by the application's own OpenAPI schema, so a new PATCH route or field is covered
as soon as it exists. Issue 13, defect 1: `{"labels": null}` answered 500, was stored all
the same, and from then on every device list of the tenant (and above it) answered 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from leitstand.alarms.models import AlarmRule
from leitstand.audit.models import AuditEntry
from leitstand.db.models import Base
from tests.api.test_route_walk import SEEDS, Operation, operations
from tests.helpers.world import Organisation, World

# Written by every authenticated request (last use, throttles, the audit of the refusal itself).
VOLATILE_TABLES = {AuditEntry.__tablename__, "api_tokens", "login_throttles", "login_sessions"}


def patch_operations() -> Iterator[Operation]:
    for operation in operations():
        if operation.method in ("PATCH", "PUT") and operation.has_body:
            yield operation


def body_model(operation: Operation) -> Any:
    return operation.route.body_field.field_info.annotation  # type: ignore[union-attr]


def request_schema(schema: dict[str, Any], operation: Operation) -> dict[str, Any]:
    body = schema["paths"][operation.path][operation.method.lower()]["requestBody"]["content"]["application/json"]["schema"]
    return resolve(schema, body)


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def allows_null(schema: dict[str, Any], node: dict[str, Any]) -> bool:
    node = resolve(schema, node)
    kinds = node.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds):
        return True
    return any(allows_null(schema, option) for option in node.get("anyOf", []) + node.get("oneOf", []))


def seeded(world: World) -> None:
    for organisation in (world.alpha, world.beta):
        for seed in SEEDS:
            organisation.extra_ids.update(seed(organisation, world))
    world.db.commit()
    assert world.app.state.notifier.wait_idle()


def url(operation: Operation, org: Organisation, world: World) -> str:
    if operation.path.startswith("/api/v1/alarm-rules/"):
        # The seeds name the routing rule "rule_id" too; this path means the alarm rule.
        values = {"rule_id": world.db.scalar(select(AlarmRule.id).where(AlarmRule.tenant_id == org.customer.id))}
        return operation.path.format(**values)
    return operation.url(org)


def stored_rows(world: World) -> dict[str, list[tuple[Any, ...]]]:
    world.db.expire_all()
    return {
        table.name: sorted((tuple(map(repr, row)) for row in world.db.execute(table.select())))
        for table in Base.metadata.sorted_tables if table.name not in VOLATILE_TABLES
    }


def null_errors(response: Any, field: str) -> list[dict[str, Any]]:
    return [error for error in response.json().get("errors") or [] if error["loc"] == ["body", field]]


def test_every_patch_and_put_body_is_a_patch_model() -> None:
    """One mechanism decides what null means in a partial update: leitstand.web.types.Patch."""
    from leitstand.web.types import Patch

    bodies = {f"{op.method} {op.path}": body_model(op) for op in patch_operations()}
    assert len(bodies) >= 13
    assert {name: model.__name__ for name, model in bodies.items() if not issubclass(model, Patch)} == {}


def test_the_schema_allows_null_exactly_where_the_server_takes_it(app) -> None:  # type: ignore[no-untyped-def]
    """Nullable in the OpenAPI schema iff declared `X | None` in the Patch model; and no documented
    default of null, since a field left out is unchanged, not set to null."""
    schema = app.openapi()
    for operation in patch_operations():
        model = body_model(operation)
        properties = request_schema(schema, operation)["properties"]
        assert set(properties) == set(model.model_fields), operation.path
        for field, info in model.model_fields.items():
            declared_nullable = type(None) in getattr(info.annotation, "__args__", ())
            assert allows_null(schema, properties[field]) == declared_nullable, f"{operation.path} {field}"
            assert properties[field].get("default", "none documented") is not None, f"{operation.path} {field}"


def test_null_for_a_field_that_is_not_nullable_is_refused_and_changes_nothing(app, world: World) -> None:  # type: ignore[no-untyped-def]
    seeded(world)
    admin = world.as_user("alpha_admin")
    schema = app.openapi()
    before = stored_rows(world)
    refused = 0
    for operation in patch_operations():
        for field, node in request_schema(schema, operation)["properties"].items():
            if allows_null(schema, node):
                continue
            response = admin.request(operation.method, url(operation, world.alpha, world), json={field: None})
            where = f"{operation.method} {operation.path} {{{field}: null}} -> {response.status_code}"
            assert response.status_code == 422, f"{where}: {response.text}"
            assert response.headers["content-type"].startswith("application/problem+json"), where
            assert [error["type"] for error in null_errors(response, field)] == ["null_not_allowed"], where
            refused += 1
    assert refused >= 50
    assert stored_rows(world) == before, "a refused null changed stored data"


def test_null_is_taken_where_the_field_is_nullable(app, world: World) -> None:  # type: ignore[no-untyped-def]
    seeded(world)
    admin = world.as_user("alpha_admin")
    schema = app.openapi()
    accepted = 0
    for operation in patch_operations():
        for field, node in request_schema(schema, operation)["properties"].items():
            if not allows_null(schema, node):
                continue
            response = admin.request(operation.method, url(operation, world.alpha, world), json={field: None})
            where = f"{operation.method} {operation.path} {{{field}: null}} -> {response.status_code}: {response.text}"
            # The route may still refuse it for its own reasons (an interval plan needs its start date).
            assert response.status_code < 500, where
            assert response.status_code != 422 or not null_errors(response, field), where
            accepted += 1
    assert accepted >= 8


def test_a_null_label_list_is_refused_and_the_fleet_still_lists(world: World) -> None:
    """The reproduction from the issue."""
    operator = world.as_user("alpha_operator")
    barrier = world.alpha.barrier
    response = operator.patch(f"/api/v1/devices/{barrier.id}", json={"labels": None})

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [["body", "labels"]]
    for caller in (operator, world.as_user("alpha_admin"), world.as_user("platform_admin")):
        listed = caller.get("/api/v1/devices")
        assert listed.status_code == 200, listed.text
        assert {"id": barrier.id, "labels": ["einfahrt"]}.items() <= next(
            item for item in listed.json()["items"] if item["id"] == barrier.id).items()
    single = operator.get(f"/api/v1/devices/{barrier.id}")
    assert single.status_code == 200
    assert single.json()["labels"] == ["einfahrt"]


def test_site_id_null_takes_a_device_off_its_site_and_leaving_fields_out_keeps_them(world: World) -> None:
    operator = world.as_user("alpha_operator")
    barrier = world.alpha.barrier

    response = operator.patch(f"/api/v1/devices/{barrier.id}", json={"site_id": None})

    assert response.status_code == 200, response.text
    assert response.json()["site_id"] is None
    assert response.json()["labels"] == ["einfahrt"]
    assert response.json()["name"] == barrier.name
