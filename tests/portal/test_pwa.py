"""The portal as an installable app, and its phone layout."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.portal.conftest import new_context


def test_the_manifest_describes_an_installable_app(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    assert manifest["name"] == "Leitstand" and manifest["theme_color"]
    purposes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= purposes
    for icon in manifest["icons"]:
        served = client.get(icon["src"])
        assert served.status_code == 200, icon["src"]
        assert served.headers["content-type"].startswith(icon["type"])
        if icon["type"] == "image/png":
            width, height = int.from_bytes(served.content[16:20], "big"), int.from_bytes(served.content[20:24], "big")
            assert f"{width}x{height}" == icon["sizes"]


def test_the_service_worker_is_served_for_the_whole_site_and_leaves_the_api_alone(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["service-worker-allowed"] == "/"
    assert response.headers["cache-control"] == "no-cache"
    worker = response.text
    assert '"/offline"' in worker and "/static/build/app.js?v=" in worker
    assert 'url.pathname.startsWith("/api/")' in worker and "text/event-stream" in worker
    assert 'addEventListener("push"' in worker and 'addEventListener("notificationclick"' in worker


def test_the_offline_page_needs_no_login(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/offline", headers={"accept-language": "en"})
    assert response.status_code == 200
    assert "You are offline" in response.text


def test_the_service_worker_registers_and_takes_control(browser, portal_url, world) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, portal_url, service_workers="allow")
    page = context.new_page()
    page.goto("/login")
    scope = page.evaluate("navigator.serviceWorker.ready.then(registration => registration.scope)")
    assert scope == portal_url + "/"
    # The shell is cached: the offline page is there for when the network is gone.
    cached = page.evaluate("caches.match('/offline').then(response => response ? response.status : 0)")
    assert cached == 200
    context.close()


def test_without_the_server_the_offline_page_answers_and_goes_back_once_online(browser, portal_url, world) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, portal_url, service_workers="allow")
    page = context.new_page()
    page.goto("/login")
    page.evaluate("navigator.serviceWorker.ready")
    page.wait_for_function("navigator.serviceWorker.controller !== null")

    # The worker's own request for the page fails, as without a network.
    context.route("**/login", lambda route: route.abort("internetdisconnected"))
    page.goto("/login")
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
    expect(page.get_by_role("link", name="Try again")).to_be_visible()

    # When the browser says it is online again, the page reloads by itself (app.js: the
    # portal's CSP runs no inline script).
    context.unroute("**/login")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#password-step")).to_be_visible()
    context.close()


def test_a_phone_shows_the_bottom_navigation_without_sideways_scrolling(phone_page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    assert world.as_user("alpha_admin").patch("/api/v1/me", json={"language": "en"}).status_code == 200
    login(phone_page, "admin@alpha.test")
    navigation = phone_page.get_by_role("navigation", name="Main navigation")
    expect(navigation.get_by_role("link", name="Devices")).to_be_visible()
    box = navigation.bounding_box()
    viewport = phone_page.viewport_size
    assert box is not None and box["y"] + box["height"] >= viewport["height"] - 1  # docked at the bottom
    assert box["width"] >= viewport["width"] - 1
    shot(phone_page, "overview-phone", full_page=False)
    for path in ("/", "/account"):
        phone_page.goto(path)
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{path} scrolls sideways: {width}px"


def test_a_desktop_shows_the_navigation_as_a_sidebar(page, world, login) -> None:  # type: ignore[no-untyped-def]
    login(page, "admin@alpha.test")
    box = page.get_by_role("navigation", name="Hauptnavigation").bounding_box()
    assert box is not None and box["x"] < 40 and box["width"] < 300
