"""The ticket service: opening tickets, handing them over, their status, comments and SLA clocks, and the mails.

A ticket is handed over to one *desk* (`TicketDesk`): the partner above the ticket's
tenant, or the platform. The desk's *staff* are the users of that tenant who hold
`ticket.write` there; they see the ticket and may be assigned to it. A customer may
hand a ticket on to the platform, and so may the partner (escalation); never back.

The *support side* of a ticket is the provider: users whose own tenant lies above
the ticket's tenant (the partner; the platform only for tickets handed over to it).
They may pause the clock by waiting for the customer, and their first answer is the
*response* the SLA measures. The *customer side* is everyone else who sees the ticket.

The SLA clock is always recomputed from the ticket's events (`sla.compute_sla_clock`);
the ticket stores the result only so that lists can filter and sort by it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.access.rules import strictly_below
from leitstand.accounts.models import User
from leitstand.auth.principal import Principal, load_principal
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.i18n import Message, Refusal
from leitstand.mail.sender import MailError, send_mail
from leitstand.permissions import Permission
from leitstand.support.models import FINISHED, Ticket, TicketComment, TicketDesk, TicketEvent, TicketStatus, desk_path
from leitstand.support.sla import ClockState, SlaClock, SlaEvent, TicketClass, compute_sla_clock, shipped_policies
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session

log = logging.getLogger(__name__)

# What the customer side may set; the rest (waiting for the customer, answered) is the support desk's call.
CUSTOMER_STATUSES = frozenset({TicketStatus.open, TicketStatus.resolved, TicketStatus.closed})
# States the scheduler keeps watching.
CLOCK_IN_PROGRESS = (ClockState.running.value, ClockState.paused.value)
SLA_EVENTS = frozenset(event.value for event in SlaEvent)


class TicketRuleError(Refusal):
    """A change the ticket's rules do not allow (shown to the caller as 422)."""


# What a desk works with: ticket.write, the permission to answer and change tickets.
DESK_PERMISSION = Permission.ticket_write


def default_desk(tenant_path: str, opener: Principal) -> TicketDesk:
    """The partner above the ticket's tenant if there is one, else the platform; a ticket the
    platform opens itself (under a release code) stays with the platform."""
    opened_by_platform = opener.tenant_path == desk_path(tenant_path, TicketDesk.platform)
    if opened_by_platform or desk_path(tenant_path, TicketDesk.partner) is None:
        return TicketDesk.platform
    return TicketDesk.partner


@dataclass(frozen=True)
class Standing:
    """How one principal stands to one ticket."""

    desk_path: str | None  # the tenant whose staff handle it
    support_side: bool  # answers as the provider (see the module's docstring)
    desk_staff: bool  # works at the ticket's desk: may assign it


def tenant_path_of(system_db: Session, tenant_id: int) -> str:
    """`system_db` sees every tenant: a desk sees a ticket handed over to it, not always its tenant."""
    return system_db.scalar(select(Tenant.path).where(Tenant.id == tenant_id)) or ""


def standing(system_db: Session, principal: Principal, ticket: Ticket) -> Standing:
    tenant_path = tenant_path_of(system_db, ticket.tenant_id)
    desk = desk_path(tenant_path, TicketDesk(ticket.desk))
    own = principal.tenant_path
    above = strictly_below(tenant_path, own)
    of_the_platform = own == desk_path(tenant_path, TicketDesk.platform)
    return Standing(
        desk_path=desk,
        support_side=above and (ticket.desk == TicketDesk.platform or not of_the_platform),
        desk_staff=desk is not None and principal.staffs_desk(desk, DESK_PERMISSION),
    )


def standing_for(session_factory: Any, principal: Principal, ticket: Ticket) -> Standing:
    """`standing` for a request: the ticket's tenant and desk are looked up past the caller's scope."""
    with system_session(session_factory, reason="a ticket's desk and its staff") as system:
        return standing(system, principal, ticket)


