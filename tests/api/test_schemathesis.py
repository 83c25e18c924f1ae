"""Property-based testing of the whole JSON API from its own OpenAPI schema (schemathesis).

Schemathesis's runner sends every operation 20 generated requests, valid and invalid, as each of
four users: a customer's operator, a partner admin, an end customer and the platform admin. As
the platform admin, whose requests reach every handler, it first runs its coverage phase too:
boundary values, each enum value, missing and wrong-typed fields, methods the path does not
have. That phase is most of the cases, so it runs once. Every response must
- not be a 5xx, and have the status code, content type and body the schema documents;
- for a method the path lacks, be a 405 whose `Allow` names the path's methods, as OPTIONS does;
- refuse a request that breaks the schema (4xx), and accept one that fits it, unless a rule the
  schema cannot state refuses it.
What is left out or let pass is listed, each with its reason, in schemathesis_exclusions.toml.
One test per role and backend; its failure names every failing operation with a curl command,
and the terminal summary says how many operations and cases each ran.
"""

from __future__ import annotations

import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi import checks as openapi_checks

from tests.helpers.schemathesis_runs import SchemathesisRun, record_run
from tests.helpers.world import World

# The schema against the server: once, on the production store (see tests/conftest.py).
pytestmark = pytest.mark.one_backend("postgresql")

EXCLUSIONS = tomllib.loads((Path(__file__).parent / "schemathesis_exclusions.toml").read_text())
SKIPPED = {entry["operation"] for entry in EXCLUSIONS["skip"]}
EXAMPLES_PER_OPERATION = 20
# Role: the World's user, and whether the coverage phase runs as them.
ROLES = {"operator": ("alpha_operator", False), "partner": ("alpha_admin", False), "end_customer": ("alpha_end", False),
         "platform_admin": ("platform_admin", True)}


def _listed_grounds(operation: str) -> set[tuple[str, str]]:
    """What the exclusions file lets refuse schema-valid data on this operation."""
    return {
        (key, entry[key]) for entry in EXCLUSIONS["refusal"] if operation in entry["operations"]
        for key in ("error", "field", "problem") if key in entry
    }


def _listed_refusal(operation: str, problem: Any) -> bool:
    """Whether the exclusions file lists everything this refusal names: each error of its `errors`
    by its type or by its location, or else (no errors) its problem type."""
    if not isinstance(problem, dict):
        return False
    listed = _listed_grounds(operation)
    errors = problem.get("errors") or []
    if not errors:
        return ("problem", str(problem.get("type", "")).rsplit("/", 1)[-1]) in listed
    return all({("error", error["type"]), ("field", ".".join(error["loc"]))} & listed for error in errors)


@schemathesis.check
def positive_data_accepted_unless_listed(ctx, response, case):  # type: ignore[no-untyped-def]
    """positive_data_acceptance, minus the refusals schemathesis_exclusions.toml lists."""
    try:
        return openapi_checks.positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData as rejected:
        try:
            problem = response.json()
        except ValueError:  # no problem document, so nothing the file could list
            raise rejected from None
        if _listed_refusal(case.operation.label, problem):
            return None
        raise


CHECKS = [
    # The ones the issue requires,
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
    # and the ones that found the Allow headers, the loose coercions and the unstated constraints.
    "unsupported_method", "allow_header_conformance", "negative_data_rejection", "positive_data_accepted_unless_listed",
]


def _config(token: str, coverage: bool) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "headers": {"Authorization": f"Bearer {token}"},
        # Security parameters are the Authorization header set above; generating others would only
        # double the time spent drawing cases.
        "generation": {"mode": "all", "max-examples": EXAMPLES_PER_OPERATION, "deterministic": True,
                       "database": "none", "with-security-parameters": False},
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": coverage}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "suppress-health-check": ["all"],
        # The tokens are this test's own, and a failure must show what was sent (a parameter named
        # `key`, like the telemetry keys, would be hidden).
        "output": {"sanitization": {"enabled": False}},
    })


def test_every_exclusion_names_existing_operations_and_gives_its_reason(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    operations = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    entries = EXCLUSIONS["skip"] + EXCLUSIONS["refusal"]

    named = {entry["operation"] for entry in EXCLUSIONS["skip"]} | {
        operation for entry in EXCLUSIONS["refusal"] for operation in entry["operations"]}
    assert named <= operations, sorted(named - operations)
    assert all(len(entry.get("reason", "")) > 20 for entry in entries)
    assert all(len({"error", "field", "problem"} & entry.keys()) == 1 for entry in EXCLUSIONS["refusal"])


def _describe(check: Any, response: Any) -> str:
    answer = f"{response.status_code} {response.content[:300]!r}" if response is not None else "no response"
    return (f"{check.name}: {check.failure_info.failure.title}\n{check.failure_info.failure.message}\n"
            f"answered {answer}\n{check.failure_info.code_sample}")


@pytest.mark.parametrize("role", list(ROLES))
def test_every_operation_conforms_to_its_schema(app, world: World, backend: str, role: str,  # type: ignore[no-untyped-def]
                                                 request: pytest.FixtureRequest) -> None:
    user, coverage = ROLES[role]
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, config=_config(world.token_for(user), coverage))
    expected = {f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items() for method in item} - SKIPPED
    for label in SKIPPED:
        method, path = label.split(" ", 1)
        schema = schema.exclude(method=method, path=path)
    started = time.monotonic()
    tested: set[str] = set()
    cases: Counter[str] = Counter()
    failures: dict[str, list[str]] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.is_test_scenario and event.recorder.cases:
            tested.add(event.recorder.label)
            cases[event.phase.value] += len(event.recorder.cases)
            for case_id, checks in event.recorder.checks.items():
                failures.setdefault(event.recorder.label, []).extend(
                    _describe(check, event.recorder.find_response(case_id=case_id))
                    for check in checks if check.status == Status.FAILURE and check.failure_info is not None)
        elif isinstance(event, events.NonFatalError):
            failures.setdefault(event.label, []).append(str(event.info))
        elif isinstance(event, events.FatalError):
            raise event.exception
    record_run(request.config, SchemathesisRun(backend, role, len(tested), dict(cases), time.monotonic() - started))
    failures = {label: messages for label, messages in failures.items() if messages}
    assert not failures, "\n\n".join(f"{label}:\n" + "\n".join(messages) for label, messages in failures.items())
    assert tested == expected, f"not run: {sorted(expected - tested)}"
