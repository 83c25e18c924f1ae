"""Tenant scoping: the one mechanism through which every data access is restricted.

A database session carries an `AccessScope`. A hook on the session adds the
scope's criteria to every ORM query for every model that derives from
`ScopedModel`, so an endpoint never writes a tenant filter by hand and cannot
forget one. Writes are checked too: after a flush, every written row must still
be visible through the scope, or the flush fails with `OutOfScope`.

A session without a scope refuses to query at all. The only way around the
scope is `system_session(reason)`, which is easy to grep for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, column, event, false, inspect, or_, select, table, true
from sqlalchemy.orm import Session, with_loader_criteria

SCOPE_KEY = "leitstand.scope"

# Core table stand-ins: criteria built on them are not themselves ORM entities,
# so the loader criteria never recurse into their own subqueries.
_tenants = table("tenants", column("id"), column("path"))
_sites = table("sites", column("id"), column("path"), column("tenant_id"))
_devices = table("devices", column("id"), column("tenant_id"), column("site_id"))
_device_shares = table("device_shares", column("device_id"), column("tenant_id"))


class OutOfScope(Exception):
    """A query or write reached outside what the session's principal may touch."""


class UnscopedAccess(RuntimeError):
    """An ORM query ran on a session that carries no scope: a programming error."""


@dataclass(frozen=True)
class AccessScope:
    """What one principal may reach with one permission.

    tenant_paths: whole tenant subtrees (a grant on a tenant covers all below it).
    site_paths: site subtrees (a grant on a site covers its buildings and rooms).
    device_ids: single devices (a grant on one device).
    desk_paths: paths of the tenants whose support desk the principal staffs: what is handed
        over to such a desk (a ticket, see leitstand.support.models) is visible, nothing else below it.
    user_id: the principal, for personal records such as their own API tokens.
    """

    tenant_paths: frozenset[str] = frozenset()
    site_paths: frozenset[str] = frozenset()
    device_ids: frozenset[int] = frozenset()
    desk_paths: frozenset[str] = frozenset()
    user_id: int | None = None
    unrestricted: bool = False
    reason: str = field(default="", compare=False)

    @property
    def is_empty(self) -> bool:
        return not (self.unrestricted or self.tenant_paths or self.site_paths or self.device_ids
                    or self.desk_paths)


def _prefix_match(path_column: Any, prefixes: frozenset[str]) -> ColumnElement[bool]:
    if not prefixes:
        return false()
    return or_(*(path_column.startswith(prefix) for prefix in sorted(prefixes)))


def tenant_visible(scope: AccessScope, tenant_id: Any) -> ColumnElement[bool]:
    """True for rows whose tenant lies in one of the scope's tenant subtrees."""
    if scope.unrestricted:
        return true()
    if not scope.tenant_paths:
        return false()
    return tenant_id.in_(select(_tenants.c.id).where(_prefix_match(_tenants.c.path, scope.tenant_paths)))


def site_visible(scope: AccessScope, site_id: Any) -> ColumnElement[bool]:
    """True for sites in a visible tenant or below a site the principal was granted."""
    if scope.unrestricted:
        return true()
    return site_id.in_(
        select(_sites.c.id).where(
            or_(tenant_visible(scope, _sites.c.tenant_id), _prefix_match(_sites.c.path, scope.site_paths))
        )
    )


def device_visible(scope: AccessScope, device_id: Any) -> ColumnElement[bool]:
    """True for devices the scope reaches by owning tenant, by sharing, by site grant or one by one."""
    if scope.unrestricted:
        return true()
    shared = select(_device_shares.c.device_id).where(tenant_visible(scope, _device_shares.c.tenant_id))
    reachable = select(_devices.c.id).where(
        or_(
            tenant_visible(scope, _devices.c.tenant_id),
            # By site only through a site grant: a device placed at a site of a visible tenant
            # but owned by another tenant belongs to that other tenant.
            _devices.c.site_id.in_(select(_sites.c.id).where(_prefix_match(_sites.c.path, scope.site_paths)))
            if scope.site_paths else false(),
            _devices.c.id.in_(sorted(scope.device_ids)) if scope.device_ids else false(),
        )
    )
    return or_(device_id.in_(reachable), device_id.in_(shared))


