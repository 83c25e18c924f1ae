"""A location's full name, as pages, notifications and PDFs show it: "Parkhaus Hbf › Haus A › Einfahrt".

`location_paths` names many sites at once: a site's path holds its ancestors' paths as
prefixes, so the names of all ancestors of a page's sites are one query by path, not one per
row. It runs on the caller's session: an ancestor the session does not see is left out, so
someone granted a single building reads the path from that building down, just as their
breadcrumb starts there.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.sites.models import Site
from leitstand.tenancy.models import path_prefixes

SEPARATOR = " › "


def location_paths(db: Session, site_ids: Iterable[int | None]) -> dict[int, str]:
    """The full path of each visible site among `site_ids`, outermost first; ids of sites
    the session does not see are missing from the answer. Two queries, however many sites."""
    wanted = sorted({site_id for site_id in site_ids if site_id is not None})
    if not wanted:
        return {}
    return paths_of(db, db.execute(select(Site.id, Site.path).where(Site.id.in_(wanted))).all())


def paths_of(db: Session, sites: Iterable[tuple[int, str]]) -> dict[int, str]:
    """The full paths of sites whose (id, path) the caller already holds: one query for the
    names of all their ancestors, found by path (unique and indexed) rather than by walking
    up parent by parent."""
    sites = list(sites)
    prefixes = {prefix for _, path in sites for prefix in path_prefixes(path)}
    if not prefixes:
        return {}
    names = dict(db.execute(select(Site.path, Site.name).where(Site.path.in_(sorted(prefixes)))).all())
    return {site_id: SEPARATOR.join(names[prefix] for prefix in path_prefixes(path) if prefix in names)
            for site_id, path in sites if path in names}


def location_path(db: Session, site_id: int | None) -> str | None:
    """One site's full path (see `location_paths`), None without a visible site."""
    return location_paths(db, [site_id]).get(site_id) if site_id is not None else None


def postal_address(site: Site) -> str:
    """"Street 1, 12345 Town", leaving out what is not filled in."""
    town = " ".join(part for part in (site.postal_code, site.city) if part)
    return ", ".join(part for part in (site.street, town) if part)


def nearest_address(db: Session, site: Site) -> str:
    """The postal address of `site` or, as rooms and areas rarely have one of their own, of
    the nearest visible site above it that has a street (else the nearest with a town)."""
    above = sorted(db.scalars(select(Site).where(Site.path.in_(path_prefixes(site.path)))),
                   key=lambda found: len(found.path), reverse=True)
    for wanted in (lambda found: found.street, lambda found: found.postal_code or found.city):
        found = next((candidate for candidate in above if wanted(candidate)), None)
        if found is not None:
            return postal_address(found)
    return ""
