"""Walk every route of the API: as a user of another tenant, as the platform's support desk without
a release code, as a role without the permission, and with an API token narrowed to one scope.

The walk is driven by the application's own route table, so a new route is walked
as soon as it exists. A route that takes a request body needs an entry in BODIES
(how to aim it at the victim's data); without one this test fails and says so.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from leitstand.access.roles import ROLES
from leitstand.audit.models import AuditEntry
from leitstand.db.models import Base
from leitstand.permissions import Permission
from leitstand.tenancy.models import TenantKind
from leitstand.app import ApiOperation, api_operations
from tests.helpers.world import ALPHA_MARK, Organisation, World

# Routes about the caller's own login and account: no other tenant's record can be named in them.
SELF_SERVICE_PREFIXES = ("/api/v1/auth/", "/api/v1/me")
STATIC_ROUTES = {("GET", "/api/v1/roles")}  # the declared roles: the same data for everyone
# Endless streams cannot be read to the end; tests/state/test_live_stream.py walks them on a real server.
STREAMING_ROUTES = {("GET", "/api/v1/live")}
# Routes a device calls with its own credential (Authorization: Bearer <serial>:<secret>), never a
# user: they name no tenant's records, and a user's token gets 401 there. That one device cannot
# write another's data is tested in tests/transports/test_http_ingest.py.
# Authenticated by a device's credential, or by a network-server connection's webhook secret.
DEVICE_ROUTES_PREFIXES = ("/api/v1/ingest/", "/api/v1/lorawan/")

Body = Callable[[Organisation, World], dict[str, Any]]

BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/api/v1/tenants"): lambda org, w: {"parent_id": org.customer.id, "name": "Intruder GmbH"},
    ("PATCH", "/api/v1/tenants/{tenant_id}"): lambda org, w: {"name": "Intruder GmbH"},
    ("POST", "/api/v1/users"): lambda org, w: {
        "tenant_id": org.customer.id, "email": "intruder@example.org", "display_name": "Intruder", "send_invitation": False,
    },
    ("PATCH", "/api/v1/users/{user_id}"): lambda org, w: {"display_name": "Intruder"},
    ("POST", "/api/v1/role-grants"): lambda org, w: {
        "user_id": org.operator.id, "role": "read_only", "scope_kind": "tenant", "tenant_id": org.customer.id,
    },
    ("POST", "/api/v1/sites"): lambda org, w: {"kind": "area", "name": "Intruder", "parent_id": org.building.id},
    ("PATCH", "/api/v1/sites/{site_id}"): lambda org, w: {"name": "Intruder"},
    ("POST", "/api/v1/site-groups"): lambda org, w: {"tenant_id": org.customer.id, "name": "Intruder", "site_ids": [org.room.id]},
    ("PATCH", "/api/v1/site-groups/{group_id}"): lambda org, w: {"name": "Intruder"},
    ("POST", "/api/v1/devices"): lambda org, w: {
        "serial_number": "INTRUDER-0001", "type_key": "barrier", "tenant_id": org.customer.id, "name": "Intruder",
        "site_id": org.room.id,
    },
    ("PATCH", "/api/v1/devices/{device_id}"): lambda org, w: {"name": "Intruder"},
    ("POST", "/api/v1/devices/{device_id}/shares"): lambda org, w: {"tenant_id": org.end_customer.id if org.end_customer else org.customer.id},
    ("POST", "/api/v1/licenses"): lambda org, w: {"device_id": org.thermostat.id, "starts_on": "2026-01-01"},
    ("PATCH", "/api/v1/licenses/{license_id}"): lambda org, w: {"auto_renew": False},
    ("POST", "/api/v1/devices/{device_id}/commands"): lambda org, w: {"name": "open", "idempotency_key": "walk"},
    # The right claim secret of the victim's unclaimed thermostat, aimed at the victim's tenant and site.
    ("POST", "/api/v1/devices/claim"): lambda org, w: {
        "serial_number": org.thermostat.serial_number, "tenant_id": org.customer.id, "site_id": org.room.id,
        "claim_secret": f"{org.thermostat.serial_number.split('-')[0].lower()}-claim-secret-{org.thermostat.serial_number}",
    },
    # The caller's own account: nothing in these bodies can name another tenant's record.
    ("PATCH", "/api/v1/me"): lambda org, w: {"language": "en"},
    ("POST", "/api/v1/me/password"): lambda org, w: {"current_password": "wrong", "new_password": "a new passphrase, walked"},
    ("POST", "/api/v1/me/reauthenticate"): lambda org, w: {"password": "wrong", "totp_code": "000000"},
    ("POST", "/api/v1/me/totp"): lambda org, w: {"secret": "JBSWY3DPEHPK3PXP" * 2, "code": "000000"},
    ("POST", "/api/v1/me/yubikeys"): lambda org, w: {
        "name": "key", "private_id": "00" * 6, "aes_key": "00" * 16, "otp": "c" * 44,
    },
    ("POST", "/api/v1/me/webauthn"): lambda org, w: {"name": "key", "credential": {}, "state": "x"},
    ("POST", "/api/v1/me/tokens"): lambda org, w: {"name": "walk", "scopes": ["device.read"]},
}


# Later domains keep their entries beside them, in tests/api/bodies_<domain>.py: a dict BODIES,
# and optionally SEED(org, world) -> {path parameter: id}, which creates that domain's records of
# one organisation (committed by the walk) so its routes can be aimed at them.
SEEDS: list[Callable[[Organisation, World], dict[str, Any]]] = []
for _module_path in sorted(Path(__file__).parent.glob("bodies_*.py")):
    _module = importlib.import_module(f"tests.api.{_module_path.stem}")
    BODIES.update(_module.BODIES)
    if hasattr(_module, "SEED"):
        SEEDS.append(_module.SEED)


@pytest.fixture(autouse=True)
def _seed_later_domains(world: World) -> None:
    for organisation in (world.alpha, world.beta):
        for seed in SEEDS:
            organisation.extra_ids.update(seed(organisation, world))
    world.db.commit()
    # A seeded alarm is notified in the background; let that settle before the walk counts rows.
    assert world.app.state.notifier.wait_idle()


@dataclass(frozen=True)
class Operation(ApiOperation):
    @property
    def has_body(self) -> bool:
        return self.route.body_field is not None

    @property
    def is_self_service(self) -> bool:
        return self.path.startswith(SELF_SERVICE_PREFIXES) or (self.method, self.path) in STATIC_ROUTES

    @property
    def is_device_authenticated(self) -> bool:
        return self.path.startswith(DEVICE_ROUTES_PREFIXES)

    def url(self, org: Organisation) -> str:
        values = org.ids()
        values["key_id"] = org.security_key.id if "/webauthn/" in self.path else org.yubikey.id
        if "/shares/" in self.path:
            values["tenant_id"] = org.end_customer.id if org.end_customer else org.customer.id
        values.setdefault("kind", "telemetry")
        values.setdefault("command_id", "0123456789abcdef")
        values.setdefault("message_path", "uplink")  # a TTS webhook's path of a message type
        return self.path.format(**{name: values[name] for name in self.route.param_convertors})

    def body(self, org: Organisation, world: World) -> dict[str, Any] | None:
        if not self.has_body:
            return None
        maker = BODIES.get((self.method, self.path))
        if maker is None:
            pytest.fail(f"{self.method} {self.path} takes a body: add how to aim it at another tenant to BODIES")
        return maker(org, world)


def operations() -> Iterator[Operation]:
    for operation in api_operations():
        yield Operation(operation.method, operation.path, operation.route)


def snapshot(world: World) -> dict[str, int]:
    """Row counts of every table except the audit log, which a refused request may add to."""
    counts = {}
    for table in Base.metadata.sorted_tables:
        if table.name not in {AuditEntry.__tablename__, "login_throttles", "api_tokens"}:
            counts[table.name] = world.db.scalar(select(func.count()).select_from(table)) or 0
    return counts


@pytest.mark.parametrize("attacker_key", ["beta_admin", "platform_support"])
def test_every_route_refuses_another_tenants_data(world: World, attacker_key: str) -> None:
    """Beta's partner admin holds every permission on Beta's subtree; platform support holds the
    ticket permissions on the root tenant, but no release code, and Alpha's ticket is handed over
    to Alpha's partner. Aimed at Alpha's records, every route answers 403 or 404 and nothing of
    Alpha's changes or leaks."""
    if attacker_key == "platform_support":
        world.user_with_role(attacker_key, "platform_support", world.root)
    attacker = world.as_user(attacker_key)
    victim = world.alpha
    before = snapshot(world)
    walked = 0
    for operation in operations():
        if operation.path.startswith("/api/v1/auth/") or (operation.method, operation.path) in STREAMING_ROUTES:
            continue  # logins name no tenant's records (tests/auth); streams: see STREAMING_ROUTES
        targeted = bool(operation.route.param_convertors) or (operation.has_body and not operation.is_self_service)
        response = attacker.request(operation.method, operation.url(victim), json=operation.body(victim, world))
        walked += 1
        where = f"{operation.method} {operation.path} -> {response.status_code}"
        assert response.status_code < 500, where
        assert ALPHA_MARK not in response.text, f"{where} leaked Alpha's data"
        if operation.is_device_authenticated:
            assert response.status_code == 401, f"{where}: a user's token is no device credential"
        elif targeted:
            assert response.status_code in (403, 404), where
            assert response.headers["content-type"].startswith("application/problem+json"), where
    assert walked >= 40
    world.db.expire_all()
    assert snapshot(world) == before, "a cross-tenant request changed stored data"


