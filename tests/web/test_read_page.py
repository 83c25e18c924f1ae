"""read_page, every list's one paging idiom: rows of entities or of columns, and the pager's numbers."""

from __future__ import annotations

from sqlalchemy import select

from leitstand.devices.models import Device
from leitstand.web.crud import read_page
from leitstand.web.types import Page, PageRequest
from tests.helpers.world import World


def test_a_statement_of_several_columns_pages_its_rows(world: World) -> None:
    serials = list(world.db.scalars(select(Device.serial_number).order_by(Device.id)))

    found = read_page(world.db, select(Device.id, Device.serial_number).order_by(Device.id), PageRequest(2, 1))

    assert [row.serial_number for row in found.items] == serials[1:3]
    assert found.total == len(serials)


def test_a_statement_of_one_entity_pages_the_entities(world: World) -> None:
    found = read_page(world.db, select(Device).order_by(Device.id), PageRequest(1))

    assert isinstance(found.items[0], Device)


def test_the_pager_counts_pages_from_the_offset() -> None:
    second = Page(items=[], total=51, limit=25, offset=25)
    empty = Page(items=[], total=0, limit=25, offset=0)

    assert (second.number, second.pages, second.previous, second.next) == (2, 3, 0, 50)
    assert (empty.number, empty.pages) == (1, 1)


def test_an_older_links_page_number_becomes_its_offset() -> None:
    assert PageRequest.numbered(25, 0, 3) == PageRequest(25, 50)
    assert PageRequest.numbered(25, 0, None) == PageRequest(25, 0)
    assert PageRequest.numbered(25, 75, None) == PageRequest(25, 75)
