"""The access rules over materialised paths ("/a/", "/a/b/"), in Python and in SQL alike."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, select

from leitstand.access.rules import below_site, path_within, path_within_any, strictly_below, within, within_tenant

CASES = [
    ("/1/", "/1/", True),  # a path is within itself
    ("/1/2/", "/1/", True),
    ("/1/2/3/", "/1/", True),
    ("/1/", "/1/2/", False),  # an ancestor is not within its child
    ("/1/23/", "/1/2/", False),  # a sibling with a common string prefix
    ("/1/23", "/1/2", False),  # the same, written without the closing slash
    ("/1/2", "/1/2/", True),
    ("/2/", "/1/", False),
    ("/10/", "/1/", False),
    ("", "/1/", False),  # no path: nowhere
    ("/1/", "", False),  # no ancestor: fail closed, not "everything"
]


@pytest.mark.parametrize(("path", "ancestor", "expected"), CASES)
def test_within(path: str, ancestor: str, expected: bool) -> None:
    assert within(path, ancestor) is expected
    assert within_tenant(path, ancestor) is expected
    assert below_site(path, ancestor) is expected


def test_strictly_below_excludes_the_path_itself() -> None:
    assert strictly_below("/1/2/", "/1/")
    assert not strictly_below("/1/", "/1/")
    assert not strictly_below("/1/", "/1")
    assert not strictly_below("/1/23/", "/1/2/")


def test_the_sql_counterpart_agrees_with_the_python_rule() -> None:
    metadata = MetaData()
    paths = Table("paths", metadata, Column("path", String))
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    stored = sorted({path for path, _, _ in CASES if path.endswith("/")} | {"/1%/", "/1_/"})
    with engine.begin() as connection:
        connection.execute(insert(paths), [{"path": path} for path in stored])
        for ancestor in {ancestor for _, ancestor, _ in CASES} | {"/1_/", "/1%/"}:
            found = set(connection.scalars(select(paths.c.path).where(path_within(paths.c.path, ancestor))))
            assert found == {path for path in stored if within(path, ancestor)}, ancestor
        found = set(connection.scalars(select(paths.c.path).where(path_within_any(paths.c.path, ["/1/2/", "/2/"]))))
        assert found == {"/1/2/", "/1/2/3/", "/2/"}
        assert not list(connection.scalars(select(paths.c.path).where(path_within_any(paths.c.path, []))))
    engine.dispose()
