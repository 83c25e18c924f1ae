"""Route-walk bodies and seed for data export jobs, aimed at the victim's tenant and jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leitstand.dataexport.models import ExportJob
from tests.helpers.world import Organisation, World


def SEED(org: Organisation, world: World) -> dict[str, Any]:  # noqa: N802 - the walk's hook name
    """A finished-looking export job of the organisation's customer (no file: a download is a 404 or 409)."""
    job = ExportJob(tenant_id=org.customer.id, state="done", progress=100.0, file_name=f"export-{org.mark}.zip")
    world.db.add(job)
    world.db.flush()
    return {"export_id": job.id}


BODIES: dict[tuple[str, str], Callable[[Organisation, World], dict[str, Any]]] = {
    ("POST", "/api/v1/exports"): lambda org, w: {"tenant_id": org.customer.id},
}