def desk_staff(system_db: Session, path: str | None) -> list[User]:
    """The active users of the desk's tenant who staff it (by the same rule as a principal's scope)."""
    if path is None:
        return []
    users = system_db.scalars(select(User).join(Tenant, Tenant.id == User.tenant_id)
                              .where(Tenant.path == path, User.is_active.is_(True)).order_by(User.id))
    return [user for user in users if load_principal(system_db, user).staffs_desk(path, DESK_PERMISSION)]


def _event(db: Session, ticket: Ticket, kind: str, actor_id: int | None, at: datetime, **details: Any) -> None:
    db.add(TicketEvent(ticket_id=ticket.id, kind=kind, actor_user_id=actor_id, at=at, details=details))


def events_of(db: Session, ticket: Ticket) -> list[TicketEvent]:
    return list(db.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                           .order_by(TicketEvent.at, TicketEvent.id)))


# --- the SLA clock -------------------------------------------------------------


def sla_clock(db: Session, ticket: Ticket, now: datetime | None = None) -> SlaClock | None:
    """The ticket's clock as of `now`; None when its policy sets no target for its class."""
    policy = shipped_policies().get(ticket.sla_policy)
    if policy is None:
        return None
    target = policy.targets.get(TicketClass(ticket.ticket_class))
    if target is None:
        return None
    records = [(event.at, event.kind) for event in events_of(db, ticket) if event.kind in SLA_EVENTS]
    now = now or clock.now()
    return compute_sla_clock(records, target, policy.service_calendar, max(now, ticket.created_at), policy.warning)


def refresh_sla(db: Session, ticket: Ticket, now: datetime | None = None) -> SlaClock | None:
    """Recompute the clock and store its state, due time and warning on the ticket."""
    db.flush()  # events added in this change count
    clock_now = sla_clock(db, ticket, now)
    ticket.sla_state = clock_now.state.value if clock_now else None
    ticket.sla_due_at = clock_now.due_at if clock_now else None
    ticket.sla_warning = bool(clock_now and clock_now.warning)
    return clock_now


# --- changes ---------------------------------------------------------------------


def open_ticket(
    db: Session, principal: Principal, *, tenant: Tenant, ticket_class: TicketClass, title: str, description: str,
    device_id: int | None = None, site_id: int | None = None, desk: TicketDesk | None = None,
) -> Ticket:
    """Open a ticket, handed over to `desk` (by default see `default_desk`)."""
    desk = desk or default_desk(tenant.path, principal)
    if desk_path(tenant.path, desk) is None:
        raise TicketRuleError("There is no partner above this organisation; hand the ticket over to the platform.")
    now = clock.now()
    ticket = Ticket(
        tenant_id=tenant.id, device_id=device_id, site_id=site_id, desk=desk.value, ticket_class=int(ticket_class),
        title=title, description=description, reporter_id=principal.user_id, status=TicketStatus.open.value,
        sla_policy=tenant.sla_policy, created_at=now, updated_at=now,
    )
    db.add(ticket)
    db.flush()
    _event(db, ticket, SlaEvent.opened, principal.user_id, now, desk=desk.value)
    refresh_sla(db, ticket, now)
    return ticket


def hand_over(db: Session, system_db: Session, ticket: Ticket, desk: TicketDesk, actor: Principal) -> bool:
    """Hand the ticket on to the platform. Returns whether anything changed. The SLA clock runs on:
    the promise was made when the ticket was opened. An assignee who is not on the new desk's
    staff is unassigned. `system_db` sees every tenant (the new desk's staff)."""
    if desk.value == ticket.desk:
        return False
    if desk is not TicketDesk.platform:
        raise TicketRuleError("A ticket is handed over to the platform only, never back.")
    now = clock.now()
    _event(db, ticket, "handed_over", actor.user_id, now, before=ticket.desk, after=desk.value)
    ticket.desk = desk.value
    staff = desk_staff(system_db, desk_path(tenant_path_of(system_db, ticket.tenant_id), desk))
    if ticket.assignee_id is not None and ticket.assignee_id not in {user.id for user in staff}:
        assign(db, ticket, None, actor)
    ticket.updated_at = now
    return True


