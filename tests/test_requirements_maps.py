"""The requirement maps in docs/requirements/ keep up with the shared requirement files.

Each shared file (`../shared/requirements/<area>.md`, beside the project) gives its requirement IDs
as the first cell of its checklist tables. Our map of that area must give every one of those IDs
exactly one row, add none the source does not have, and cite only tests that exist. A map that
silently drops an ID, or points at a test that was renamed or never written, would claim progress
nobody can check.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).parents[1]
SHARED_REQUIREMENTS = Path(__file__).parents[2] / "shared" / "requirements"
MAPS = PROJECT / "docs" / "requirements"
AREAS = ["charging", "energy", "heating", "service-levels"]
STATUSES = {"done", "partly", "not done"}

# H01, DH7, E44, ED11, 000-01, 002-84, 003-45, T-14: letters or a three-digit seed, then a number.
ID = r"(?:[A-Z]{1,2}|\d{3}|T)-?\d+"
TABLE_ROW_ID = re.compile(rf"^\|\s*({ID})\s*\|", re.MULTILINE)
CITED_TEST = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


def source_ids(area: str) -> list[str]:
    return TABLE_ROW_ID.findall((SHARED_REQUIREMENTS / f"{area}.md").read_text(encoding="utf-8"))


def map_rows(area: str) -> dict[str, list[str]]:
    """Each mapped ID with the cells of its rows (a list of rows, to see duplicates)."""
    rows: dict[str, list[str]] = {}
    for line in (MAPS / f"{area}.md").read_text(encoding="utf-8").splitlines():
        if match := TABLE_ROW_ID.match(line):
            rows.setdefault(match.group(1), []).append(line)
    return rows


@pytest.fixture(scope="module", autouse=True)
def shared_requirements_present() -> None:
    if not SHARED_REQUIREMENTS.is_dir():
        pytest.skip(f"the shared requirement files are not beside the project ({SHARED_REQUIREMENTS} is absent)")


@pytest.mark.parametrize("area", AREAS)
def test_every_requirement_id_has_exactly_one_row(area: str) -> None:
    wanted = source_ids(area)
    assert wanted, f"no requirement IDs found in {area}.md: has its table format changed?"
    rows = map_rows(area)

    missing = [requirement for requirement in wanted if requirement not in rows]
    twice = sorted(requirement for requirement, found in rows.items() if len(found) > 1)
    unknown = sorted(set(rows) - set(wanted))
    assert not missing, f"docs/requirements/{area}.md lacks rows for {missing}"
    assert not twice, f"docs/requirements/{area}.md maps these more than once: {twice}"
    assert not unknown, f"docs/requirements/{area}.md maps IDs its source does not have: {unknown}"


@pytest.mark.parametrize("area", AREAS)
def test_rows_follow_the_sources_order_and_carry_a_status(area: str) -> None:
    rows = map_rows(area)
    assert list(rows) == source_ids(area)
    for requirement, (row,) in rows.items():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert len(cells) == 3, f"{requirement}: expected ID, status, proof or reason: {row}"
        assert cells[1] in STATUSES, f"{requirement}: unknown status {cells[1]!r}"
        assert cells[2], f"{requirement}: no proof or reason"
        if cells[1] == "done":
            assert CITED_TEST.search(cells[2]), f"{requirement} is done but cites no test"


@pytest.mark.parametrize("area", AREAS)
def test_every_cited_test_exists(area: str) -> None:
    text = (MAPS / f"{area}.md").read_text(encoding="utf-8")
    cited = set(CITED_TEST.findall(text))
    assert cited, f"docs/requirements/{area}.md cites no test at all"
    absent = []
    for path, name in sorted(cited):
        file = PROJECT / path
        if not file.is_file() or not re.search(rf"^\s*(?:async\s+)?def {name}\(", file.read_text(encoding="utf-8"),
                                               re.MULTILINE):
            absent.append(f"{path}::{name}")
    assert not absent, f"docs/requirements/{area}.md cites tests that do not exist: {absent}"
