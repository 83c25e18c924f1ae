"""Every answer carries the security headers (issue 14, item 10).

Whatever a browser gets from Leitstand may not be framed (`frame-ancestors 'none'`,
`X-Frame-Options`), sniffed into another type (`nosniff`), or leak its URL to other sites
(`Referrer-Policy`; `no-referrer` on the pages with a token in their URL); behind https it
pins the browser to https (HSTS). Pages and scripts run under a CSP that allows scripts from
our own server only; data answers (JSON, problems, files) under `default-src 'none'`.

The walk is driven by the application's own tables: every operation of the OpenAPI schema,
every route of the portal's routers, plus the static files, the API docs, the live stream and
each kind of error answer (404 page and problem, 405, 500 from an unexpected error). A new
route is checked as soon as it exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from leitstand.portal.routes import PORTAL_ROUTERS
from leitstand.web.security_headers import portal_policy
from tests.helpers.server import running_server
from tests.helpers.world import World

HTTPS_URL = "https://localhost:8000"
HSTS = "max-age=31536000; includeSubDomains"
OPERATION_METHODS = {"get", "post", "put", "patch", "delete"}
STREAMS = {"/api/v1/live"}  # endless: checked on a real server, in the walk's last step
TOKEN_PAGES = ("/password-reset", "/invitation")  # a mailed link's token is in their URL
SCRIPT_TYPES = ("text/html", "text/javascript", "application/javascript")


@pytest.fixture
def https_app(settings: Any) -> Iterator[Any]:
    """The application behind an https public URL, with one route failing unexpectedly per side."""
    from leitstand.runtime import app_without_transports

    def fail() -> None:
        raise RuntimeError("an unexpected error, for the walk")

    with app_without_transports(settings.model_copy(update={"public_url": HTTPS_URL})) as application:
        application.add_api_route("/walk-failure", fail, include_in_schema=False)
        application.add_api_route("/api/v1/walk-failure", fail, include_in_schema=False)
        yield application


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *values = directive.split()
        parsed[name.lower()] = values
    return parsed


def header_faults(path: str, response: httpx.Response, *, https: bool) -> list[str]:
    """What is missing or wrong in one answer's security headers."""
    headers, faults = response.headers, []
    for name, value in (("x-content-type-options", "nosniff"), ("x-frame-options", "DENY")):
        if headers.get(name) != value:
            faults.append(f"{name}: {headers.get(name)!r}")
    referrer = "no-referrer" if path.startswith(TOKEN_PAGES) else "strict-origin-when-cross-origin"
    if headers.get("referrer-policy") != referrer:
        faults.append(f"referrer-policy: {headers.get('referrer-policy')!r}, not {referrer!r}")
    if headers.get("strict-transport-security") != (HSTS if https else None):
        faults.append(f"strict-transport-security: {headers.get('strict-transport-security')!r}")
    policy = directives(headers.get("content-security-policy", ""))
    if policy.get("frame-ancestors") != ["'none'"]:
        faults.append(f"frame-ancestors: {policy.get('frame-ancestors')}")
    if any(value.startswith("'unsafe-") for values in policy.values() for value in values):
        faults.append(f"an unsafe source: {headers.get('content-security-policy')}")
    if headers.get("content-type", "").startswith(SCRIPT_TYPES):
        if policy.get("script-src") != ["'self'"] or policy.get("object-src") != ["'none'"]:
            faults.append(f"a page or script without script-src 'self': {headers.get('content-security-policy')}")
    elif policy.get("default-src") != ["'none'"]:
        faults.append(f"a data answer ({headers.get('content-type')}) not under default-src 'none'")
    return faults


def _fill(template: str, values: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: str(values.get(match.group(1), 1)), template)


Answer = tuple[str, str, httpx.Response, int | None]  # method, path, response, the status it must have


