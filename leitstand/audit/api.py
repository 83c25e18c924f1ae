"""Audit log routes: query and export, per tenant."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, select

from leitstand.audit.models import AuditEntry
from leitstand.permissions import Permission
from leitstand.web.crud import read_page
from leitstand.web.deps import Access, requires
from leitstand.web.downloads import content_disposition
from leitstand.web.errors import invalid_combination
from leitstand.web.types import FilterId, Limit, Moment, Offset, Page, PageRequest, Public

router = APIRouter(prefix="/audit", tags=["audit"])
Reader = Annotated[Access, requires(Permission.audit_read)]
Token = Annotated[str | None, Query(max_length=60, pattern=r"^[A-Za-z0-9_.:-]*$")]


class AuditEntryPublic(Public):
    id: int
    at: datetime
    tenant_id: int | None
    actor_user_id: int | None
    actor: str
    action: str
    outcome: str
    target_type: str
    target_id: str
    changes: dict[str, Any]
    source_ip: str


def _filtered(
    tenant_id: int | None, actor_user_id: int | None, action: str | None, target_type: str | None,
    target_id: str | None, outcome: str | None, since: datetime | None, until: datetime | None,
) -> Select[Any]:
    statement = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    conditions = {
        AuditEntry.tenant_id: tenant_id, AuditEntry.actor_user_id: actor_user_id, AuditEntry.action: action,
        AuditEntry.target_type: target_type, AuditEntry.target_id: target_id, AuditEntry.outcome: outcome,
    }
    for column, value in conditions.items():
        if value is not None:
            statement = statement.where(column == value)
    if since is not None:
        statement = statement.where(AuditEntry.at >= since)
    if until is not None:
        statement = statement.where(AuditEntry.at < until)
    return statement


class AuditFilters:
    """The filters shared by the list and the export."""

    def __init__(
        self,
        tenant_id: FilterId = None,
        actor_user_id: FilterId = None,
        action: Token = None,
        target_type: Token = None,
        target_id: Token = None,
        outcome: Annotated[Literal["success", "failure"] | None, Query()] = None,
        since: Annotated[Moment | None, Query(description=(
            "Inclusive, ISO 8601 with offset, in the years 2000 to 2199; must lie before `until`."))] = None,
        until: Annotated[Moment | None, Query(description="Exclusive, ISO 8601 with offset, in the years 2000 to 2199.")] = None,
    ) -> None:
        if since is not None and until is not None and since >= until:
            raise invalid_combination("range_order", "`since` must lie before `until`.", "since", "until")
        self.statement = _filtered(tenant_id, actor_user_id, action, target_type, target_id, outcome, since, until)


Filters = Annotated[AuditFilters, Depends()]
EXPORT_COLUMNS = list(AuditEntryPublic.model_fields)
EXPORT_BATCH = 1000


@router.get("", response_model=Page[AuditEntryPublic])
def list_audit(access: Reader, filters: Filters, limit: Limit = 50, offset: Offset = 0) -> Page[AuditEntryPublic]:
    return read_page(access.db, filters.statement, PageRequest(limit, offset), AuditEntryPublic.model_validate)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}, "description": "The matching entries."}},
)
def export_audit(
    access: Reader, filters: Filters, format: Annotated[Literal["csv", "ndjson"], Query()] = "csv"
) -> StreamingResponse:
    """All matching entries as CSV or newline-delimited JSON, streamed in batches."""
    rows = _entries(access, filters)
    if format == "ndjson":
        body: Iterator[str] = (json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        media_type = "application/x-ndjson"
    else:
        body = _csv_lines(rows)
        media_type = "text/csv"
    return StreamingResponse(
        body, media_type=media_type,
        headers={"Content-Disposition": content_disposition(f"audit.{format}")},
    )


def _entries(access: Access, filters: AuditFilters) -> Iterator[dict[str, Any]]:
    # Streaming outlives the request's session, so the export reads through its own, equally scoped.
    with access.scoped_for(Permission.audit_read) as db:
        for entry in db.scalars(filters.statement.execution_options(yield_per=EXPORT_BATCH)):
            yield AuditEntryPublic.model_validate(entry).model_dump(mode="json")


def _csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for row in rows:
        row["changes"] = json.dumps(row["changes"], ensure_ascii=False)
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
