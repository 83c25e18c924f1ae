"""The management pages, rendered server-side: who sees which page and which buttons, and no leaks.

Each page is fetched as a logged-in browser would (session cookie), for users with
and without the permission it needs. Alpha's administrator must never see Beta's
records; a read-only user sees the lists but none of the buttons that change them.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from leitstand.audit.recorder import Actor, record
from leitstand.clock import clock
from tests.helpers.world import ALPHA_MARK, BETA_MARK, PASSWORD

PAGES = ["/manage", "/manage/users", "/manage/customers", "/manage/tokens", "/manage/licenses", "/manage/audit"]
# What the buttons and forms that change something look like in the page.
INVITE_FORM = 'data-manage="invite"'
GRANT_FORM = 'data-manage="grant"'
SHARE_FORM = 'data-manage="share"'
NEW_CUSTOMER_FORM = 'data-api="POST /api/v1/tenants"'
AUTO_RENEW_SWITCH = 'data-api="PATCH /api/v1/licenses/'


def browser_for(app, email: str) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url="http://localhost:8000")
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


@pytest.fixture
def as_user(app, world):  # type: ignore[no-untyped-def]
    """A logged-in browser for one of the world's users."""

    def open_for(key: str) -> TestClient:
        return browser_for(app, world.users[key].email)

    return open_for


