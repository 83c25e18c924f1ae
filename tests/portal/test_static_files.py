"""What `/static` hands out: the built assets, and nothing about the tree they sit in (ASVS 4.3.2).

No directory is listed and no dot-file (the build marker `.built`, or a stray `.git` or
`.DS_Store` an operator's copy may bring along) is served: both answer 404 like a missing file.
"""

from __future__ import annotations

import pytest

from leitstand.portal.pages import PORTAL_DIR


def test_the_built_assets_are_served(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/static/build/app.js").status_code == 200


@pytest.mark.parametrize("path", ["/static", "/static/", "/static/build", "/static/build/", "/static/build/icons/"])
def test_no_directory_is_listed(client, path: str) -> None:  # type: ignore[no-untyped-def]
    # `/static` itself is redirected to `/static/` by the router, which then finds nothing.
    assert client.get(path).status_code == 404


def test_no_dot_file_is_served(client) -> None:  # type: ignore[no-untyped-def]
    assert (PORTAL_DIR / "static" / "build" / ".built").is_file(), "the build marker the test relies on"

    for path in ("/static/build/.built", "/static/build/%2Ebuilt", "/static/.git/config", "/static/build/.hidden/app.js"):
        assert client.get(path).status_code == 404, path
