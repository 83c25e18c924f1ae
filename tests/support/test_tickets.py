"""Support tickets: SLA clocks in the contracts' calendars, pauses, warnings and breaches, comments and mails."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from leitstand.audit.models import AuditEntry
from leitstand.clock import clock
from leitstand.scheduler.loop import Scheduler
from leitstand.support.models import Ticket, TicketEvent
from leitstand.support.tickets import watch_sla_clocks
from leitstand.tenancy.models import Tenant
from tests.helpers.world import World

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def due_of(body: dict) -> datetime:  # type: ignore[type-arg]
    return datetime.fromisoformat(body["sla_due_at"]).astimezone(BERLIN)


def text_of(message) -> str:  # type: ignore[no-untyped-def]
    return message.get_payload(decode=True).decode()


def open_ticket(world: World, user: str = "alpha_operator", **fields):  # type: ignore[no-untyped-def]
    body = {"ticket_class": 2, "title": "Schranke öffnet nicht", "description": "Seit heute früh.",
            "device_id": world.alpha.barrier.id, **fields}
    response = world.as_user(user).post("/api/v1/tickets", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def support(world: World) -> str:
    """A platform support user on the root tenant: the desk that answers tickets handed over to the platform."""
    world.user_with_role("support", "platform_support", world.root)
    return "support"


def set_policy(world: World, tenant: Tenant, policy: str) -> None:
    world.db.get(Tenant, tenant.id).sla_policy = policy  # type: ignore[union-attr]
    world.db.commit()


# --- SLA in the three calendars --------------------------------------------------------


def test_class_2_on_friday_afternoon_in_schleswig_holstein_is_due_monday(world: World) -> None:
    clock.freeze(berlin("2026-11-20 15:30"))

    ticket = open_ticket(world)

    assert ticket["sla_policy"] == "barrier-portal"
    assert ticket["sla_state"] == "running"
    assert due_of(ticket) == berlin("2026-11-23 15:30")
    assert ticket["site_id"] == world.alpha.room.id, "a device's ticket also names the device's site"


def test_a_holiday_monday_pushes_the_due_time_to_tuesday(world: World) -> None:
    clock.freeze(berlin("2026-05-22 15:30"))  # Whit Monday 25.05. is a holiday in Schleswig-Holstein

    assert due_of(open_ticket(world)) == berlin("2026-05-26 15:30")


def test_reported_outside_office_hours_gets_three_business_days(world: World) -> None:
    clock.freeze(berlin("2026-11-20 18:00"))

    assert due_of(open_ticket(world, ticket_class=1)) == berlin("2026-11-26 09:00")


def test_ev_charging_counts_business_hours_and_skips_epiphany(world: World) -> None:
    set_policy(world, world.alpha.customer, "ev-charging")
    clock.freeze(berlin("2026-01-05 16:00"))  # 06.01. is a holiday in Baden-Württemberg

    ticket = open_ticket(world, ticket_class=1)

    assert ticket["sla_policy"] == "ev-charging"
    assert due_of(ticket) == berlin("2026-01-07 12:00")  # 1 h on Monday, 3 h on Wednesday


def test_a_policy_without_a_target_gives_no_clock(world: World) -> None:
    set_policy(world, world.alpha.customer, "managed-hosting")  # Hesse: "kurzfristig", no measurable target
    clock.freeze(berlin("2026-11-20 10:00"))

    ticket = open_ticket(world, ticket_class=1)

    assert ticket["sla_state"] is None and ticket["sla_due_at"] is None and ticket["sla"] is None
    assert world.as_user("alpha_operator").get("/api/v1/tickets", params={"sla_state": "running"}).json()["total"] == 0


def test_class_3_has_no_target_in_the_barrier_contract(world: World) -> None:
    clock.freeze(berlin("2026-11-20 10:00"))

    assert open_ticket(world, ticket_class=3)["sla_state"] is None


# --- pauses, response, warning, breach ---------------------------------------------------


def test_waiting_for_the_customer_pauses_the_clock_and_pushes_the_due_time(world: World, support: str) -> None:
    clock.freeze(berlin("2026-11-20 15:30"))
    ticket = open_ticket(world, desk="platform")
    desk, customer = world.as_user(support), world.as_user("alpha_operator")

    clock.freeze(berlin("2026-11-23 10:00"))
    paused = desk.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "waiting_for_customer"}).json()
    assert paused["sla_state"] == "paused"

    clock.freeze(berlin("2026-11-23 11:00"))
    assert customer.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "Seriennummer steht im Foto."}).status_code == 201
    resumed = customer.get(f"/api/v1/tickets/{ticket['id']}").json()

    assert resumed["status"] == "open" and resumed["sla_state"] == "running"
    assert due_of(resumed) == berlin("2026-11-24 09:30")  # one business hour later: 30 min Monday, 30 min Tuesday
    assert resumed["sla"]["paused_seconds"] == 3600


def test_the_customer_cannot_pause_the_clock(world: World) -> None:
    ticket = open_ticket(world)

    response = world.as_user("alpha_operator").patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "waiting_for_customer"})

    assert response.status_code == 422


def test_supports_first_answer_meets_the_sla(world: World, support: str) -> None:
    clock.freeze(berlin("2026-11-20 15:30"))
    ticket = open_ticket(world, desk="platform")
    clock.freeze(berlin("2026-11-23 09:15"))

    world.as_user(support).post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "Wir prüfen das."})
    answered = world.as_user("alpha_operator").get(f"/api/v1/tickets/{ticket['id']}").json()

    assert answered["status"] == "answered"
    assert answered["sla_state"] == "met"
    assert answered["sla"]["responded_at"] is not None


def test_warning_mail_before_the_breach_and_the_breach_marked_once(world: World, support: str, system_db, settings, smtp) -> None:
    clock.freeze(berlin("2026-11-20 15:30"))
    ticket = open_ticket(world, desk="platform")
    support_user = world.users[support]
    assert world.as_user(support).patch(f"/api/v1/tickets/{ticket['id']}", json={"assignee_id": support_user.id}).status_code == 200
    smtp.messages.clear()

    clock.freeze(berlin("2026-11-23 12:00"))  # 3.5 of 7 business hours left: no warning yet
    assert watch_sla_clocks(system_db, settings)["warned"] == 0
    clock.freeze(berlin("2026-11-23 14:00"))  # 1.5 h left: within the last quarter
    assert watch_sla_clocks(system_db, settings)["warned"] == 1
    clock.advance(timedelta(minutes=10))
    assert watch_sla_clocks(system_db, settings)["warned"] == 0

    warnings = smtp.to(support_user.email)
    assert len(warnings) == 1 and "23.11.2026 15:30" in warnings[0]["Subject"]
    assert world.as_user("alpha_operator").get("/api/v1/tickets", params={"sla_warning": "true"}).json()["total"] == 1

    clock.freeze(berlin("2026-11-23 15:31"))
    assert watch_sla_clocks(system_db, settings)["breached"] == 1
    clock.advance(timedelta(hours=1))
    assert watch_sla_clocks(system_db, settings)["breached"] == 0

    stored = system_db.get(Ticket, ticket["id"])
    system_db.refresh(stored)
    assert stored.sla_state == "breached" and stored.sla_breached_at is not None
    marks = system_db.scalars(select(TicketEvent).where(TicketEvent.ticket_id == stored.id, TicketEvent.kind == "sla_breached"))
    assert len(marks.all()) == 1
    breached = world.as_user("alpha_operator").get("/api/v1/tickets", params={"sla_state": "breached"}).json()
    assert [item["id"] for item in breached["items"]] == [ticket["id"]]


def test_an_unassigned_ticket_warns_the_staff_of_its_desk_via_the_scheduler(world: World, support: str, session_factory,
                                                                             settings, smtp) -> None:
    clock.freeze(berlin("2026-11-20 15:30"))
    open_ticket(world, desk="platform")
    open_ticket(world)  # handed over to the partner
    clock.freeze(berlin("2026-11-23 14:00"))

    results = Scheduler(session_factory, publish=lambda *_: None, settings=settings).run_due()

    assert results["ticket SLA clocks"]["warned"] == 2
    assert len(smtp.to(world.users[support].email)) == 1
    assert len(smtp.to(world.users["alpha_admin"].email)) == 1, "the partner's desk hears of its own ticket only"
    assert smtp.to(world.users["beta_admin"].email) == []


# --- comments, mails, audit, scoping ----------------------------------------------------------


def test_status_changes_and_visible_comments_mail_reporter_and_assignee(world: World, support: str, smtp) -> None:
    ticket = open_ticket(world, desk="platform")
    desk = world.as_user(support)
    reporter = world.users["alpha_operator"].email
    desk.patch(f"/api/v1/tickets/{ticket['id']}", json={"assignee_id": world.users[support].id})
    smtp.messages.clear()

    desk.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "waiting_for_customer"})
    desk.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "Nur intern: Firmware alt.", "internal": True})
    desk.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "Bitte Foto vom Typenschild."})
    world.as_user("alpha_operator").post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "Anbei."})

    to_reporter = smtp.to(reporter)
    assert [message["Subject"] for message in to_reporter] == [
        f"[Ticket #{ticket['id']}] Status: wartet auf Kunde", f"[Ticket #{ticket['id']}] Neuer Kommentar"]
    assert "Bitte Foto" in text_of(to_reporter[1])
    assert all("intern" not in text_of(message) for message in smtp.messages)
    to_desk = smtp.to(world.users[support].email)
    assert len(to_desk) == 1 and "Anbei." in text_of(to_desk[0])


def test_internal_comments_stay_with_the_support_desk(world: World, support: str) -> None:
    ticket = open_ticket(world, desk="platform")
    world.as_user(support).post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "Intern", "internal": True})

    seen_by_customer = world.as_user("alpha_operator").get(f"/api/v1/tickets/{ticket['id']}").json()
    seen_by_desk = world.as_user(support).get(f"/api/v1/tickets/{ticket['id']}").json()

    assert seen_by_customer["comments"] == [] and seen_by_customer["support_side"] is False
    assert [c["body"] for c in seen_by_desk["comments"]] == ["Intern"] and seen_by_desk["support_side"] is True
    refused = world.as_user("alpha_operator").post(f"/api/v1/tickets/{ticket['id']}/comments",
                                                   json={"body": "x", "internal": True})
    assert refused.status_code == 422


def test_tickets_and_comments_are_audited(world: World, system_db) -> None:
    ticket = open_ticket(world)
    world.as_user("alpha_operator").post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "Noch da?"})

    actions = set(system_db.scalars(select(AuditEntry.action).where(AuditEntry.action.like("ticket%"))))

    assert {"tickets.create", "ticket_comments.create"} <= actions


def test_another_tenant_sees_nothing(world: World) -> None:
    ticket = open_ticket(world)
    beta = world.as_user("beta_operator")

    assert beta.get(f"/api/v1/tickets/{ticket['id']}").status_code == 404
    assert beta.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "closed"}).status_code == 404
    assert beta.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "x"}).status_code == 404
    assert beta.get("/api/v1/tickets").json()["total"] == 0
    assert beta.post("/api/v1/tickets", json={"ticket_class": 1, "title": "x", "device_id": world.alpha.barrier.id}).status_code == 404


def test_a_site_technician_opens_and_sees_tickets_about_their_site(world: World) -> None:
    ticket = open_ticket(world, "alpha_site_tech", device_id=None, site_id=world.alpha.site.id)

    assert ticket["tenant_id"] == world.alpha.customer.id
    assert world.as_user("alpha_site_tech").get(f"/api/v1/tickets/{ticket['id']}").status_code == 200


def test_the_partner_answers_as_support_and_assigns_within_reach(world: World) -> None:
    ticket = open_ticket(world)
    partner = world.as_user("alpha_admin")

    assert partner.get(f"/api/v1/tickets/{ticket['id']}").json()["support_side"] is True
    beta_user = world.users["beta_operator"]
    assert partner.patch(f"/api/v1/tickets/{ticket['id']}", json={"assignee_id": beta_user.id}).status_code == 404
    assigned = partner.patch(f"/api/v1/tickets/{ticket['id']}", json={"assignee_id": world.users["alpha_admin"].id})
    assert assigned.json()["assignee_id"] == world.users["alpha_admin"].id