def _responded_yet(db: Session, ticket: Ticket) -> bool:
    return db.scalar(select(TicketEvent.id).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind == SlaEvent.responded.value)) is not None


def change_status(db: Session, ticket: Ticket, status: TicketStatus, actor: Principal, support_side: bool) -> bool:
    """Set the status and record what it means for the clock. Returns whether anything changed."""
    if status.value == ticket.status:
        return False
    if not support_side and status not in CUSTOMER_STATUSES:
        raise TicketRuleError(Message("Only the support desk sets a ticket to %(status)s.",
                                      status=Message(status.value)))
    now = clock.now()
    previous = TicketStatus(ticket.status)
    _event(db, ticket, "status", actor.user_id, now, before=previous.value, after=status.value)
    if previous is TicketStatus.waiting_for_customer:
        _event(db, ticket, SlaEvent.resumed, actor.user_id, now)
    if status is TicketStatus.waiting_for_customer:
        _event(db, ticket, SlaEvent.paused, actor.user_id, now)
    if support_side and status in (TicketStatus.answered, *FINISHED) and not _responded_yet(db, ticket):
        # The support desk answering or closing the ticket is its response.
        _event(db, ticket, SlaEvent.responded, actor.user_id, now)
    ticket.status = status.value
    ticket.updated_at = now
    refresh_sla(db, ticket, now)
    return True


def assign(db: Session, ticket: Ticket, assignee: User | None, actor: Principal) -> None:
    now = clock.now()
    _event(db, ticket, "assigned", actor.user_id, now, assignee_id=assignee.id if assignee else None)
    ticket.assignee_id = assignee.id if assignee else None
    ticket.updated_at = now


def add_comment(db: Session, ticket: Ticket, body: str, internal: bool, actor: Principal, support_side: bool) -> TicketComment:
    """A comment. Support's first customer-visible comment is the response; a customer's comment
    brings a ticket that waits for them (or was answered) back to the desk."""
    if internal and not support_side:
        raise TicketRuleError("Internal comments are for the support desk.")
    now = clock.now()
    comment = TicketComment(ticket_id=ticket.id, author_id=actor.user_id, body=body, internal=internal, created_at=now)
    db.add(comment)
    if not internal:
        if support_side:
            if not _responded_yet(db, ticket):
                _event(db, ticket, SlaEvent.responded, actor.user_id, now)
            if ticket.status == TicketStatus.open:
                change_status(db, ticket, TicketStatus.answered, actor, support_side)
        elif ticket.status in (TicketStatus.waiting_for_customer, TicketStatus.answered):
            change_status(db, ticket, TicketStatus.open, actor, support_side)
    ticket.updated_at = now
    refresh_sla(db, ticket, now)
    return comment


# --- mails -----------------------------------------------------------------------

# Each ticket mail by its kind: the English subject and body are the message ids; their German
# texts are in locale/de/LC_MESSAGES/support.po.
MAILS: dict[str, tuple[str, str]] = {
    "status": ("[Ticket #%(id)s] Status: %(status)s", "Ticket #%(id)s \"%(title)s\" is now %(status)s.\n\n%(link)s\n"),
    "comment": ("[Ticket #%(id)s] New comment",
                "%(author)s wrote on ticket #%(id)s \"%(title)s\":\n\n%(body)s\n\n%(link)s\n"),
    "sla_warning": ("[Ticket #%(id)s] Response time running out: %(due)s",
                    "The response time for ticket #%(id)s \"%(title)s\" (class %(ticket_class)s) ends at %(due)s.\n\n"
                    "%(link)s\n"),
}

