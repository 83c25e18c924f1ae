"""Access rules over materialised paths, written once.

Tenants and sites carry their place in the tree as a path of segments, each closed by a
slash: "/a/" is a root, "/a/b/" a child of it (tenancy.models, sites.locations). A path
lies within another if it is that path or one below it. The closing slash is what keeps
a sibling with a common string prefix ("/a/bc/" next to "/a/b/") outside; the rules add
it where a caller forgot, and treat an empty path as nowhere (fail closed).

Each rule has a Python form (over loaded rows) and a SQL form (in a query's WHERE), and
the two agree (tests/access/test_rules.py).

Grant sources: where a principal's grants come from besides the user's own role grants.
They are named here, so that `auth.principal` loads them without importing the domains
that own them (which in turn read `ResolvedGrant` from here, not from `auth`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import false, or_

from leitstand.access.roles import ROLES, ScopeKind
from leitstand.permissions import Permission

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session


def _closed(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def within(path: str | None, ancestor: str | None) -> bool:
    """`path` is `ancestor` or lies below it."""
    if not path or not ancestor:
        return False
    return _closed(path).startswith(_closed(ancestor))


def strictly_below(path: str | None, ancestor: str | None) -> bool:
    """`path` lies below `ancestor`, not at it."""
    return within(path, ancestor) and _closed(path or "") != _closed(ancestor or "")


def within_tenant(tenant_path: str | None, ancestor_tenant_path: str | None) -> bool:
    """A tenant at `tenant_path` is the tenant at `ancestor_tenant_path` or one of its descendants."""
    return within(tenant_path, ancestor_tenant_path)


def below_site(site_path: str | None, ancestor_site_path: str | None) -> bool:
    """A site at `site_path` is the site at `ancestor_site_path` or one of the sites below it."""
    return within(site_path, ancestor_site_path)


def path_within(column: Any, ancestor: str | None) -> ColumnElement[bool]:
    """SQL: the row's path column is `ancestor` or lies below it (see `within`)."""
    if not ancestor:
        return false()
    return column.startswith(_closed(ancestor), autoescape=True)


def path_within_any(column: Any, ancestors: Iterable[str]) -> ColumnElement[bool]:
    """SQL: the row's path column lies within one of `ancestors`; none given, nothing does."""
    closed = sorted({_closed(ancestor) for ancestor in ancestors if ancestor})
    if not closed:
        return false()
    return or_(*(column.startswith(ancestor, autoescape=True) for ancestor in closed))


# --- grants ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedGrant:
    """A role grant with the path or id of what it covers, ready for scoping."""

    role: str
    kind: ScopeKind
    tenant_path: str | None = None
    site_path: str | None = None
    device_id: int | None = None
    # Set on grants that come from a redeemed support-access release code (leitstand.support.access).
    support_code_id: int | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        role = ROLES.get(self.role)
        return role.permissions if role else frozenset()

    @property
    def desk_only(self) -> bool:
        role = ROLES.get(self.role)
        return bool(role and role.desk_only)

    @property
    def covers_everything(self) -> bool:
        # A grant on the root tenant (path "/xxxxxxxx/") reaches every tenant.
        return self.kind == ScopeKind.tenant and self.tenant_path is not None and self.tenant_path.count("/") == 2


GrantSource = Callable[["Session", int, tuple[ResolvedGrant, ...]], tuple[ResolvedGrant, ...]]

# Each source gets (system session, user id, the user's own grants) and returns grants to add.
GRANT_SOURCES: tuple[str, ...] = (
    "leitstand.support.access:support_access_grants",  # release codes platform support redeemed
)


@cache
def grant_sources() -> tuple[GrantSource, ...]:
    loaded = []
    for name in GRANT_SOURCES:
        module, _, function = name.partition(":")
        loaded.append(getattr(importlib.import_module(module), function))
    return tuple(loaded)


def with_granted(db: Session, user_id: int, grants: tuple[ResolvedGrant, ...]) -> tuple[ResolvedGrant, ...]:
    """The user's own grants plus what every grant source adds."""
    for source in grant_sources():
        grants = grants + source(db, user_id, grants)
    return grants