def test_a_token_narrowed_to_device_reads_reaches_nothing_else(world: World) -> None:
    """Alpha's operator may do nearly everything in Alpha's organisation; a token of theirs scoped
    to device.read alone, aimed at Alpha's own records, reads devices and nothing else: every route
    of another permission answers 403, every route of the own account (/me) too, a device's route
    401, and nothing is stored. Logins and mailed links (/auth) take no token and are left out."""
    narrow = world.as_user("alpha_operator", scopes=[Permission.device_read.value])
    own = world.alpha
    before = snapshot(world)
    own_account = 0
    for operation in operations():
        if operation.path.startswith("/api/v1/auth/") or (operation.method, operation.path) in STREAMING_ROUTES:
            continue
        response = narrow.request(operation.method, operation.url(own), json=operation.body(own, world))
        where = f"{operation.method} {operation.path} -> {response.status_code} {response.text[:200]}"
        assert response.status_code < 500, where
        if operation.is_device_authenticated:
            assert response.status_code == 401, f"{where}: a user's token is no device credential"
        elif operation.path.startswith("/api/v1/me"):
            own_account += 1
            assert response.status_code == 403 and response.json()["type"].endswith("/forbidden"), where
        elif operation.permission not in (None, Permission.device_read):
            assert response.status_code == 403 and response.json()["type"].endswith("/forbidden"), where
    assert own_account >= 20
    world.db.expire_all()
    assert snapshot(world) == before, "a request beyond the token's scope changed stored data"


