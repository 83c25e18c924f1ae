"""Ticket hand-over (issue 14, defect 4): a ticket goes to the partner's desk or the platform's, and a
support desk sees only what is handed over to it (seed 000: "Ticketübergabe an ELKA oder Partner")."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from leitstand.support.models import Ticket
from tests.helpers.world import ALPHA_MARK, World


@pytest.fixture
def support(world: World) -> str:
    """Platform support on the root tenant, without any release code."""
    world.user_with_role("support", "platform_support", world.root)
    return "support"


def open_ticket(world: World, user: str = "alpha_operator", **fields):  # type: ignore[no-untyped-def]
    body = {"ticket_class": 2, "title": f"Schranke {ALPHA_MARK}", "device_id": world.alpha.barrier.id, **fields}
    response = world.as_user(user).post("/api/v1/tickets", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def redeem_code(world: World, support: str, **target: int) -> None:
    code = world.as_user("alpha_operator").post("/api/v1/support-access", json=target).json()["code"]
    assert world.as_user(support).post("/api/v1/support-access/redeem", json={"code": code}).status_code == 200


def ticket_count(world: World) -> int:
    world.db.expire_all()
    return world.db.scalar(select(func.count()).select_from(Ticket)) or 0


def test_a_customers_ticket_goes_to_the_partner_and_a_partners_own_to_the_platform(world: World) -> None:
    customers = open_ticket(world)
    partners_own = open_ticket(world, "alpha_admin", device_id=None, tenant_id=world.alpha.partner.id)

    assert customers["desk"] == "partner"
    assert partners_own["desk"] == "platform", "nobody above a partner but the platform"
    refused = world.as_user("alpha_admin").post("/api/v1/tickets", json={
        "ticket_class": 3, "title": "x", "tenant_id": world.alpha.partner.id, "desk": "partner"})
    assert refused.status_code == 422


def test_platform_support_sees_only_the_tickets_handed_over_to_it(world: World, support: str) -> None:
    to_partner = open_ticket(world)
    world.as_user("alpha_operator").post(f"/api/v1/tickets/{to_partner['id']}/comments", json={"body": "Noch da?"})
    desk = world.as_user(support)

    assert desk.get("/api/v1/tickets").json()["total"] == 0
    assert desk.get(f"/api/v1/tickets/{to_partner['id']}").status_code == 404  # and so its comments
    assert desk.post(f"/api/v1/tickets/{to_partner['id']}/comments", json={"body": "x"}).status_code == 404

    to_platform = open_ticket(world, desk="platform")

    assert [item["id"] for item in desk.get("/api/v1/tickets").json()["items"]] == [to_platform["id"]]
    seen = desk.get(f"/api/v1/tickets/{to_platform['id']}").json()
    assert seen["support_side"] is True and seen["desk_staff"] is True
    # The partner keeps seeing its customers' tickets, also the one handed on to the platform.
    partner = {item["id"] for item in world.as_user("alpha_admin").get("/api/v1/tickets").json()["items"]}
    assert partner == {to_partner["id"], to_platform["id"]}
    assert world.as_user("beta_admin").get("/api/v1/tickets").json()["total"] == 0


def test_a_release_code_lets_support_read_the_customers_tickets_but_not_answer_them(world: World, support: str) -> None:
    to_partner = open_ticket(world)
    world.as_user("alpha_admin").post(f"/api/v1/tickets/{to_partner['id']}/comments",
                                      json={"body": "Partner intern", "internal": True})
    redeem_code(world, support)
    desk = world.as_user(support)

    seen = desk.get(f"/api/v1/tickets/{to_partner['id']}")

    assert seen.status_code == 200
    assert seen.json()["support_side"] is False and seen.json()["comments"] == [], "the partner's notes stay its own"
    assert desk.patch(f"/api/v1/tickets/{to_partner['id']}", json={"status": "answered"}).status_code == 404
    assert desk.post(f"/api/v1/tickets/{to_partner['id']}/comments", json={"body": "x"}).status_code == 404


def test_opening_a_ticket_on_a_device_needs_access_to_it(world: World, support: str) -> None:
    desk = world.as_user(support)
    body = {"ticket_class": 1, "title": "Fernwartung", "device_id": world.alpha.barrier.id}

    refused = desk.post("/api/v1/tickets", json=body)
    unknown = desk.post("/api/v1/tickets", json={**body, "device_id": 999_999})

    assert refused.status_code == unknown.status_code == 404
    assert refused.json() == unknown.json(), "a device support may not reach looks like one that does not exist"
    assert ticket_count(world) == 0

    redeem_code(world, support, device_id=world.alpha.barrier.id)
    opened = desk.post("/api/v1/tickets", json=body)

    assert opened.status_code == 201, opened.text
    ticket = opened.json()
    assert (ticket["tenant_id"], ticket["device_id"], ticket["site_id"]) == (
        world.alpha.customer.id, world.alpha.barrier.id, world.alpha.room.id)
    assert ticket["desk"] == "platform", "support keeps the ticket it opens itself"
    assert ALPHA_MARK not in opened.text, "no name of the customer's tenant or site in the answer"
    assert desk.post("/api/v1/tickets", json={**body, "device_id": world.alpha.thermostat.id}).status_code == 404


def test_assignees_are_the_desks_own_staff_and_nobody_can_probe_for_users(world: World, support: str) -> None:
    partner_ticket = open_ticket(world)
    partner = world.as_user("alpha_admin")
    partner_url = f"/api/v1/tickets/{partner_ticket['id']}"
    customer_user = partner.patch(partner_url, json={"assignee_id": world.users["alpha_operator"].id})
    no_user = partner.patch(partner_url, json={"assignee_id": 999_999})
    assert customer_user.status_code == no_user.status_code == 404
    assert customer_user.json() == no_user.json()
    assert partner.patch(partner_url, json={"assignee_id": world.users[support].id}).status_code == 404

    world.user_with_role("support2", "platform_support", world.root)
    ticket = open_ticket(world, desk="platform")
    desk = world.as_user(support)
    url = f"/api/v1/tickets/{ticket['id']}"

    customer = desk.patch(url, json={"assignee_id": world.users["alpha_operator"].id})
    partner = desk.patch(url, json={"assignee_id": world.users["alpha_admin"].id})
    nobody = desk.patch(url, json={"assignee_id": 999_999})

    assert customer.status_code == partner.status_code == nobody.status_code == 404
    assert customer.json() == partner.json() == nobody.json()
    colleague = world.users["support2"].id
    assert desk.patch(url, json={"assignee_id": colleague}).json()["assignee_id"] == colleague
    # Only the desk assigns: the customer cannot, not even to the desk's own staff.
    by_customer = world.as_user("alpha_operator").patch(url, json={"assignee_id": world.users[support].id})
    assert by_customer.status_code == 422


def test_the_customer_hands_a_ticket_on_to_the_platform_and_never_back(world: World, support: str) -> None:
    ticket = open_ticket(world)
    url = f"/api/v1/tickets/{ticket['id']}"
    assert world.as_user(support).get(url).status_code == 404

    handed = world.as_user("alpha_operator").patch(url, json={"desk": "platform"})

    assert handed.status_code == 200 and handed.json()["desk"] == "platform"
    assert [e["details"] for e in handed.json()["events"] if e["kind"] == "handed_over"] == [
        {"before": "partner", "after": "platform"}]
    assert world.as_user(support).get(url).json()["support_side"] is True
    assert world.as_user(support).patch(url, json={"desk": "partner"}).status_code == 422
    assert world.as_user(support).get(url).json()["desk"] == "platform"


def test_the_partner_escalates_and_its_assignee_leaves_the_ticket(world: World, support: str) -> None:
    ticket = open_ticket(world)
    partner = world.as_user("alpha_admin")
    url = f"/api/v1/tickets/{ticket['id']}"
    assert partner.patch(url, json={"assignee_id": world.users["alpha_admin"].id}).status_code == 200

    escalated = partner.patch(url, json={"desk": "platform"}).json()

    assert escalated["desk"] == "platform" and escalated["assignee_id"] is None
    assert escalated["support_side"] is True and escalated["desk_staff"] is False
    assert world.as_user(support).patch(url, json={"assignee_id": world.users[support].id}).status_code == 200


def test_the_ticket_pages_show_the_desk_and_offer_the_hand_over(world: World, support: str) -> None:
    ticket = open_ticket(world)
    operator = world.as_user("alpha_operator")

    page = operator.get(f"/tickets/{ticket['id']}", headers={"Accept-Language": "de"})
    listing = operator.get("/tickets", headers={"Accept-Language": "de"})

    assert 'data-desk="partner"' in page.text and "Bearbeitet von" in page.text
    assert 'id="hand-over"' in page.text and "An die Plattform übergeben" in page.text
    assert "Partner" in listing.text
    assert 'name="desk"' in operator.get("/tickets/new").text
    operator.patch(f"/api/v1/tickets/{ticket['id']}", json={"desk": "platform"})
    handed = world.as_user(support).get(f"/tickets/{ticket['id']}")
    assert 'data-desk="platform"' in handed.text and 'id="hand-over"' not in handed.text
    assert "Mir zuweisen" in handed.text, "the desk assigns it"
