"""The portal's lists render through one table macro and one empty-state macro (layout/_tables.html).

A list with rows is one `table.data` with its sortable headings; a list without rows shows the
empty state once, in the viewer's language, and no table. Rendered over HTTP, no browser needed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import leitstand.portal
from tests.portal.lists_support import logged_in, seed
from tests.helpers.world import ALPHA_MARK, World

TEMPLATES = Path(leitstand.portal.__file__).parent / "templates"
MACROS = TEMPLATES / "layout" / "_tables.html"


class _Elements(HTMLParser):
    """Collects each start tag's name and attributes, and the text inside `.empty` elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.empty_texts: list[str] = []
        self._in_empty = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if "empty" in (attributes.get("class") or "").split():
            self._in_empty = 1
            self.empty_texts.append("")
        elif self._in_empty:
            self._in_empty += 1

    def handle_endtag(self, tag: str) -> None:
        if self._in_empty:
            self._in_empty -= 1

    def handle_data(self, data: str) -> None:
        if self._in_empty:
            self.empty_texts[-1] += data

    def count(self, tag: str, css_class: str) -> int:
        return sum(1 for name, attrs in self.tags if name == tag and css_class in (attrs.get("class") or "").split())


def parsed(html: str) -> _Elements:
    elements = _Elements()
    elements.feed(html)
    return elements


# (page with a filter that keeps nothing, the German empty state it shows)
EMPTY_LISTS = [
    pytest.param("/devices?q=nichts-passt", "Kein Gerät passt zu diesen Filtern.", id="devices"),
    pytest.param("/manage/users?q=nichts-passt", "Keine passenden Benutzer.", id="users"),
    pytest.param("/sites?q=nichts-passt", "Keine passenden Standorte.", id="sites"),
]


@pytest.mark.parametrize(("path", "german"), EMPTY_LISTS)
def test_an_empty_list_shows_the_empty_state_once_in_german_and_no_table(world: World, path: str, german: str) -> None:
    client = logged_in(world, "alpha_admin")

    response = client.get(path)

    assert response.status_code == 200, response.text[:300]
    page = parsed(response.text)
    assert [text.strip() for text in page.empty_texts] == [german]
    assert page.count("table", "data") == 0


@pytest.mark.parametrize("path", ["/devices", "/manage/users", "/sites", "/alarms", "/tickets", "/manage/licenses"])
def test_a_filled_list_is_one_data_table_with_sortable_headings_and_no_empty_state(world: World, path: str) -> None:
    seed(world)
    client = logged_in(world, "alpha_admin")

    response = client.get(path)

    assert response.status_code == 200, response.text[:300]
    page = parsed(response.text)
    assert page.count("table", "data") == 1
    assert page.empty_texts == []
    assert page.count("a", "sort-link") >= 2, "the sortable headings come from sort_header"
    assert all(attrs.get("scope") == "col" for name, attrs in page.tags if name == "th"), "every heading is a column heading"
    assert ALPHA_MARK in response.text


def test_no_template_writes_a_data_table_by_hand() -> None:
    by_hand = sorted(
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if path != MACROS and re.search(r'<table\s+class="data[\s"]', path.read_text(encoding="utf-8"))
    )

    assert by_hand == []


def test_no_template_writes_an_empty_state_by_hand() -> None:
    """Every "nothing here yet" goes through empty_state, so it looks and reads the same on every page."""
    by_hand = sorted(
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if path != MACROS and re.search(r'class="(?:[^"]*\s)?empty[\s"]', path.read_text(encoding="utf-8"))
    )

    assert by_hand == []
