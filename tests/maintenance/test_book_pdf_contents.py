"""Issue 15: the inspection-book PDF names where the device stands (full path and postal address)
and what each inspection's checklist found."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from leitstand.clock import clock
from leitstand.sites.models import Site
from tests.helpers.world import World

NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)


def _pdf_text(world: World, language: str) -> str:
    user = world.users["alpha_admin"]
    world.db.get(type(user), user.id).language = language
    world.db.commit()
    response = world.as_user("alpha_admin").get(f"/api/v1/maintenance/devices/{world.alpha.barrier.id}/book.pdf",
                                                params={"from": "2026-01-01", "to": "2026-06-30"})
    assert response.status_code == 200, response.text
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


@pytest.mark.parametrize(("language", "ok", "not_ok"), [("de", "i. O.", "n. i. O."), ("en", "ok", "not ok")])
def test_the_pdf_shows_full_path_address_and_checklist_results(world: World, language: str, ok: str,
                                                               not_ok: str) -> None:
    clock.freeze(NOW)
    alpha = world.alpha
    site = world.db.get(Site, alpha.site.id)
    site.street, site.postal_code, site.city = "Hachmannplatz 10", "20099", "Hamburg"
    world.db.commit()
    entry = world.as_user("alpha_admin").post(f"/api/v1/maintenance/devices/{alpha.barrier.id}/entries", json={
        "performed_on": "2026-06-01", "technician_name": "M. Weber",
        "checklist": [{"item": "Boom", "result": "ok"},
                      {"item": "Light barrier", "result": "not_ok", "note": "verschmutzt"}]})
    assert entry.status_code == 201, entry.text

    text = _pdf_text(world, language)

    assert f"{alpha.site.name} › {alpha.building.name} › {alpha.room.name}" in text
    assert "Hachmannplatz 10, 20099 Hamburg" in text
    lines = text.splitlines()
    assert any(line.startswith("Boom") and line.rstrip().endswith(ok) for line in lines), lines
    assert any(line.startswith("Light barrier") and not_ok in line and "verschmutzt" in line for line in lines), lines


def test_the_address_is_the_nearest_one_up_the_path(world: World) -> None:
    # The room has no street of its own; its building does.
    clock.freeze(NOW)
    building = world.db.get(Site, world.alpha.building.id)
    building.street, building.postal_code, building.city = "Am Hauptbahnhof 1", "20095", "Hamburg"
    world.db.commit()
    assert "Am Hauptbahnhof 1, 20095 Hamburg" in _pdf_text(world, "de")


def test_another_tenant_gets_no_pdf(world: World) -> None:
    response = world.as_user("beta_admin").get(f"/api/v1/maintenance/devices/{world.alpha.barrier.id}/book.pdf")
    assert response.status_code == 404
