"""What an export leaves behind is said everywhere, once declared: every kind with how it is issued anew.

The declaration is manifest.NOT_CARRIED. These tests hold it complete (no secret is left out
unannounced), true (its pages and API routes exist) and shown: in the manifest, the job's
API JSON, the export page in German, the import report of the CLI (tests/dataexport/test_cli.py)
and the README.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from markupsafe import escape

from leitstand.dataexport import manifest as fmt
from leitstand.db.models import Base
from leitstand import i18n
from leitstand.portal.routes import PORTAL_ROUTERS
from leitstand.app import api_operations
from tests.dataexport.test_api import run_export
from tests.helpers.world import World

README = Path(__file__).resolve().parents[2] / "README.md"
# Column names that hold a secret whether or not the model declares it in __audit_secret__.
SECRET_NAME = re.compile(r"(^|_)(password|secret|token|hash|encrypted|sealed)(_|$)")


def _secret_columns(table: str) -> set[str]:
    declared = getattr(fmt.model_classes()[table], "__audit_secret__", frozenset())
    return set(declared) | {column.name for column in Base.metadata.tables[table].c if SECRET_NAME.search(column.name)}


def test_every_secret_the_export_leaves_out_is_declared_as_not_carried() -> None:
    declared_tables = {table for kind in fmt.NOT_CARRIED for table in kind.tables}
    declared_columns = {column for kind in fmt.NOT_CARRIED for column in kind.columns}
    for spec in fmt.EXPORTED:
        assert _secret_columns(spec.name) <= spec.omit, f"{spec.name}: a secret column would be exported"
        undeclared = {(spec.name, column) for column in spec.omit} - declared_columns
        assert not undeclared, f"left out of the export but not declared in manifest.NOT_CARRIED: {sorted(undeclared)}"
    for table in set(fmt.NOT_EXPORTED) - declared_tables:
        assert not _secret_columns(table), f"{table} holds secrets: declare it in manifest.NOT_CARRIED"


def test_each_kind_names_what_it_covers_and_where_it_is_issued_anew() -> None:
    api_routes = {f"{operation.method} {operation.path}" for operation in api_operations()}
    portal_pages = {route.path for router in PORTAL_ROUTERS for route in router.routes}
    assert len({kind.key for kind in fmt.NOT_CARRIED}) == len(fmt.NOT_CARRIED)
    for kind in fmt.NOT_CARRIED:
        assert kind.what and kind.reissue and (kind.portal or kind.api or kind.cli), kind.key
        assert kind.tables or kind.columns, f"{kind.key}: which tables or columns does it stand for?"
        assert kind.tables <= set(fmt.NOT_EXPORTED) - fmt.SPECS.keys(), kind.key
        assert all(column in fmt.SPECS[table].omit for table, column in kind.columns), kind.key
        assert set(kind.api) <= api_routes, f"{kind.key}: no such API route {sorted(set(kind.api) - api_routes)}"
        assert not kind.portal or kind.portal in portal_pages, f"{kind.key}: no portal page {kind.portal}"
        assert not kind.cli or kind.cli.startswith("leitstand "), kind.key


def test_the_manifest_and_the_job_list_every_kind_with_its_reissue(world: World) -> None:
    job = run_export(world, "alpha_admin", world.alpha.customer.id)
    assert job["state"] == "done", job["error"]
    expected = [{"key": kind.key, "what": kind.what, "reissue": kind.reissue, "portal": kind.portal,
                 "api": list(kind.api), "cli": kind.cli} for kind in fmt.NOT_CARRIED]
    assert job["not_carried"] == expected
    download = world.as_user("alpha_admin").get(f"/api/v1/exports/{job['id']}/download")
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert json.loads(archive.read(fmt.MANIFEST))["not_carried"] == expected


def test_the_export_page_lists_every_kind_in_german(world: World) -> None:
    i18n.translations.cache_clear()
    german = i18n.translations("de")
    page = world.as_user("alpha_admin").get("/exports")  # alpha_admin's language is German
    assert page.status_code == 200
    for kind in fmt.NOT_CARRIED:
        for text in (kind.what, kind.reissue):
            assert german.gettext(text) != text, f"no German text in dataexport.po for {text!r}"
        row = page.text.split(f'data-kind="{kind.key}"', 1)[1].split("</tr>", 1)[0]
        assert str(escape(german.gettext(kind.what))) in row and str(escape(german.gettext(kind.reissue))) in row
        assert all(route in row for route in kind.api) and (not kind.portal or f'href="{kind.portal}"' in row)


def test_the_readme_lists_every_kind_as_declared() -> None:
    readme = README.read_text(encoding="utf-8")
    section = readme.split("## Data export and import", 1)[1].split("\n## ", 1)[0]
    for kind in fmt.NOT_CARRIED:
        assert f"| {kind.what} | {kind.reissue} | {kind.where()} |" in section, f"README lacks the row of {kind.key}"
