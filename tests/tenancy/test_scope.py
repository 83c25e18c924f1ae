"""The tenant-scoping mechanism itself, on the ORM, without the API in between.

Every query through a scoped session is restricted by the session hook; every
write must stay inside the scope. These tests drive sessions directly so a
regression in the hook shows up here, not only as a leak in some endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from leitstand.devices.models import Device
from leitstand.licenses.models import License
from leitstand.sites.models import Site, SiteKind
from leitstand.tenancy.models import Tenant, new_path_segment
from leitstand.tenancy.scope import AccessScope, OutOfScope, UnscopedAccess, bind_scope, system_session


@contextmanager
def scoped(session_factory, scope: AccessScope) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    session = bind_scope(session_factory(), scope)
    try:
        yield session
    finally:
        session.close()


def tenant_scope(*tenants: Tenant) -> AccessScope:
    return AccessScope(tenant_paths=frozenset(tenant.path for tenant in tenants))


def stored_devices(session_factory, **where) -> list[Device]:  # type: ignore[no-untyped-def]
    with system_session(session_factory, reason="test check") as db:
        return list(db.scalars(select(Device).filter_by(**where)))


# --- a session without scope --------------------------------------------------------------


def test_a_session_without_scope_refuses_select(world, session_factory):
    with session_factory() as session, pytest.raises(UnscopedAccess):
        session.scalars(select(Device)).all()


def test_a_session_without_scope_refuses_get(world, session_factory):
    with session_factory() as session, pytest.raises(UnscopedAccess):
        session.get(Device, world.alpha.barrier.id)


def test_a_session_without_scope_refuses_count(world, session_factory):
    with session_factory() as session, pytest.raises(UnscopedAccess):
        session.scalar(select(func.count()).select_from(Device))


def test_a_session_without_scope_refuses_bulk_update(world, session_factory):
    with session_factory() as session, pytest.raises(UnscopedAccess):
        session.execute(update(Device).values(name="überall"))
    assert all(device.name != "überall" for device in stored_devices(session_factory))


# --- reading through a scope --------------------------------------------------------------


def test_select_finds_no_rows_of_another_tenant(world, session_factory):
    alpha, beta = world.alpha, world.beta
    with scoped(session_factory, tenant_scope(alpha.customer)) as session:
        devices = set(session.scalars(select(Device.id)))
        sites = set(session.scalars(select(Site.id)))
        tenants = set(session.scalars(select(Tenant.id)))
        licenses = set(session.scalars(select(License.id)))
        # A filter that names the other tenant explicitly still finds nothing.
        named = session.scalars(select(Device).where(Device.tenant_id == beta.customer.id)).all()

    assert devices == {alpha.barrier.id, alpha.thermostat.id}
    assert sites == {alpha.site.id, alpha.building.id, alpha.room.id}
    assert tenants == {alpha.customer.id, alpha.end_customer.id}
    assert licenses == {alpha.license.id}
    assert named == []


def test_get_finds_no_row_of_another_tenant(world, session_factory):
    alpha, beta = world.alpha, world.beta
    with scoped(session_factory, tenant_scope(alpha.customer)) as session:
        assert session.get(Device, alpha.barrier.id) is not None
        assert session.get(Device, beta.barrier.id) is None
        assert session.get(Site, beta.room.id) is None
        assert session.get(Tenant, beta.customer.id) is None
        assert session.get(License, beta.license.id) is None


def test_count_queries_see_only_the_scope(world, session_factory):
    with system_session(session_factory, reason="test check") as db:
        everywhere = db.scalar(select(func.count()).select_from(Device))
    with scoped(session_factory, tenant_scope(world.alpha.customer)) as session:
        count_star = session.scalar(select(func.count()).select_from(Device))
        count_column = session.scalar(select(func.count(Device.id)))
        legacy_count = session.query(Device).count()
        in_subquery = session.scalar(select(func.count()).select_from(select(Device.id).subquery()))

    assert everywhere == 4
    assert count_star == count_column == legacy_count == in_subquery == 2


def test_joins_are_restricted_on_every_entity(world, session_factory):
    with scoped(session_factory, tenant_scope(world.alpha.customer)) as session:
        rows = session.execute(select(Device.id, Site.id).join(Site, Site.id == Device.site_id)).all()

    assert {device_id for device_id, _ in rows} == {world.alpha.barrier.id, world.alpha.thermostat.id}


def test_bulk_update_does_not_reach_another_tenant(world, session_factory):
    beta_barrier = world.beta.barrier
    with scoped(session_factory, tenant_scope(world.alpha.customer)) as session:
        session.execute(update(Device).where(Device.id == beta_barrier.id).values(name="gekapert"))
        session.commit()

    assert stored_devices(session_factory, id=beta_barrier.id)[0].name == beta_barrier.name


def test_an_empty_scope_sees_nothing(world, session_factory):
    with scoped(session_factory, AccessScope()) as session:
        assert session.scalars(select(Device)).all() == []
        assert session.scalars(select(Tenant)).all() == []


def test_system_session_sees_every_tenant(world, session_factory):
    with system_session(session_factory, reason="test check") as db:
        assert db.scalar(select(func.count()).select_from(Device)) == 4


# --- writing through a scope --------------------------------------------------------------


def test_writing_a_row_into_another_tenant_raises_and_stores_nothing(world, session_factory):
    beta = world.beta
    with scoped(session_factory, tenant_scope(world.alpha.customer)) as session:
        session.add(Device(tenant_id=beta.customer.id, type_key="bollard", serial_number="SMUGGLED-0001", name="Trojaner"))
        with pytest.raises(OutOfScope):
            session.commit()
        session.rollback()

    assert stored_devices(session_factory, serial_number="SMUGGLED-0001") == []


def test_moving_an_own_row_out_of_the_scope_raises_and_changes_nothing(world, session_factory):
    # The thermostat, not the barrier: a shared device stays visible through its share.
    thermostat = world.alpha.thermostat
    with scoped(session_factory, tenant_scope(world.alpha.customer)) as session:
        device = session.get(Device, thermostat.id)
        assert device is not None
        device.tenant_id = world.beta.customer.id
        with pytest.raises(OutOfScope):
            session.flush()
        session.rollback()

    assert stored_devices(session_factory, id=thermostat.id)[0].tenant_id == world.alpha.customer.id


def test_a_child_tenant_below_another_tenant_is_out_of_scope(world, session_factory):
    beta = world.beta
    with scoped(session_factory, tenant_scope(world.alpha.customer)) as session:
        session.add(Tenant(parent_id=beta.customer.id, kind="end_customer", name="Untergeschoben",
                           path=f"{beta.customer.path}{new_path_segment()}/"))
        with pytest.raises(OutOfScope):
            session.flush()
        session.rollback()

    with system_session(session_factory, reason="test check") as db:
        assert db.scalar(select(Tenant).where(Tenant.name == "Untergeschoben")) is None


def test_writing_inside_the_scope_works(world, session_factory):
    alpha = world.alpha
    with scoped(session_factory, tenant_scope(alpha.customer)) as session:
        session.add(Device(tenant_id=alpha.customer.id, type_key="bollard", serial_number="ALPHA-POL-0001", name="Poller"))
        session.commit()

    assert len(stored_devices(session_factory, serial_number="ALPHA-POL-0001")) == 1


# --- grants narrower than a tenant, and sharing ---------------------------------------------


def test_a_site_scope_sees_the_sites_devices_only(world, session_factory, system_db):
    alpha = world.alpha
    other_site = Site(tenant_id=alpha.customer.id, kind=SiteKind.site, name="Alpha Lager", path=f"/{new_path_segment()}/")
    system_db.add(other_site)
    system_db.flush()
    elsewhere = Device(tenant_id=alpha.customer.id, type_key="gateway", serial_number="ALPHA-GW-0001",
                       name="Gateway Lager", site_id=other_site.id)
    unplaced = Device(tenant_id=alpha.customer.id, type_key="gateway", serial_number="ALPHA-GW-0002", name="Ohne Ort")
    system_db.add_all([elsewhere, unplaced])
    system_db.commit()

    with scoped(session_factory, AccessScope(site_paths=frozenset({alpha.site.path}))) as session:
        devices = set(session.scalars(select(Device.id)))
        sites = set(session.scalars(select(Site.id)))
        tenants = session.scalars(select(Tenant)).all()
        hidden = session.get(Device, elsewhere.id)

    assert devices == {alpha.barrier.id, alpha.thermostat.id}
    assert sites == {alpha.site.id, alpha.building.id, alpha.room.id}
    assert tenants == []
    assert hidden is None


def test_a_building_scope_does_not_see_the_site_above(world, session_factory):
    alpha = world.alpha
    with scoped(session_factory, AccessScope(site_paths=frozenset({alpha.building.path}))) as session:
        sites = set(session.scalars(select(Site.id)))

    assert sites == {alpha.building.id, alpha.room.id}


def test_a_device_scope_sees_exactly_that_device(world, session_factory):
    alpha = world.alpha
    with scoped(session_factory, AccessScope(device_ids=frozenset({alpha.thermostat.id}))) as session:
        devices = set(session.scalars(select(Device.id)))
        sites = session.scalars(select(Site)).all()

    assert devices == {alpha.thermostat.id}
    assert sites == []


def test_a_shared_device_is_visible_to_the_end_customers_scope(world, session_factory):
    alpha = world.alpha
    with scoped(session_factory, tenant_scope(alpha.end_customer)) as session:
        devices = set(session.scalars(select(Device.id)))
        licenses = set(session.scalars(select(License.id)))
        owner = session.get(Tenant, alpha.customer.id)

    assert devices == {alpha.barrier.id}
    assert licenses == {alpha.license.id}
    assert owner is None  # seeing a shared device does not open its owner's tenant


def test_another_end_customer_does_not_see_the_shared_device(world, session_factory, system_db):
    alpha = world.alpha
    neighbour = Tenant(parent_id=alpha.customer.id, kind="end_customer", name="Nachbar",
                       path=f"{alpha.customer.path}{new_path_segment()}/")
    system_db.add(neighbour)
    system_db.commit()

    with scoped(session_factory, tenant_scope(neighbour)) as session:
        assert session.scalars(select(Device)).all() == []
