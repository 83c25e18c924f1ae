"""Portal pages of support: ticket list with SLA badges, the support button, ticket detail, support access."""

from __future__ import annotations

from tests.helpers.world import World


def test_support_button_ticket_pages_and_support_access_page(world: World) -> None:
    operator = world.as_user("alpha_operator")
    device_page = operator.get(f"/devices/{world.alpha.barrier.id}")
    assert f'href="/tickets/new?device_id={world.alpha.barrier.id}"' in device_page.text
    assert f'href="/tickets/new?site_id={world.alpha.site.id}"' in operator.get(f"/sites/{world.alpha.site.id}").text

    form = operator.get(f"/tickets/new?device_id={world.alpha.barrier.id}")
    assert form.status_code == 200 and world.alpha.barrier.serial_number in form.text
    ticket = operator.post("/api/v1/tickets", json={"ticket_class": 1, "title": "Schranke klemmt",
                                                    "device_id": world.alpha.barrier.id}).json()

    listing = operator.get("/tickets")
    assert "Schranke klemmt" in listing.text and f'data-sla="{ticket["sla_state"]}"' in listing.text
    detail = operator.get(f"/tickets/{ticket['id']}")
    assert detail.status_code == 200 and 'id="comment-form"' in detail.text
    assert world.as_user("beta_operator").get(f"/tickets/{ticket['id']}").status_code == 404

    operator.post("/api/v1/support-access", json={"note": "Ticket 1"})
    access_page = operator.get("/support-access")
    assert access_page.status_code == 200 and "Ticket 1" in access_page.text
    assert world.as_user("alpha_reader").get("/support-access").status_code == 403