class ScopedModel:
    """Mixin for models whose rows belong to a tenant. Subclasses define `visible_in`."""

    registry: ClassVar[list[type[ScopedModel]]] = []
    # Personal models (own API tokens, own keys) are filtered by owner even for
    # unrestricted principals: a platform admin's token list is their own.
    personal: ClassVar[bool] = False
    # Append-only records written by the platform itself (the audit log) skip the write check.
    write_checked: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__tablename__" in cls.__dict__:
            ScopedModel.registry.append(cls)

    @classmethod
    def visible_in(cls, scope: AccessScope) -> ColumnElement[bool]:
        raise NotImplementedError


def bind_scope(session: Session, scope: AccessScope) -> Session:
    session.info[SCOPE_KEY] = scope
    return session


def scope_of(session: Session) -> AccessScope:
    scope = session.info.get(SCOPE_KEY)
    if scope is None:
        raise UnscopedAccess("this session has no access scope; use a scoped session or system_session()")
    return scope


SYSTEM = AccessScope(unrestricted=True, reason="system")


def _criteria_for(scope: AccessScope) -> tuple[Any, ...]:
    # Building the criteria of every scoped model costs more than many queries themselves;
    # they depend only on the scope, so they are built once per scope (and again should a
    # model register later: the registry's size is part of the key).
    return _cached_criteria(scope, len(ScopedModel.registry))


@lru_cache(maxsize=1024)
def _cached_criteria(scope: AccessScope, models: int) -> tuple[Any, ...]:
    options = []
    for model in ScopedModel.registry[:models]:
        if scope.unrestricted and not model.personal:
            continue
        options.append(with_loader_criteria(model, model.visible_in(scope), include_aliases=True))
    return tuple(options)


@event.listens_for(Session, "do_orm_execute")
def _restrict_to_scope(state: Any) -> None:
    if state.is_column_load or state.is_relationship_load:
        return  # loader criteria of the parent statement propagate to these
    if not (state.is_select or state.is_update or state.is_delete):
        return
    scope = scope_of(state.session)
    if scope.unrestricted and scope.user_id is None:
        return
    criteria = _criteria_for(scope)
    if criteria:
        state.statement = state.statement.options(*criteria)


@event.listens_for(Session, "after_flush")
def _writes_stay_in_scope(session: Session, flush_context: Any) -> None:
    scope = session.info.get(SCOPE_KEY)
    if scope is None or (scope.unrestricted and scope.user_id is None):
        return
    written: dict[type, set[Any]] = {}
    for obj in list(session.new) + list(session.dirty):
        model = type(obj)
        if isinstance(obj, ScopedModel) and model.write_checked and (not scope.unrestricted or model.personal):
            written.setdefault(model, set()).add(inspect(obj).mapper.primary_key_from_instance(obj)[0])
    with session.no_autoflush:
        for model, keys in written.items():
            # The mapped attribute, not the table column: only an ORM-enabled select gets the loader criteria.
            mapper = inspect(model)
            key_column = mapper.get_property_by_column(mapper.primary_key[0]).class_attribute
            found = set(session.scalars(select(key_column).where(key_column.in_(keys))))
            if found != keys:
                raise OutOfScope(f"{model.__name__} outside your scope")


@contextmanager
def system_session(factory: Any, reason: str) -> Iterator[Session]:
    """A session that sees every tenant. Use only for work no single principal owns:
    authentication, schedulers, migrations, seeding. `reason` documents why."""
    session = factory()
    bind_scope(session, AccessScope(unrestricted=True, reason=reason))
    try:
        yield session
    finally:
        session.close()
