"""What the portal's bulk actions share: the selection from a form or link, and one outcome per item.

A bulk action has two steps: a confirmation page (GET, works without JS) naming what is about to
happen to which items, and the action itself (POST by htmx, with the session's CSRF header), which
applies it item by item through the same services and scoped sessions as the single action, so
permissions, licences and the audit log apply to each item. One item's refusal never stops the
others and is never an error page: it is that item's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from leitstand.clock import clock
from leitstand.i18n import in_language
from leitstand.licenses.models import License
from leitstand.licenses.service import RenewalRefused, renew_now
from leitstand.web.errors import invalid
from leitstand.web.types import MAX_ID

MAX_SELECTION = 200


@dataclass(frozen=True)
class Outcome:
    """What became of one selected item: `done`, or refused with `reason` (in the reader's language)."""

    id: int
    label: str  # what the user knows the item by; empty when it is not theirs to see
    done: bool
    reason: str = ""
    detail: Any = None  # the action's result: a new end date, a command


def parse_ids(values: list[Any]) -> list[int]:
    """Selected ids in the order given, each once; anything but whole ids is a 422."""
    ids: list[int] = []
    for value in values:
        text = value.strip() if isinstance(value, str) else ""
        if not text.isdigit() or not 0 < int(text) <= MAX_ID:
            raise invalid("The selection holds something that is not an id.")
        if int(text) not in ids:
            ids.append(int(text))
    if not ids:
        raise invalid("Select at least one item.")
    if len(ids) > MAX_SELECTION:
        raise invalid("Select at most 200 items at once.")
    return ids


def selection(field: str) -> Any:
    """Dependency: the ids ticked in `field`, from the query string (confirmation) or the form (action)."""

    async def dependency(request: Request) -> list[int]:
        if request.method == "GET":
            return parse_ids(request.query_params.getlist(field))
        return parse_ids((await request.form()).getlist(field))

    return Depends(dependency)


def form_field(field: str) -> Any:
    """Dependency: one plain field of the POSTed form ("" when missing), so handlers can stay sync."""

    async def dependency(request: Request) -> str:
        value = (await request.form()).get(field)
        return value if isinstance(value, str) else ""

    return Depends(dependency)


def renew_one(db: Session, outcome_id: int, label: str, licence: License, language: str) -> Outcome:
    """Renew one licence through the licences service and commit it, or say why not."""
    try:
        renew_now(db, licence, clock.now().date())
    except RenewalRefused as refusal:
        db.rollback()
        return Outcome(outcome_id, label, False, in_language(refusal.text, language))
    db.commit()
    return Outcome(outcome_id, label, True, detail=licence.ends_on)