def html(client: TestClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, f"{path}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("text/html")
    return response.text


@pytest.mark.parametrize("path", PAGES)
def test_each_page_renders_for_the_partner_admin_without_beta_data(as_user, world, path: str) -> None:
    page = html(as_user("alpha_admin"), path)
    assert BETA_MARK not in page
    if path != "/manage":
        assert ALPHA_MARK in page  # the page does list Alpha's own records


@pytest.mark.parametrize("path", PAGES[1:])
def test_beta_admin_never_sees_alpha_data(as_user, path: str) -> None:
    page = html(as_user("beta_admin"), path)
    assert ALPHA_MARK not in page
    assert BETA_MARK in page


def test_overview_shows_only_the_sections_a_user_may_use(as_user) -> None:
    admin = html(as_user("alpha_admin"), "/manage")
    for href in ("/manage/users", "/manage/customers", "/manage/tokens", "/manage/licenses", "/manage/audit"):
        assert f'href="{href}"' in admin

    end_customer = html(as_user("alpha_end"), "/manage")
    assert 'href="/manage/tokens"' in end_customer
    for href in ("/manage/users", "/manage/customers", "/manage/licenses", "/manage/audit"):
        assert f'href="{href}"' not in end_customer

    reader = html(as_user("alpha_reader"), "/manage")
    assert 'href="/manage/licenses"' in reader
    assert 'href="/manage/audit"' not in reader


@pytest.mark.parametrize("path", ["/manage/users", "/manage/customers", "/manage/licenses", "/manage/audit"])
def test_pages_are_refused_to_an_end_customer(as_user, path: str) -> None:
    page = html(as_user("alpha_end"), path, status=403)
    assert "403" in page
    assert ALPHA_MARK not in page.split("<main", 1)[1].replace("Alpha End " + ALPHA_MARK, "")


def test_audit_and_role_grants_are_refused_to_a_reader(as_user, world) -> None:
    reader = as_user("alpha_reader")
    html(reader, "/manage/audit", status=403)
    html(reader, f"/manage/users/{world.alpha.operator.id}", status=403)


def test_anonymous_visitors_are_sent_to_the_login_page(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/manage/users", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/manage/users")


def test_another_partners_user_is_not_found(as_user, world) -> None:
    page = html(as_user("alpha_admin"), f"/manage/users/{world.beta.operator.id}", status=404)
    assert BETA_MARK not in page


def test_read_only_user_sees_lists_but_no_buttons(as_user, world) -> None:
    reader = as_user("alpha_reader")
    users = html(reader, "/manage/users")
    assert "operator@alpha.test" in users
    for control in (INVITE_FORM, "/invitation", 'data-api="PATCH /api/v1/users/', 'data-api="DELETE /api/v1/users/'):
        assert control not in users
    assert not re.search(r'href="/manage/users/\d', users)  # no user's roles page (the CSV export is a list's)

    customers = html(reader, "/manage/customers")
    assert f"Alpha Endkunde {ALPHA_MARK}" in customers
    assert world.alpha.barrier.name in customers  # the shared device is listed ...
    for control in (NEW_CUSTOMER_FORM, SHARE_FORM, "/shares/"):  # ... but cannot be shared or unshared
        assert control not in customers

    licenses = html(reader, "/manage/licenses")
    assert world.alpha.barrier.serial_number in licenses
    assert AUTO_RENEW_SWITCH not in licenses


def test_admin_sees_the_controls(as_user, world) -> None:
    admin = as_user("alpha_admin")
    users = html(admin, "/manage/users")
    assert INVITE_FORM in users
    assert f'data-api="PATCH /api/v1/users/{world.alpha.operator.id}"' in users
    # Nobody is offered to deactivate themselves.
    assert f'data-api="PATCH /api/v1/users/{world.users["alpha_admin"].id}"' not in users
    assert GRANT_FORM in html(admin, f"/manage/users/{world.alpha.operator.id}")
    customers = html(admin, "/manage/customers")
    assert NEW_CUSTOMER_FORM in customers and SHARE_FORM in customers
    assert f'data-api="DELETE /api/v1/devices/{world.alpha.barrier.id}/shares/{world.alpha.end_customer.id}"' in customers
    assert f'{AUTO_RENEW_SWITCH}{world.alpha.license.id}"' in html(admin, "/manage/licenses")


def test_users_page_shows_role_grants_with_their_scope(as_user) -> None:
    page = html(as_user("alpha_admin"), "/manage/users")
    # alpha_site_tech holds operator_technician on one site, shown in the admin's language (German).
    assert f"Betreiber-Techniker · Alpha Parkhaus {ALPHA_MARK}" in page


def test_invited_users_can_be_resent_or_withdrawn(as_user, world) -> None:
    admin = as_user("alpha_admin")
    created = admin.post(
        "/api/v1/users", headers={"x-csrf-token": csrf_of(admin)},
        json={"tenant_id": world.alpha.customer.id, "email": "new.colleague@example.com", "display_name": "New Colleague",
              "send_invitation": False},
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    page = html(admin, "/manage/users?state=invited")
    assert "new.colleague@example.com" in page and "operator@alpha.test" not in page
    assert f'data-api="POST /api/v1/users/{user_id}/invitation"' in page
    assert f'data-api="DELETE /api/v1/users/{user_id}"' in page


def csrf_of(client: TestClient) -> str:
    return client.get("/api/v1/me").json()["csrf_token"]


def test_grant_page_offers_roles_per_scope_and_targets_of_the_users_organisation(as_user, world) -> None:
    page = html(as_user("alpha_admin"), f"/manage/users/{world.alpha.operator.id}")
    assert 'value="platform_admin"' not in page
    assert 'value="operator" data-scopes="site tenant"' in page or 'value="operator" data-scopes="tenant site"' in page
    assert f'<option value="{world.alpha.site.id}">Alpha Parkhaus {ALPHA_MARK}</option>' in page
    assert f"{world.alpha.barrier.name} ({world.alpha.barrier.serial_number})" in page
    # The partner's own tenant lies above the operator's organisation: not a target for them.
    assert f">Alpha Partner {ALPHA_MARK}</option>" not in page


def test_pages_and_role_labels_follow_the_users_language(as_user, world) -> None:
    german = html(as_user("alpha_admin"), f"/manage/users/{world.alpha.operator.id}")
    assert ">Betreiber-Techniker</option>" in german and "Rolle zuweisen" in german
    world.users["alpha_admin"].language = "en"
    world.db.commit()
    english = html(as_user("alpha_admin"), f"/manage/users/{world.alpha.operator.id}")
    assert ">Operator technician</option>" in english and "Grant a role" in english
    assert "Betreiber-Techniker" not in english


def test_tokens_page_lists_only_ones_own_tokens(as_user, world) -> None:
    assert world.alpha.token.name not in html(as_user("alpha_admin"), "/manage/tokens")
    # The operator logs in with a security key; an API token of theirs reaches the page just as well.
    operator = world.as_user("alpha_operator")
    operator_page = operator.get("/manage/tokens").text
    assert world.alpha.token.name in operator_page
    assert f'data-api="DELETE /api/v1/me/tokens/{world.alpha.token.id}"' in operator_page
    assert 'data-manage="token"' not in operator_page  # a token cannot mint further tokens
    assert 'data-manage="token"' in html(as_user("alpha_admin"), "/manage/tokens")
    fragment = operator.get("/manage/tokens/list").text
    assert world.alpha.token.name in fragment and "<html" not in fragment


def test_licenses_ending_soon_stand_out(as_user, world) -> None:
    world.alpha.license.ends_on = clock.now().date() + timedelta(days=10)
    world.db.commit()
    page = html(as_user("alpha_admin"), "/manage/licenses?status=expiring&q=")
    assert 'class="manage-expiring"' in page
    assert world.alpha.barrier.serial_number in page
    assert world.alpha.barrier.serial_number not in html(as_user("alpha_admin"), "/manage/licenses?status=expired")


def test_audit_filters_and_export_links(as_user, world) -> None:
    alpha_actor = Actor(world.users["alpha_operator"].id, world.alpha.customer.id, "operator@alpha.test")
    record(world.db, "device.unlock", outcome="failure", target_type="devices", target_id=world.alpha.barrier.id,
           actor=alpha_actor)
    record(world.db, "device.unlock", outcome="failure", tenant_id=world.beta.customer.id, target_type="devices",
           target_id=world.beta.barrier.id, actor=Actor(None, world.beta.customer.id, f"intruder {BETA_MARK}"))
    world.db.commit()
    admin = as_user("alpha_admin")
    page = html(admin, "/manage/audit?outcome=failure&action=device.unlock&since=&until=&actor_user_id=&q=")
    assert "operator@alpha.test" in page and BETA_MARK not in page
    assert "/api/v1/audit/export?outcome=failure&amp;action=device.unlock&amp;format=csv" in page.replace(
        "action=device.unlock&amp;outcome=failure", "outcome=failure&amp;action=device.unlock")
    assert "format=ndjson" in page

    by_text = html(admin, "/manage/audit?q=operator@alpha")
    assert "device.unlock" in by_text
    nothing = html(admin, f"/manage/audit?q=nobody-at-all&since={clock.now().date()}")
    assert 'id="audit"' not in nothing


def test_audit_day_range_ends_with_the_until_day(as_user, world) -> None:
    today = clock.now().date()
    admin = as_user("alpha_admin")
    assert "<code>users.create</code>" in html(admin, f"/manage/audit?since={today}&until={today}")
    assert 'id="audit"' not in html(admin, f"/manage/audit?until={today - timedelta(days=2)}")
