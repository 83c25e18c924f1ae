"""The portal under its Content-Security-Policy, in Chromium (issue 14, item 10).

Every browser test fails on a CSP violation (tests/portal/conftest.py, `csp_violations`).
Here: every page of the portal opens without one, a script smuggled into a page does not
run, and the API docs work from our own server under the same policy.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from leitstand.portal.routes import PORTAL_ROUTERS
from tests.helpers.world import World


def full_pages(world: World) -> list[str]:
    """Every portal route that answers a whole HTML page (not a fragment, JSON or script) for a
    partner admin, with its path parameters pointing at Alpha's records; and the error page."""
    values = world.alpha.ids()
    client: TestClient = world.client
    token = world.token_for("alpha_admin")
    pages = []
    for router in PORTAL_ROUTERS:
        for route in router.routes:
            path = re.sub(r"\{(\w+)\}", lambda match: str(values.get(match.group(1), 1)), route.path)
            answer = client.get(path, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False)
            if answer.status_code == 200 and answer.text.lstrip().lower().startswith("<!doctype html"):
                pages.append(path)
    return [*pages, "/no-such-page"]


@pytest.mark.every_backend  # opens every page: a query failing on PostgreSQL shows here
def test_every_page_of_the_portal_opens_without_a_csp_violation(world: World, page: Any, login: Any, csp_violations: list[str]) -> None:
    pages = full_pages(world)
    assert len(pages) >= 25, pages
    # The sites map asks the configured tile host, which the policy allows; answered here, not by the internet.
    tiles = urlsplit(world.app.state.settings.portal_tile_url)
    page.route(f"{tiles.scheme}://{tiles.netloc}/**", lambda route: route.fulfill(status=404))
    login(page, "admin@alpha.test")
    for path in pages:
        response = page.goto(path, wait_until="load")
        assert response is not None and "script-src 'self'" in response.headers["content-security-policy"], path
        assert not csp_violations, (path, csp_violations)  # name the page; teardown would only list them


def test_a_script_smuggled_into_a_page_does_not_run(page: Any, csp_violations: list[str]) -> None:
    page.goto("/login")
    refused = page.evaluate("""() => new Promise((resolve) => {
        document.addEventListener("securitypolicyviolation", (event) => resolve(event.effectiveDirective), { once: true });
        setTimeout(() => resolve(null), 5000); // no policy, no report: do not wait for ever
        const script = document.createElement("script");
        script.textContent = "window.smuggled = true;";
        document.head.append(script);
    })""")

    assert refused == "script-src-elem"
    assert page.evaluate("window.smuggled") is None
    # The guard every browser test runs under saw it (reported before the promise resolved).
    assert any(violation.startswith("script-src-elem blocked inline") for violation in csp_violations), csp_violations
    csp_violations.clear()  # expected here; in any other test it is a failure


def test_the_api_docs_come_from_our_own_server(page: Any, portal_url: str) -> None:
    elsewhere: list[str] = []
    page.on("request", lambda request: elsewhere.append(request.url) if not request.url.startswith(portal_url) else None)

    response = page.goto("/api/docs")

    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    login = page.locator('.opblock-summary-path[data-path="/api/v1/auth/login"]')
    expect(login).to_be_visible(timeout=20_000)  # 1.7 MB of Swagger UI drawing 160 operations, on a busy machine
    login.click()
    expect(page.get_by_role("button", name="Try it out")).to_be_visible()
    assert [url for url in elsewhere if not url.startswith("data:")] == []
