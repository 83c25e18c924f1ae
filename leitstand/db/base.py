"""Declarative base, column types and mixins shared by every domain's models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ColumnElement, DateTime, Integer, MetaData, String, TypeDecorator, any_, bindparam
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.functions import FunctionElement

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are always timezone-aware UTC in Python, whatever the backend stores.

    SQLite has no time zones and hands back naive values; without this, comparing
    a stored time with `now()` raises on one backend and works on the other.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}

    # Models that must show up in the audit log set this; columns named in
    # __audit_secret__ are recorded as changed but never with their values.
    __audited__ = False
    __audit_secret__: frozenset[str] = frozenset()


class IdMixin:
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


def utcnow() -> datetime:
    from leitstand.clock import clock

    return clock.now()


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def one_of(column: Any, values: Any, dialect_name: str) -> ColumnElement[bool]:
    """`column IN (values)`, as `= ANY(:array)` on PostgreSQL.

    An IN list renders a different SQL text for every length, so each batch of the hot
    path would be parsed and planned anew; one array parameter keeps the text constant.
    """
    if dialect_name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


class json_kind(FunctionElement[str]):  # noqa: N801 - an SQL function, named like one
    """The kind of a JSON value, 'array', 'object', 'null' and so on (json_type / json_typeof)."""

    type = String()
    inherit_cache = True


@compiles(json_kind, "sqlite")
def _json_kind_sqlite(element: json_kind, compiler: Any, **kw: Any) -> str:
    return f"json_type({compiler.process(element.clauses, **kw)})"


@compiles(json_kind, "postgresql")
def _json_kind_postgresql(element: json_kind, compiler: Any, **kw: Any) -> str:
    return f"json_typeof({compiler.process(element.clauses, **kw)})"


def json_holds(column: str, *kinds: str) -> CheckConstraint:
    """A CHECK that a JSON column holds one of `kinds`, named ck_<table>_<column>_is_<kind>.

    SQLAlchemy writes Python None into a JSON column as the JSON value null, not as SQL NULL,
    so NOT NULL lets a null list through; this does not. Every JSON column has one.
    """
    return CheckConstraint(json_kind(sql_column(column)).in_(kinds), name=f"{column}_is_{'_or_'.join(kinds)}")
