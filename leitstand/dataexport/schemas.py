"""API shapes of export jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leitstand.web.types import Input, Public, RefId


class ExportCreate(Input):
    tenant_id: RefId


class ExportPublic(Public):
    id: int
    tenant_id: int
    requested_by_id: int | None
    state: str
    progress: float
    counts: dict[str, Any]
    file_name: str
    size: int | None
    sha256: str | None
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class NotCarriedPublic(Public):
    """A kind of thing no export carries, and how it is issued anew after an import."""

    key: str
    what: str
    reissue: str
    portal: str
    api: list[str]
    cli: str


class ExportDetail(ExportPublic):
    """One job, with what its zip leaves behind (as its manifest lists it under `not_carried`)."""

    not_carried: list[NotCarriedPublic]
