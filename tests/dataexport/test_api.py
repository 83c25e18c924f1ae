"""Export jobs through the API: background progress, download, audit, and another tenant's data out of reach."""

from __future__ import annotations

import hashlib
import io
import zipfile

from sqlalchemy import select

from leitstand.audit.models import AuditEntry
from leitstand.dataexport import jobs
from tests.helpers.world import ALPHA_MARK, BETA_MARK, World


def run_export(world: World, user: str, tenant_id: int) -> dict:
    api = world.as_user(user)
    started = api.post("/api/v1/exports", json={"tenant_id": tenant_id})
    assert started.status_code == 202, started.text
    assert started.json()["state"] in ("queued", "running", "done")
    assert jobs.wait(started.json()["id"], timeout=120)
    return api.get(f"/api/v1/exports/{started.json()['id']}").json()


def test_an_admin_exports_their_customer_in_the_background(world: World) -> None:
    job = run_export(world, "alpha_admin", world.alpha.customer.id)
    assert job["state"] == "done", job["error"]
    assert job["progress"] == 100.0 and job["counts"]["devices"] == 2 and job["counts"]["users"] >= 3
    download = world.as_user("alpha_admin").get(f"/api/v1/exports/{job['id']}/download")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert hashlib.sha256(download.content).hexdigest() == job["sha256"] and len(download.content) == job["size"]
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist())
    assert ALPHA_MARK.encode() in everything and BETA_MARK.encode() not in everything
    listed = world.as_user("alpha_admin").get("/api/v1/exports").json()
    assert [item["id"] for item in listed["items"]] == [job["id"]]
    world.db.expire_all()
    actions = set(world.db.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "export_jobs")))
    assert {"data_export.requested", "data_export.done", "data_export.downloaded"} <= actions


def test_another_tenant_cannot_be_exported(world: World) -> None:
    alpha_job = run_export(world, "alpha_admin", world.alpha.customer.id)
    beta = world.as_user("beta_admin")
    assert beta.post("/api/v1/exports", json={"tenant_id": world.alpha.customer.id}).status_code == 404
    assert beta.post("/api/v1/exports", json={"tenant_id": world.alpha.partner.id}).status_code == 404
    assert beta.get(f"/api/v1/exports/{alpha_job['id']}").status_code == 404
    assert beta.get(f"/api/v1/exports/{alpha_job['id']}/download").status_code == 404
    assert beta.get("/api/v1/exports").json()["items"] == []


def test_exporting_needs_tenant_write(world: World) -> None:
    for role in ("read_only", "operator_technician"):
        world.user_with_role(f"{role}-x", role, world.alpha.customer)
        response = world.as_user(f"{role}-x").post("/api/v1/exports", json={"tenant_id": world.alpha.customer.id})
        assert response.status_code == 403, role


def test_an_operator_exports_only_their_own_subtree(world: World) -> None:
    """The operator administers the customer: the customer exports, the partner above it is a 404."""
    operator = world.as_user("alpha_operator")
    assert operator.post("/api/v1/exports", json={"tenant_id": world.alpha.partner.id}).status_code == 404
    job = run_export(world, "alpha_operator", world.alpha.customer.id)
    assert job["state"] == "done" and job["counts"]["tenants"] == 2


def test_a_job_no_process_runs_shows_as_interrupted(world: World) -> None:
    from leitstand.dataexport.models import ExportJob

    orphan = ExportJob(tenant_id=world.alpha.customer.id, state="running", file_name="x.zip")
    world.db.add(orphan)
    world.db.commit()
    shown = world.as_user("alpha_admin").get(f"/api/v1/exports/{orphan.id}").json()
    assert shown["state"] == "failed" and shown["error"].startswith("interrupted")
    assert world.as_user("alpha_admin").get(f"/api/v1/exports/{orphan.id}/download").status_code == 409
