"""Every portal list exports CSV: exactly the rows its filters select, all pages, in its order.

The file is what the list shows (header texts in the viewer's language, names rather than ids)
for Excel: UTF-8 with BOM, ";" for German and "," for English. A cell a spreadsheet would run
as a formula gets a leading apostrophe. Another tenant's user exports only their own rows, and
each export is audited as the data exports are.
"""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from leitstand.audit.models import AuditEntry
from leitstand.devices.models import Device
from leitstand import i18n
from leitstand.portal.listing import safe_cell
from tests.portal.lists_support import CASES, ListCase, logged_in, seed
from tests.helpers.world import ALPHA_MARK, BETA_MARK, World

BY_NAME = [pytest.param(case, id=case.name) for case in CASES]
BOM = "\ufeff"


def exported(client, path: str, separator: str = ";", **params: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    response = client.get(path, params=params)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    text = response.content.decode("utf-8")
    assert text.startswith(BOM), "Excel reads UTF-8 only with the byte order mark"
    return list(csv.reader(io.StringIO(text[1:]), delimiter=separator))


def cells_with(rows: list[list[str]], text: str) -> list[list[str]]:
    return [row for row in rows if any(text in cell for cell in row)]


@pytest.mark.parametrize("case", BY_NAME)
def test_the_export_has_exactly_the_filtered_rows_under_german_headers(world: World, case: ListCase) -> None:
    seed(world)
    client = logged_in(world, "alpha_admin")

    header, *rows = exported(client, case.export, **case.filter)

    assert case.header in header, header
    assert len(rows) == 1, rows
    assert case.second in ";".join(rows[0])
    assert not cells_with(rows, case.first)
    assert all(len(row) == len(header) for row in rows)


@pytest.mark.parametrize("case", BY_NAME)
def test_the_export_follows_the_chosen_order(world: World, case: ListCase) -> None:
    seed(world)
    client = logged_in(world, "alpha_admin")
    # Licenses: the filter "all" (no status) keeps both; every other list has both unfiltered.
    for direction, earlier, later in (("asc", case.first, case.second), ("desc", case.second, case.first)):
        _header, *rows = exported(client, case.export, sort=case.sort, dir=direction)
        texts = [";".join(row) for row in rows]
        assert next(i for i, t in enumerate(texts) if earlier in t) < next(i for i, t in enumerate(texts) if later in t)


@pytest.mark.parametrize("case", BY_NAME)
def test_another_tenants_user_exports_only_their_own_rows(world: World, case: ListCase) -> None:
    seed(world)
    client = logged_in(world, "beta_admin")

    _header, *rows = exported(client, case.export)

    assert rows, "Beta's own rows are there"
    assert cells_with(rows, BETA_MARK)
    assert not cells_with(rows, ALPHA_MARK)


def test_the_export_has_every_page_not_only_the_shown_one(world: World) -> None:
    for number in range(60):  # the list shows 50 a page
        world.db.add(Device(tenant_id=world.alpha.customer.id, type_key="barrier", serial_number=f"ALPHA-MANY-{number:03d}",
                            name=f"Alpha Viele {number:03d} {ALPHA_MARK}", labels=[]))
    world.db.commit()
    client = logged_in(world, "alpha_admin")

    _header, *rows = exported(client, "/devices/export.csv", q="Viele", sort="serial", dir="desc")

    assert [row[2] for row in rows] == [f"ALPHA-MANY-{number:03d}" for number in reversed(range(60))]


def test_english_uses_commas_and_english_headers_and_shows_names_not_ids(world: World) -> None:
    world.users["alpha_admin"].language = "en"
    world.db.commit()
    client = logged_in(world, "alpha_admin")

    header, *rows = exported(client, "/devices/export.csv", separator=",", q="Schranke")

    assert header == ["State", "Name", "Serial number", "Type", "Site", "Last seen"]
    [row] = rows
    assert row[:4] == ["Never seen", f"Alpha Schranke {ALPHA_MARK}", "ALPHA-BAR-0001", "Barrier drive"]
    assert row[4].endswith(f"Alpha Raum {ALPHA_MARK}"), "the site by its name, as the list shows it"
    assert row[5] == "never"


def test_german_shows_the_german_texts(world: World) -> None:
    client = logged_in(world, "alpha_admin")

    german = i18n.translations("de").gettext

    header, *rows = exported(client, "/devices/export.csv", q="Schranke")

    assert header == [german(text) for text in ("State", "Name", "Serial number", "Type", "Site", "Last seen")]
    assert header[2] == "Seriennummer"
    assert rows[0][0] == german("Never seen") != "Never seen"
    assert rows[0][3] == "Schrankenantrieb"


def test_a_cell_that_would_run_as_a_formula_is_defused(world: World) -> None:
    world.alpha.thermostat.name = '=HYPERLINK("http://evil.example","Klick")'
    world.alpha.barrier.name = "@SUM(A1:A9)"
    world.db.commit()
    client = logged_in(world, "alpha_admin")

    _header, *rows = exported(client, "/devices/export.csv", q="HYPERLINK")
    assert rows[0][1] == "'" + '=HYPERLINK("http://evil.example","Klick")'
    _header, *rows = exported(client, "/devices/export.csv", q="SUM(")
    assert rows[0][1] == "'@SUM(A1:A9)"


@pytest.mark.parametrize(("value", "written"), [
    ("=1+2", "'=1+2"), ("+49 40 123", "'+49 40 123"), ("-2", "'-2"), ("@A1", "'@A1"),
    ("\t=1", "'\t=1"), ("Tor 1 = offen", "Tor 1 = offen"), ("", ""), (None, ""), (42, "42"),
])
def test_formula_starts_get_an_apostrophe_and_nothing_else_changes(value, written: str) -> None:  # type: ignore[no-untyped-def]
    assert safe_cell(value) == written


def test_an_export_is_audited_with_its_filters(world: World) -> None:
    client = logged_in(world, "alpha_admin")

    exported(client, "/devices/export.csv", q="Schranke")

    world.db.expire_all()
    entry = world.db.scalars(select(AuditEntry).where(AuditEntry.action == "list_export.downloaded")).one()
    assert entry.actor_user_id == world.users["alpha_admin"].id
    assert entry.target_type == "devices"
    assert entry.changes == {"rows": 1, "filters": {"q": "Schranke"}}


@pytest.mark.parametrize("case", BY_NAME)
def test_the_export_is_refused_or_allowed_as_its_page_is(world: World, case: ListCase) -> None:
    client = logged_in(world, "alpha_end")  # an end customer: not every list is theirs
    page = client.get(case.page)
    response = client.get(case.export)

    assert response.status_code == page.status_code
    if response.status_code == 200:
        assert BETA_MARK not in response.content.decode("utf-8")
