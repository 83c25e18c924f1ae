"""What every resource's routes share: lookups, paging, partial updates, and the generic
list/get/patch/delete routes of a plain resource (`Resource`, `resource_routes`).

They take a scoped session, so a lookup of another tenant's row finds nothing
and becomes a 404, without the route knowing about tenants.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from leitstand.db.stored_rows import presentable
from leitstand.web.errors import not_found
from leitstand.web.types import Limit, ObjectId, Offset, Page, PageRequest

if TYPE_CHECKING:
    from leitstand.web.deps import Access

M = TypeVar("M")
S = TypeVar("S", bound=BaseModel)


def get_visible(db: Session, model: type[M], key: Any, what: str) -> M:
    row = db.get(model, key)
    if row is None:
        raise not_found(what)
    return row


def read_page(db: Session, statement: Select[Any], request: PageRequest,
              present: Callable[[Any], S] | None = None) -> Page[Any]:
    """The rows of `request` from a query, with the query's total: every list's one paging idiom.

    The statement's order decides which rows a page holds, so it must end in a unique column
    (the id) for the pages to neither repeat nor skip a row. A statement of one entity or
    column gives those (`select(Site)`), one of several gives result rows (`select(Device.id,
    Site.name)`). `present` turns each row into its public form, and a row it refuses is left
    out (see `leitstand.db.stored_rows.presentable`). Without it the page holds the rows
    themselves, for a portal page to compose its own rows from. `total` stays the number of
    rows in the database, so that offsets keep counting rows: a page with a refused row holds
    fewer items than `limit` although more follow, and the next page still starts at
    `offset + limit`.
    """
    total = db.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    found = db.execute(statement.limit(request.limit).offset(request.offset))
    rows = found.scalars().all() if len(statement.column_descriptions) == 1 else found.all()
    items = presentable(rows, present) if present is not None else list(rows)
    return Page(items=items, total=total, limit=request.limit, offset=request.offset)


def apply_changes(row: Any, changes: BaseModel) -> dict[str, Any]:
    values = changes.model_dump(exclude_unset=True)
    for field, value in values.items():
        setattr(row, field, value)
    return values


def contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match, with LIKE wildcards in the text taken literally."""
    return column.icontains(text, autoescape=True)


# --- the generic routes of a plain resource ---------------------------------------------------


@dataclass(frozen=True)
class EqualsFilter:
    """A list's query parameter `name` (of type `parameter`) that, when given, keeps the rows whose
    `column` equals it."""

    name: str
    parameter: Any
    column: Any


def _apply_changes_as_they_are(db: Session, row: Any, changes: BaseModel) -> None:
    apply_changes(row, changes)


def _commit_only(access: Access, row: Any) -> None:
    access.db.commit()


@dataclass(frozen=True)
class Resource:
    """A plain resource described as data, for `resource_routes` to serve.

    `reader` and `writer` are the Access dependencies (`Annotated[Access, requires(...)]`) that
    guard reading and changing. `what` names the resource in problems ("routing rule" → "routing
    rule not found"); `key` is its path parameter. The hooks are where a resource is not plain:
    `present` gives a row's public form (default: validated by `public`), `change` applies a
    patch and refuses one that would leave the row invalid (default: the fields as sent),
    `commit` ends a change or a deletion with its side effects (default: commit), and
    `before_delete` refuses a deletion that would leave others dangling.
    """

    model: type
    what: str
    key: str
    public: type[BaseModel]
    reader: Any
    writer: Any
    patch: type[BaseModel] | None = None
    order_by: tuple[Any, ...] = ()
    filters: tuple[EqualsFilter, ...] = ()
    present: Callable[[Session, Any], Any] | None = None
    change: Callable[[Session, Any, Any], None] = _apply_changes_as_they_are
    commit: Callable[[Access, Any], None] = _commit_only
    before_delete: Callable[[Session, Any], None] | None = None

    def query(self) -> Select[Any]:
        """Every row in list order. Run on a scoped session, it holds only what the caller may see."""
        return select(self.model).order_by(*self.order_by)

    def answer(self, db: Session, row: Any) -> Any:
        """What get and patch return: the row, for FastAPI to validate by `public`, unless `present` says otherwise."""
        return self.present(db, row) if self.present is not None else row

    def presenter(self, db: Session) -> Callable[[Any], Any]:
        """A list's `present` for `read_page`, which leaves out a row it refuses."""
        if self.present is None:
            return self.public.model_validate
        present = self.present
        return lambda row: present(db, row)


