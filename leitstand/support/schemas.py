from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from leitstand.support.models import TicketDesk, TicketStatus
from leitstand.support.sla import ClockState, TicketClass
from leitstand.web.types import (NO_CONTROL_OR_REORDERING, SOMETHING_VISIBLE, UNCHANGED, DisplayText, Flag, Input, Name,
                                Patch, Public, RefId, ShortText)

# Multi-line text: newlines and tabs allowed, other control characters not.
LongText = Annotated[str, StringConstraints(max_length=10_000, pattern=NO_CONTROL_OR_REORDERING), DisplayText]
CommentText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000,
                                               pattern=SOMETHING_VISIBLE), DisplayText]
ReleaseCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=40, pattern=r"^[A-Za-z0-9 -]+$")]


class TicketCreate(Input):
    ticket_class: TicketClass = Field(description="1 critical (blocks operation), 2 important (severe, use still "
                                                  "possible), 3 general.")
    title: Name
    description: LongText = ""
    device_id: RefId | None = None
    site_id: RefId | None = None
    tenant_id: RefId | None = Field(None, description="Defaults to the device's or site's tenant, else your own.")
    desk: TicketDesk | None = Field(None, description="Who handles it: the partner above the tenant or the platform. "
                                                      "Defaults to the partner if there is one, else the platform.")


class TicketUpdate(Patch):
    status: TicketStatus = UNCHANGED
    assignee_id: RefId | None = Field(UNCHANGED, description="A user on the staff of the ticket's desk; null "
                                                             "unassigns. Only the desk's staff assign.")
    desk: TicketDesk = Field(UNCHANGED, description="platform: hand the ticket on to the platform's support. "
                                                    "A ticket is never handed back.")


class CommentCreate(Input):
    body: CommentText
    internal: Flag = Field(False, description="Visible to the support desk only.")


class SlaClockPublic(Public):
    state: ClockState
    due_at: datetime
    remaining_seconds: float
    overdue_seconds: float
    paused_seconds: float
    warning: bool
    responded_at: datetime | None


class TicketPublic(Public):
    id: int
    tenant_id: int
    device_id: int | None
    site_id: int | None
    desk: TicketDesk = Field(description="The support desk the ticket is handed over to.")
    ticket_class: int
    title: str
    description: str
    reporter_id: int | None
    assignee_id: int | None
    status: TicketStatus
    sla_policy: str
    sla_state: ClockState | None
    sla_due_at: datetime | None
    sla_warning: bool
    sla_breached_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CommentPublic(Public):
    id: int
    author_id: int | None
    body: str
    internal: bool
    created_at: datetime


class EventPublic(Public):
    at: datetime
    kind: str
    actor_user_id: int | None
    details: dict[str, Any]


class TicketDetail(TicketPublic):
    sla: SlaClockPublic | None
    comments: list[CommentPublic]
    events: list[EventPublic]
    support_side: bool = Field(description="Whether you answer this ticket as the support desk.")
    desk_staff: bool = Field(False, description="Whether you work at the ticket's desk (and may assign it).")


class SupportAccessCreate(Input):
    tenant_id: RefId | None = Field(None, description="The tenant support may read; defaults to your own.")
    device_id: RefId | None = Field(None, description="Only this device instead of the whole tenant.")
    note: ShortText = ""


class SupportAccessPublic(Public):
    id: int
    tenant_id: int
    device_id: int | None
    note: str
    hint: str = Field(description="The code's last characters, to tell codes apart.")
    state: str = Field(description="issued, redeemed, expired or revoked.")
    created_by_id: int | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    redeemed_by_id: int | None
    redeemed_at: datetime | None


class SupportAccessWithCode(SupportAccessPublic):
    code: str = Field(description="Shown once; only its hash is stored. Give it to platform support.")


class RedeemRequest(Input):
    code: ReleaseCode


class SupportViewPublic(Public):
    at: datetime
    actor: str
    method: str
    path: str
