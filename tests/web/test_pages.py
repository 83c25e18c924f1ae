"""A Page as the portal's pager reads it: where the previous and next pages start, and which rows it shows."""

from __future__ import annotations

from leitstand.web.types import Page


def page(total: int, offset: int, limit: int = 50) -> Page[int]:
    return Page(items=[], total=total, limit=limit, offset=offset)


def test_the_first_page_has_no_previous_and_the_last_no_next() -> None:
    assert page(total=120, offset=0).previous is None
    assert page(total=120, offset=0).next == 50
    assert page(total=120, offset=100).next is None
    assert page(total=120, offset=100).previous == 50


def test_an_offset_between_pages_goes_back_no_further_than_the_start() -> None:
    assert page(total=120, offset=20).previous == 0


def test_the_rows_shown_count_from_one_and_end_at_the_total() -> None:
    assert (page(total=120, offset=100).first, page(total=120, offset=100).last) == (101, 120)
    assert (page(total=0, offset=0).first, page(total=0, offset=0).last) == (0, 0)


def test_the_pager_properties_are_not_part_of_the_api_schema() -> None:
    assert set(Page[int].model_json_schema()["properties"]) == {"items", "total", "limit", "offset"}