def _parameter(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _endpoint(name: str, handler: Callable[..., Any], parameters: list[inspect.Parameter]) -> Callable[..., Any]:
    # FastAPI reads an endpoint's parameters from its signature, and its summary and operation id
    # from its name: set both as a hand-written handler of that name would have them.
    handler.__name__ = handler.__qualname__ = name
    handler.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return handler


def resource_routes(router: APIRouter, resource: Resource, *, names: Mapping[str, str],
                    collection: str | None = None, item: str | None = None) -> None:
    """Add the plain routes of `resource` to `router`: one per entry of `names` (list, get, patch,
    delete → the handler's name, which FastAPI makes the summary and operation id of).

    list is `GET collection` (a Page, filtered by `resource.filters`), get, patch and delete
    act on `item`, whose path parameter is `resource.key`. Status codes and response models are
    those of hand-written routes: 200 with the public form, 204 without a body for a deletion.
    Call it more than once to place a hand-written route between them (routes match in order).
    """
    if "list" in names and collection is None or names.keys() - {"list"} and item is None:
        raise ValueError(f"{resource.what}: a list route needs its collection path, the others their item path")
    key_parameter = _parameter(resource.key, ObjectId)

    if "list" in names:
        def list_rows(**given: Any) -> Page[Any]:
            db = given["access"].db
            statement = resource.query()
            for wanted in resource.filters:
                if given[wanted.name] is not None:
                    statement = statement.where(wanted.column == given[wanted.name])
            return read_page(db, statement, PageRequest(given["limit"], given["offset"]), resource.presenter(db))

        router.add_api_route(collection, _endpoint(names["list"], list_rows, [
            _parameter("access", resource.reader),
            *(_parameter(wanted.name, wanted.parameter, None) for wanted in resource.filters),
            _parameter("limit", Limit, 50), _parameter("offset", Offset, 0),
        ]), methods=["GET"], response_model=Page[resource.public])

    if "get" in names:
        def get_row(**given: Any) -> Any:
            db = given["access"].db
            return resource.answer(db, get_visible(db, resource.model, given[resource.key], resource.what))

        router.add_api_route(item, _endpoint(names["get"], get_row, [key_parameter, _parameter("access", resource.reader)]),
                             methods=["GET"], response_model=resource.public)

    if "patch" in names:
        if resource.patch is None:
            raise ValueError(f"{resource.what}: a patch route needs the patch schema")

        def patch_row(**given: Any) -> Any:
            access = given["access"]
            row = get_visible(access.db, resource.model, given[resource.key], resource.what)
            resource.change(access.db, row, given["body"])
            resource.commit(access, row)
            return resource.answer(access.db, row)

        router.add_api_route(item, _endpoint(names["patch"], patch_row, [
            key_parameter, _parameter("body", resource.patch), _parameter("access", resource.writer),
        ]), methods=["PATCH"], response_model=resource.public)

    if "delete" in names:
        def delete_row(**given: Any) -> Response:
            access = given["access"]
            row = get_visible(access.db, resource.model, given[resource.key], resource.what)
            if resource.before_delete is not None:
                resource.before_delete(access.db, row)
            access.db.delete(row)
            resource.commit(access, row)
            return Response(status_code=204)

        router.add_api_route(item, _endpoint(names["delete"], delete_row, [key_parameter, _parameter("access", resource.writer)]),
                             methods=["DELETE"], status_code=204, response_model=None)
