"""Property-based fuzzing of the whole JSON API from its own OpenAPI schema (schemathesis).

Authenticated as the platform admin (who may call everything), every operation
gets generated requests, both valid ones and ones that break the schema. None may end in a 5xx, and every
response must match what the schema documents: status code, content type, body.
The operations run inside one test per backend, so each failure names its operation.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from tests.support.world import World

RESPONSE_CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 40
# A Server-Sent Events stream never ends, so a generated call would never return;
# tests/state/test_live_stream.py covers it on a real server.
ENDLESS_STREAMS = {"/api/v1/live"}


def test_every_operation_conforms_to_its_schema(app, world: World) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {world.token_for('platform_admin')}"}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if operation.path in ENDLESS_STREAMS:
            continue
        strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)

        @given(case=strategy)
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def exercise(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers, checks=RESPONSE_CHECKS)

        try:
            exercise()
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collect every operation's failure, then report all
            failures[operation.label] = str(error)[:3000]
    assert operations >= 45
    assert not failures, "\n\n".join(f"{label}:\n{message}" for label, message in failures.items())
