"""Stored rows that their public form refuses, and the log and count of them.

A stored row can fail its response model when it was written around the API's checks (by
hand, an older version, a bug). Such a row is named in the log by its table and key and
counted per table in `invalid_rows`, so that an operator finds it; lists leave it out
(`presentable`) rather than failing for every row in them. The API's lists and the portal's
queries both present stored rows, so this sits on db's floor, below them all.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import inspect as inspect_row

log = logging.getLogger(__name__)
S = TypeVar("S", bound=BaseModel)

# Stored rows their response model refused, by table (by response model where a route built
# the model itself): data that got around the API's checks, written by hand or by an older
# version. Each is logged, with its key where known.
invalid_rows: Counter[str] = Counter()


def row_name(row: Any) -> str:
    """A stored row as the log names it: its table and primary key, e.g. "devices 17"."""
    state = inspect_row(row, raiseerr=False)
    if state is not None and getattr(state, "mapper", None) is not None:
        key = ", ".join(map(str, state.identity or ("new",)))
        return f"{state.mapper.local_table.name} {key}"
    return f"{type(row).__name__} {getattr(row, 'id', '?')}"


def log_invalid_row(row: Any, model: str, errors: list[Any]) -> None:
    name = row_name(row)
    invalid_rows[name.split(" ", 1)[0]] += 1
    reasons = "; ".join(f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', '')}" for error in errors)
    log.error("stored row %s does not match %s: %s", name, model, reasons)


def presentable(rows: Iterable[Any], present: Callable[[Any], S]) -> list[S]:
    """Each row in its public form by `present`, leaving out (and logging) a row it refuses.

    One row that fails its model must not take down every list it appears in: it is logged
    with its table and key, counted in `invalid_rows`, and left out.
    """
    items = []
    for row in rows:
        try:
            items.append(present(row))
        except ValidationError as error:
            log_invalid_row(row, error.title, error.errors())
    return items
