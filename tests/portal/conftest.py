"""Portal test fixtures: a real server over the test app, and a headless Chromium to drive it.

- `portal_url`: base URL of uvicorn serving the test `app` (with the `world` data) on 127.0.0.1.
- `browser`: one Chromium per test session, Debian's `chromium` from PATH (Playwright never
  downloads a browser here). Missing Chromium skips locally and fails in CI.
- `page` (1280x800) and `phone_page` (390x844, touch): a fresh context each, with
  `base_url=portal_url`, so `page.goto("/devices")` works. Service workers are blocked there so
  they never stand between a test and the server; tests/portal/test_pwa.py opens its own context.
- `login(page, email, password=PASSWORD, totp=None)` and `shot(page, name)`: see tests/helpers/portal.py.
- Every page runs under the portal's Content-Security-Policy, and every context made here reports
  each violation of it (`securitypolicyviolation` events and the console's CSP messages) into
  `csp_violations`: a browser test with any violation fails at teardown.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from leitstand.portal.pwa import BUILD_DIR
from tests.conftest import service_unavailable
from tests.helpers import portal as portal_support
from tests.helpers.server import running_server

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def portal_url(app: Any, world: Any) -> Iterator[str]:
    with running_server(app) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        service_unavailable("Chromium is not installed (Debian package `chromium`)")
    if not (BUILD_DIR / "app.js").is_file():
        pytest.fail("the portal's front end is not built: run `make frontend`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


# Violations seen in the current test's browser contexts (emptied and checked by `csp_violations`).
_CSP_VIOLATIONS: list[str] = []
# Runs in every frame before the page's own scripts: reports each violation to the test.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__leitstandCspViolation(`${event.effectiveDirective} blocked ${event.blockedURI || "?"} `
    + `(${event.sourceFile || location.href}:${event.lineNumber}) ${event.sample || ""}`);
}, true);
"""


def _watch_csp(context: Any) -> None:
    context.expose_function("__leitstandCspViolation", lambda violation: _CSP_VIOLATIONS.append(violation))
    context.add_init_script(_REPORT_CSP_VIOLATIONS)
    # Chromium's console messages too: they reach us also from where the init script never ran.
    context.on("console", lambda message: _CSP_VIOLATIONS.append(f"console: {message.text}")
               if "Content Security Policy" in message.text else None)


@pytest.fixture(autouse=True)
def csp_violations() -> Iterator[list[str]]:
    """The CSP violations of this test's pages; any left at the end fails the test."""
    _CSP_VIOLATIONS.clear()
    yield _CSP_VIOLATIONS
    found, _CSP_VIOLATIONS[:] = list(_CSP_VIOLATIONS), []
    if found:
        pytest.fail("Content-Security-Policy violations in the browser:\n" + "\n".join(found), pytrace=False)


def new_context(browser: Any, portal_url: str, *, phone: bool = False, service_workers: str = "block", **options: Any) -> Any:
    settings: dict[str, Any] = {
        "base_url": portal_url,
        "viewport": PHONE if phone else DESKTOP,
        "locale": "en-GB",
        "service_workers": service_workers,
    }
    if phone:
        settings.update(is_mobile=True, has_touch=True, device_scale_factor=2)
    settings.update(options)
    context = browser.new_context(**settings)
    context.set_default_timeout(10_000)
    _watch_csp(context)
    return context


@pytest.fixture
def page(browser: Any, portal_url: str) -> Iterator[Any]:
    context = new_context(browser, portal_url)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone_page(browser: Any, portal_url: str) -> Iterator[Any]:
    context = new_context(browser, portal_url, phone=True)
    yield context.new_page()
    context.close()


@pytest.fixture
def login() -> Callable[..., None]:
    return portal_support.login


@pytest.fixture
def shot() -> Callable[..., Any]:
    return portal_support.shot