def test_collection_filters_aimed_at_another_tenant_find_nothing(world: World) -> None:
    attacker = world.as_user("beta_admin")
    victim = world.alpha
    filters = {
        "tenant_id": victim.customer.id, "site_id": victim.site.id, "user_id": victim.operator.id,
        "device_id": victim.barrier.id, "parent_id": victim.customer.id,
    }
    for operation in operations():
        if operation.method != "GET" or operation.route.param_convertors or operation.is_self_service:
            continue
        if (operation.method, operation.path) in STREAMING_ROUTES:
            continue
        accepted = {param.alias for param in operation.route.dependant.query_params}
        query = {name: value for name, value in filters.items() if name in accepted}
        response = attacker.get(operation.path, params=query)
        assert response.status_code in (200, 404), f"{operation.path} {query} -> {response.status_code}"
        assert ALPHA_MARK not in response.text, f"{operation.path} {query} leaked Alpha's data"


def test_every_unguarded_route_is_self_service(world: World) -> None:
    """A route without a permission check must be one of the caller's own (login, /me),
    or one a device calls with its own credential."""
    unguarded = [
        f"{op.method} {op.path}" for op in operations()
        if op.permission is None and not op.is_self_service and not op.is_device_authenticated
    ]
    assert unguarded == []


def roles_lacking(permission: Permission) -> list[str]:
    # Only roles made for customers can be given to the customer's users the walk creates.
    return [key for key, role in ROLES.items()
            if permission not in role.permissions and TenantKind.customer in role.tenant_kinds]


def test_every_guarded_route_refuses_a_role_without_its_permission(world: World) -> None:
    """For every route, a user of the target's own tenant whose roles lack the route's
    permission gets 403, whatever the target, and nothing is stored."""
    own = world.alpha
    world.user_with_role("nobody", None, own.customer)  # type: ignore[arg-type]
    lacking_users: dict[str, Any] = {"no grants at all": world.as_user("nobody")}
    checked = set()
    before = snapshot(world)
    for operation in operations():
        permission = operation.permission
        if permission is None:
            continue
        candidates = dict(lacking_users)
        for role in roles_lacking(permission)[:2]:
            key = f"{role}-user"
            if key not in world.users:
                world.user_with_role(key, role, own.customer)
            candidates[role] = world.as_user(key)
        for role, client in candidates.items():
            response = client.request(operation.method, operation.url(own), json=operation.body(own, world))
            where = f"{operation.method} {operation.path} as {role} (lacks {permission.value}) -> {response.status_code}"
            assert response.status_code == 403, where
            assert response.json()["type"].endswith("/forbidden"), where
        checked.add(permission)
    # own_tokens guards only /me.
    assert checked == set(Permission) - {Permission.own_tokens}
    world.db.expire_all()
    after = snapshot(world)
    added_users = {"users", "role_grants"}
    assert {k: v for k, v in after.items() if k not in added_users} == {k: v for k, v in before.items() if k not in added_users}
