"""Sortable portal lists and their CSV export: one mechanism for every list page.

A list declares its sortable columns once (`Sortable`): key -> SQL expression, a default order
and the id as the stable tiebreak. `Sortable.chosen(request)` reads `?sort=<key>&dir=asc|desc`
(an unknown key or direction is the default, never an error) and `Sort.apply` puts the order
into the SQL query. Templates render the headers with the `sort_header` macro
(layout/_lists.html): a link keeping the page's other parameters, aria-sort and an arrow.

`csv_download` writes the rows a list's filters select, in the chosen order, as the page shows
them, for Excel in the viewer's language: UTF-8 with BOM, ";" for German and "," otherwise.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Select

from leitstand.audit.recorder import record
from leitstand import i18n
from leitstand.web.deps import Access
from leitstand.web.downloads import content_disposition

# Parameters that pick a page of the list: a new order or an export starts from the first row.
PAGING_PARAMETERS = frozenset({"page", "offset"})
# An export is all rows of the filter, but not without end.
MAX_EXPORT_ROWS = 100_000
# Spreadsheets run a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, eq=False)
class Sortable:
    """A list's sortable columns: key -> SQL expression, the default order, the tiebreak."""

    columns: Mapping[str, Any]
    default: str
    tiebreak: Any  # the rows' id: equal values keep one order across pages and exports
    default_descending: bool = False

    def default_sort(self) -> Sort:
        return Sort(self, self.default, self.default_descending)

    def chosen(self, request: Request) -> Sort:
        params = request.query_params
        key = params.get("sort", "")
        if key not in self.columns:
            return self.default_sort()
        direction = params.get("dir", "")
        return Sort(self, key, direction == "desc" if direction in ("asc", "desc") else False)


@dataclass(frozen=True)
class Sort:
    sortable: Sortable
    key: str
    descending: bool

    def apply(self, statement: Select[Any]) -> Select[Any]:
        """The statement ordered by the chosen column (empty values last), then by id."""
        expression = self.sortable.columns[self.key]
        ordered = expression.desc() if self.descending else expression.asc()
        tiebreak = self.sortable.tiebreak.desc() if self.descending else self.sortable.tiebreak.asc()
        return statement.order_by(None).order_by(ordered.nulls_last(), tiebreak)

    def aria(self, key: str) -> str:
        if key != self.key:
            return "none"
        return "descending" if self.descending else "ascending"

    def arrow(self, key: str) -> str:
        if key != self.key:
            return "↕"
        return "↓" if self.descending else "↑"

    def link(self, request: Request, path: str, key: str) -> str:
        """The header link of column `key`: the current column flips its direction, another starts ascending."""
        descending = key == self.key and not self.descending
        return with_parameters(path, request.query_params.multi_items(), sort=key, dir="desc" if descending else "asc")

    def hidden_fields(self) -> dict[str, str]:
        """What the filter form and the pager carry along, so a change of filter or page keeps
        the order; nothing for the default order, which needs no parameters."""
        if (self.key, self.descending) == (self.sortable.default, self.sortable.default_descending):
            return {}
        return {"sort": self.key, "dir": "desc" if self.descending else "asc"}


def with_parameters(path: str, current: Iterable[tuple[str, str]], **changes: str) -> str:
    """`path` with the current query parameters, some replaced, the paging dropped."""
    kept = [(name, value) for name, value in current
            if name not in changes and name not in PAGING_PARAMETERS and value != ""]
    query = urlencode(kept + [(name, value) for name, value in changes.items() if value != ""])
    return f"{path}?{query}" if query else path


def export_link(request: Request, path: str) -> str:
    """The CSV export of what the page shows: its filters and order, all pages."""
    return with_parameters(path, request.query_params.multi_items())


# --- CSV --------------------------------------------------------------------------------------


def msgid(text: str) -> str:
    """Marks an English message id for the catalogue scan (imported as `_`); translated on output."""
    return text


@dataclass(frozen=True)
class CsvColumn:
    header: str  # English message id, written in the viewer's language
    value: Callable[[Any], Any]  # the cell as the page shows it


def safe_cell(value: Any) -> str:
    """A cell as text; one a spreadsheet would run as a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(columns: Sequence[CsvColumn], rows: Iterable[Any], language: str) -> str:
    gettext = i18n.translations(language).gettext
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if language == "de" else ",", lineterminator="\r\n")
    writer.writerow([safe_cell(gettext(column.header)) for column in columns])
    for row in rows:
        writer.writerow([safe_cell(column.value(row)) for column in columns])
    return "\ufeff" + buffer.getvalue()  # the BOM: Excel reads the file as UTF-8 only with it


def csv_download(
    request: Request, access: Access, list_name: str, title: str, columns: Sequence[CsvColumn], rows: Sequence[Any],
) -> Response:
    """The export of list `list_name` as a file named by its `title` (a message id), audited
    as the data exports are: who took which rows out, with the filters they used."""
    language = i18n.negotiate(request, access.principal.language)
    body = csv_text(columns, rows, language)
    record(access.db, "list_export.downloaded", target_type=list_name,
           details={"rows": len(rows), "filters": {name: value for name, value in request.query_params.multi_items()}})
    access.db.commit()
    file_name = f"{i18n.translations(language).gettext(title)}.csv"
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": content_disposition(file_name), "Cache-Control": "no-store"})
