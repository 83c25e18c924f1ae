"""A domain refuses in its own words (leitstand.i18n: Refusal and its kinds), never with a web
problem; web/errors.py answers each kind with its problem, in the reader's language."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from leitstand.i18n import Conflict, Forbidden, Message, NotFound, Refusal, Throttled
from leitstand.web.errors import install_error_handlers
from tests.web.test_problems import assert_problem

REFUSALS = {
    "not-found": NotFound("device"),
    "forbidden": Forbidden("Forbidden"),
    "conflict": Conflict("The device is claimed already."),
    "throttled": Throttled("claim-throttled", "Too many wrong claim secrets from your organisation; wait before trying again.", 90),
    "refused": Refusal(Message("Use at least %(count)s characters.", count=12)),
}


@pytest.fixture
def client() -> TestClient:
    # A service that refuses, behind the app's own error handlers and no route catching anything.
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/refuse/{name}")
    def refuse(name: str) -> None:
        raise REFUSALS[name]

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(("name", "status", "kind", "detail"), [
    ("not-found", 404, "not-found", "No such device, or not visible to you."),
    ("forbidden", 403, "forbidden", "Forbidden"),
    ("conflict", 409, "conflict", "The device is claimed already."),
    ("throttled", 429, "claim-throttled", "Too many wrong claim secrets from your organisation; wait before trying again."),
    ("refused", 422, "invalid", "Use at least 12 characters."),
])
def test_each_kind_of_refusal_is_answered_with_its_problem(client, name, status, kind, detail):
    body = assert_problem(client.get(f"/refuse/{name}"), status, kind)

    assert body["detail"] == detail


def test_a_throttled_refusal_says_when_to_try_again(client):
    response = client.get("/refuse/throttled")

    assert response.headers["retry-after"] == "90"


def test_a_refusal_is_written_in_the_readers_language(client):
    response = client.get("/refuse/not-found", headers={"Accept-Language": "de-DE"})

    body = assert_problem(response, 404, "not-found")
    assert body["title"] == "Nicht gefunden"
    assert body["detail"] == "Nicht gefunden oder für Sie nicht sichtbar: Gerät."
    assert response.headers["content-language"] == "de"
