"""Every portal list sorts by its columns: `?sort=<key>&dir=asc|desc`, applied by the database.

For each of the six lists two of Alpha's records (tests/portal/lists_support.py) must swap
places when the direction does; the sorted header says so (aria-sort, arrow) and its links
keep the filters. A sort key nobody declared is the default order, never an error page.
One browser test clicks a header as a person would.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.portal.lists_support import CASES, ListCase, logged_in, seed
from tests.helpers.portal import login
from tests.helpers.world import ALPHA_MARK, World

BY_NAME = [pytest.param(case, id=case.name) for case in CASES]


def table_body(html: str) -> str:
    start = html.index("<tbody")
    return html[start:html.index("</tbody>", start)]


def listed(client, path: str, **params: str) -> str:  # type: ignore[no-untyped-def]
    response = client.get(path, params=params)
    assert response.status_code == 200, f"{path} {params}: {response.status_code} {response.text[:300]}"
    return response.text


@pytest.mark.parametrize("case", BY_NAME)
def test_sorting_by_a_column_orders_the_rows_and_reverses_them(world: World, case: ListCase) -> None:
    seed(world)
    client = logged_in(world, "alpha_admin")

    ascending = table_body(listed(client, case.page, sort=case.sort, dir="asc"))
    descending = table_body(listed(client, case.page, sort=case.sort, dir="desc"))

    assert ascending.index(case.first) < ascending.index(case.second)
    assert descending.index(case.second) < descending.index(case.first)


@pytest.mark.parametrize("case", BY_NAME)
def test_the_sorted_header_says_so_and_its_links_keep_the_filters(world: World, case: ListCase) -> None:
    seed(world)
    client = logged_in(world, "alpha_admin")
    filter_name, filter_value = next(iter(case.filter.items()))

    html = listed(client, case.page, sort=case.sort, dir="desc", **case.filter)

    header = re.search(rf'<th[^>]*aria-sort="descending"[^>]*><a class="sort-link" href="([^"]+)" data-arrow="↓"', html)
    assert header, "the sorted column is marked descending, with its arrow"
    link = header.group(1).replace("&amp;", "&")
    assert f"sort={case.sort}" in link and "dir=asc" in link, "clicking the sorted column again turns it round"
    assert f"{filter_name}={filter_value}" in link, "the header link keeps the filter"
    assert html.count('aria-sort="descending"') == 1
    assert 'aria-sort="none"' in html, "the other sortable columns say they are not sorted"
    assert re.search(r'<input type="hidden" name="sort" value="' + case.sort, html), "a change of filter keeps the order"


@pytest.mark.parametrize("case", BY_NAME)
def test_an_unknown_sort_key_or_direction_is_the_default_order(world: World, case: ListCase) -> None:
    seed(world)
    client = logged_in(world, "alpha_admin")
    default = table_body(listed(client, case.page))

    unknown = listed(client, case.page, sort="password_hash", dir="desc")
    assert table_body(unknown) == default
    assert re.search(r'aria-sort="(ascending|descending)"', unknown), "the default column is marked as sorted"
    assert table_body(listed(client, case.page, sort="id;drop table users", dir="sideways")) == default
    # A known key with a direction that makes no sense: ascending.
    assert table_body(listed(client, case.page, sort=case.sort, dir="up")) == table_body(
        listed(client, case.page, sort=case.sort, dir="asc"))


def test_the_pager_keeps_the_order(world: World) -> None:
    seed(world)
    client = logged_in(world, "alpha_admin")
    for number in range(55):
        world.db.execute(world.alpha.barrier.__table__.insert().values(
            tenant_id=world.alpha.customer.id, type_key="barrier", serial_number=f"ALPHA-PAGER-{number:03d}",
            name=f"Alpha Pager {number:03d} {ALPHA_MARK}", labels=[]))
    world.db.commit()

    html = listed(client, "/devices", sort="serial", dir="desc")

    next_page = re.search(r'href="/devices\?([^"]*offset=50[^"]*)"', html)
    assert next_page, "a second page"
    assert "sort=serial" in next_page.group(1) and "dir=desc" in next_page.group(1)


def test_clicking_a_header_sorts_the_device_list(page, portal_url: str, world: World) -> None:  # type: ignore[no-untyped-def]
    login(page, world.users["alpha_admin"].email, next_url="/devices")
    page.goto("/devices")
    rows = page.locator("#device-table tbody tr a[href^='/devices/']")  # each row's device name
    expect(rows.first).to_have_text(f"Alpha Schranke {ALPHA_MARK}")

    page.get_by_role("link", name="Name").click()  # sorted by name already: the click turns it round
    expect(page).to_have_url(re.compile(r"sort=name&dir=desc"))
    expect(rows.first).to_have_text(f"Alpha Thermostat {ALPHA_MARK}")
    expect(page.locator("th[aria-sort=descending]")).to_have_text("Name")

    page.get_by_role("link", name="Seriennummer").click()
    expect(page.locator("th[aria-sort=ascending]")).to_have_text("Seriennummer")
    expect(rows.first).to_have_text(f"Alpha Schranke {ALPHA_MARK}")