def walk(app: Any, world: World, client: TestClient) -> Iterator[Answer]:
    """Every route, as a partner admin for reads and anonymously for writes (so the walk changes
    nothing), followed by the answers that are no route's own, each with the status it must have."""
    values = world.alpha.ids() | {"kind": "telemetry"}
    signed_in = {"Authorization": f"Bearer {world.token_for('alpha_admin')}"}
    for template, operations in app.openapi()["paths"].items():
        for method in sorted(OPERATION_METHODS & set(operations)):
            if template in STREAMS:
                continue
            path = _fill(template, values)
            yield method.upper(), path, client.request(method, path, headers=signed_in if method == "get" else {}), None
    for router in PORTAL_ROUTERS:
        for route in router.routes:
            path = _fill(route.path, values)
            yield "GET", path, client.get(path, headers=signed_in), None
    extras = [
        ("GET", "/", {}, 303),  # an anonymous visitor is sent to the login page
        ("GET", "/api/docs", {}, 200),
        ("GET", "/api/v1/openapi.json", {}, 200),
        ("GET", "/static/build/app.js", {}, 200),
        ("GET", "/static/build/app.css", {}, 200),
        ("GET", "/static/build/icons/icon.svg", {}, 200),
        ("GET", "/static/apidocs/swagger-ui-bundle.js", {}, 200),
        ("GET", "/static/build/no-such-file.js", {}, 404),
        ("GET", "/password-reset?token=forged", {}, 400),
        ("GET", "/invitation?token=forged", {}, 400),
        ("GET", "/no-such-page", signed_in, 404),
        ("GET", "/api/v1/no-such-resource", signed_in, 404),
        ("PUT", "/api/v1/sites", signed_in, 405),
        ("GET", "/walk-failure", signed_in, 500),
        ("GET", "/api/v1/walk-failure", signed_in, 500),
    ]
    for method, path, headers, status in extras:
        yield method, path, client.request(method, path, headers=headers), status
    with running_server(app) as url, httpx.Client(base_url=url, timeout=20) as stream_client:
        for path in STREAMS:
            with stream_client.stream("GET", path, headers=signed_in) as response:
                yield "GET", path, response, 200


def test_every_answer_carries_the_security_headers_and_hsts_behind_https(https_app: Any, world: World) -> None:
    with TestClient(https_app, base_url=HTTPS_URL, raise_server_exceptions=False, follow_redirects=False) as client:
        answers = list(walk(https_app, world, client))
        faults = [f"{method} {path} ({response.status_code}): {fault}"
                  for method, path, response, _ in answers for fault in header_faults(path, response, https=True)]

    assert not faults, "\n".join(faults)
    # The walk saw what it means to: pages, data, and each kind of error.
    assert [(method, path, response.status_code) for method, path, response, status in answers
            if status is not None and response.status_code != status] == []
    assert sum(response.headers.get("content-type", "").startswith("text/html") and response.status_code == 200
               for _, _, response, _ in answers) >= 30  # the portal's pages themselves, not only their redirects


def test_without_an_https_public_url_there_is_no_hsts(world: World) -> None:
    client = world.client  # the test application: public URL http://localhost:8000
    signed_in = {"Authorization": f"Bearer {world.token_for('alpha_admin')}"}
    for path in ("/", "/api/v1/sites", "/static/build/app.css", "/no-such-page", "/api/v1/no-such-resource"):
        response = client.get(path, headers=signed_in)
        assert not header_faults(path, response, https=False), (path, header_faults(path, response, https=False))


@pytest.mark.parametrize(("tile_url", "images"), [
    ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "'self' data: https://tile.openstreetmap.org"),
    ("https://{s}.tile.example.org:8443/{z}/{x}/{y}.png", "'self' data: https://*.tile.example.org:8443"),
    ("https://maps-{s}.example.org/{z}/{x}/{y}.png", "'self' data: https://*.example.org"),
    # A placeholder further right cannot be written as a CSP host: the scheme is the narrowest source.
    ("https://maps.{s}.example.org/{z}/{x}/{y}.png", "'self' data: https:"),
    ("/tiles/{z}/{x}/{y}.png", "'self' data:"),
    # Nothing from the setting can end the directive and start another.
    ("https://tiles.example.org;script-src *;/{z}/{x}/{y}.png", "'self' data:"),
    ("data:image/png;base64,iVBORw0KGgo=", "'self' data:"),
])
def test_the_map_may_load_its_tiles_from_the_configured_host_only(tile_url: str, images: str) -> None:
    policy = directives(portal_policy(tile_url))
    assert " ".join(policy["img-src"]) == images
    assert policy["script-src"] == ["'self'"] and policy["connect-src"] == ["'self'"]
