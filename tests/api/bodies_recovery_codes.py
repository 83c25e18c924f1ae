"""Route-walk seed for recovery codes (/me/recovery-codes, /auth/login/recovery-code): the
organisation's operator, who has a YubiKey and a security key, holds a set of codes, so the walk's
row counts show that no other tenant's request replaces them. The routes of /me take no body, and
the login's second step names no tenant's record (the walk leaves /auth to tests/auth)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leitstand.auth import recovery_codes
from tests.helpers.world import Organisation, World


def SEED(org: Organisation, world: World) -> dict[str, Any]:  # noqa: N802 - the walk's hook name
    recovery_codes.create_set(world.db, org.operator.id, world.app.state.secret_box)
    return {}


BODIES: dict[tuple[str, str], Callable[[Organisation, World], dict[str, Any]]] = {
    ("POST", "/api/v1/auth/login/recovery-code"): lambda org, w: {"code": "ABCDE-FGHJK"},
}
