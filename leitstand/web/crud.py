"""Small helpers every resource's routes share: lookups, paging, partial updates.

They take a scoped session, so a lookup of another tenant's row finds nothing
and becomes a 404, without the route knowing about tenants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from leitstand.web.errors import log_invalid_row, not_found
from leitstand.web.types import Page, PageRequest

M = TypeVar("M")
S = TypeVar("S", bound=BaseModel)


def get_visible(db: Session, model: type[M], key: Any, what: str) -> M:
    row = db.get(model, key)
    if row is None:
        raise not_found(what)
    return row


def presentable(rows: Iterable[Any], present: Callable[[Any], S]) -> list[S]:
    """Each row in its public form by `present`, leaving out (and logging) a row it refuses.

    A stored row can fail its response model when it was written around the API's checks (by
    hand, an older version, a bug). One such row must not take down every list it appears in:
    it is logged with its table and key, counted in `errors.invalid_rows`, and left out.
    """
    items = []
    for row in rows:
        try:
            items.append(present(row))
        except ValidationError as error:
            log_invalid_row(row, error.title, error.errors())
    return items


def read_page(db: Session, statement: Select[Any], request: PageRequest,
              present: Callable[[Any], S] | None = None) -> Page[Any]:
    """The rows of `request` from a query, with the query's total: every list's one paging idiom.

    `present` turns each row into its public form, and a row it refuses is left out (see
    `presentable`). Without it the page holds the rows themselves, for a portal page to
    compose its own rows from. `total` stays the number of rows in the database, so that
    offsets keep counting rows: a page with a refused row holds fewer items than `limit`
    although more follow, and the next page still starts at `offset + limit`.
    """
    total = db.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    rows = db.scalars(statement.limit(request.limit).offset(request.offset)).all()
    items = presentable(rows, present) if present is not None else list(rows)
    return Page(items=items, total=total, limit=request.limit, offset=request.offset)


def page_of(db: Session, statement: Select[Any], limit: int, offset: int, present: Callable[[Any], S]) -> Page[S]:
    # Left for leitstand/access/api.py, which moves in another change; new lists call read_page.
    return read_page(db, statement, PageRequest(limit, offset), present)


def apply_changes(row: Any, changes: BaseModel) -> dict[str, Any]:
    values = changes.model_dump(exclude_unset=True)
    for field, value in values.items():
        setattr(row, field, value)
    return values


def contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match, with LIKE wildcards in the text taken literally."""
    return column.icontains(text, autoescape=True)

