"""Small helpers every resource's routes share: lookups, paging, partial updates.

They take a scoped session, so a lookup of another tenant's row finds nothing
and becomes a 404, without the route knowing about tenants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from leitstand.db.stored_rows import presentable
from leitstand.web.errors import not_found
from leitstand.web.types import Page

M = TypeVar("M")
S = TypeVar("S", bound=BaseModel)


def get_visible(db: Session, model: type[M], key: Any, what: str) -> M:
    row = db.get(model, key)
    if row is None:
        raise not_found(what)
    return row


def page_of(db: Session, statement: Select[Any], limit: int, offset: int, present: Callable[[Any], S]) -> Page[S]:
    """One page of a query's rows, each turned into its public form by `present`.

    A row `present` refuses is left out (see `leitstand.db.stored_rows.presentable`). `total`
    stays the number of rows in the database, so that offsets keep counting rows: such a page
    holds fewer items than `limit` although more follow, and the next page still starts at
    `offset + limit`.
    """
    total = db.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    rows = db.scalars(statement.limit(limit).offset(offset)).all()
    return Page(items=presentable(rows, present), total=total, limit=limit, offset=offset)


def apply_changes(row: Any, changes: BaseModel) -> dict[str, Any]:
    values = changes.model_dump(exclude_unset=True)
    for field, value in values.items():
        setattr(row, field, value)
    return values


def contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match, with LIKE wildcards in the text taken literally."""
    return column.icontains(text, autoescape=True)
