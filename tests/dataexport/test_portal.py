"""The data export page: start form, job list with progress and download, polling while a job runs."""

from __future__ import annotations

from leitstand.dataexport.models import ExportJob
from tests.helpers.world import World


def test_the_page_lists_own_jobs_and_polls_while_one_runs(world: World) -> None:
    world.db.add_all([
        ExportJob(tenant_id=world.alpha.customer.id, state="done", progress=100.0, file_name="a.zip", size=2048,
                  sha256="ab" * 32),
        ExportJob(tenant_id=world.beta.customer.id, state="done", progress=100.0, file_name="b.zip", size=10, sha256="cd" * 32),
    ])
    world.db.commit()
    admin = world.as_user("alpha_admin")
    page = admin.get("/exports")
    assert page.status_code == 200
    assert 'data-api="POST /api/v1/exports"' in page.text and world.alpha.customer.name in page.text
    assert world.beta.customer.name not in page.text
    assert page.text.count("data-export-id=") == 1 and "/download" in page.text
    assert "every 2s" not in page.text  # nothing runs: no polling

    running = ExportJob(tenant_id=world.alpha.customer.id, state="running", progress=40.0, file_name="c.zip")
    world.db.add(running)
    world.db.commit()
    fragment = admin.get("/exports/jobs", headers={"hx-request": "true"})
    # Not started by this process, so shown as interrupted; nothing left to poll for.
    assert 'data-state="failed"' in fragment.text and "every 2s" not in fragment.text

    overview = admin.get("/manage")
    assert 'href="/exports"' in overview.text


def test_the_page_needs_tenant_write(world: World) -> None:
    assert world.as_user("alpha_reader").get("/exports").status_code == 403
    assert 'href="/exports"' not in world.as_user("alpha_reader").get("/manage").text