# A status as the mails name it, by the stored status (the message id is the English word).
STATUS_LABELS = {"open": "open", "waiting_for_customer": "waiting for customer", "answered": "answered",
                 "resolved": "resolved", "closed": "closed"}


def ticket_mail(settings: Settings, template: str, language: str, ticket: Ticket, **values: Any) -> tuple[str, str]:
    """The subject and body of a ticket mail in `language` (English if there is none of it)."""
    subject, body = MAILS[template]
    status = Message(STATUS_LABELS[ticket.status]) if ticket.status in STATUS_LABELS else ticket.status
    text = dict(id=ticket.id, title=ticket.title, status=status, ticket_class=ticket.ticket_class,
                link=f"{settings.public_url.rstrip('/')}/tickets/{ticket.id}", **values)
    return Message(subject, **text).in_language(language), Message(body, **text).in_language(language)


def mail_users(system_db: Session, settings: Settings, user_ids: Iterable[int | None], template: str,
               ticket: Ticket, **values: Any) -> list[str]:
    """Mail each (distinct, active) user in their language. A failing mail server is logged, never raised:
    the change it reports is already stored. `system_db` must see every tenant (recipients may be the
    provider's support staff, whom the customer's session cannot see). Returns the addresses mailed."""
    sent = []
    for user_id in dict.fromkeys(uid for uid in user_ids if uid is not None):
        user = system_db.get(User, user_id)
        if user is None or not user.is_active:
            continue
        try:
            send_mail(settings, user.email, *ticket_mail(settings, template, user.language, ticket, **values))
            sent.append(user.email)
        except MailError:
            log.warning("ticket %s: %s mail to user %s not sent", ticket.id, template, user_id)
    return sent


def others(ticket: Ticket, actor: Principal) -> list[int | None]:
    """Reporter and assignee, without whoever made the change."""
    return [uid for uid in (ticket.reporter_id, ticket.assignee_id) if uid != actor.user_id]


# --- the scheduler's round -----------------------------------------------------------


def support_group(system_db: Session, ticket: Ticket) -> list[int]:
    """Who hears about an unassigned ticket: the staff of the desk it is handed over to."""
    path = desk_path(tenant_path_of(system_db, ticket.tenant_id), TicketDesk(ticket.desk))
    return [user.id for user in desk_staff(system_db, path)]


def watch_sla_clocks(system_db: Session, settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Refresh every open ticket's clock; warn the assignee (or the support group) once before
    the breach, and mark each breach once. `system_db` is a system session (a scheduled job)."""
    now = now or clock.now()
    counts = {"refreshed": 0, "warned": 0, "breached": 0}
    tickets = system_db.scalars(select(Ticket).where(
        Ticket.sla_state.in_(CLOCK_IN_PROGRESS), Ticket.status.not_in([status.value for status in FINISHED])))
    for ticket in tickets.all():
        state = refresh_sla(system_db, ticket, now)
        counts["refreshed"] += 1
        if state is None:
            continue
        if state.state is ClockState.breached and ticket.sla_breached_at is None:
            ticket.sla_breached_at = now
            _event(system_db, ticket, "sla_breached", None, now, due_at=state.due_at.isoformat())
            counts["breached"] += 1
        elif state.warning and state.state is ClockState.running and ticket.sla_warned_at is None:
            ticket.sla_warned_at = now
            _event(system_db, ticket, "sla_warning", None, now, due_at=state.due_at.isoformat())
            recipients = [ticket.assignee_id] if ticket.assignee_id else support_group(system_db, ticket)
            due = state.due_at.strftime("%d.%m.%Y %H:%M %Z")
            system_db.commit()  # the warning counts as sent even if a later mail fails
            mail_users(system_db, settings, recipients, "sla_warning", ticket, due=due)
            counts["warned"] += 1
    system_db.commit()
    return counts
