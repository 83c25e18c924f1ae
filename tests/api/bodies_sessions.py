"""Route-walk seed for the own browser sessions (/me/sessions/{session_id}): one open session of
the organisation's operator, so the walk aims at a real session of the victim."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from leitstand.auth.models import LoginSession
from leitstand.auth.secrets import new_token, token_digest
from leitstand.clock import clock
from tests.helpers.world import Organisation, World


def SEED(org: Organisation, world: World) -> dict[str, Any]:  # noqa: N802 - the walk's hook name
    login = LoginSession(user_id=org.operator.id, token_hash=token_digest(new_token()), csrf_token=new_token(),
                         second_factor_done=True, expires_at=clock.now() + timedelta(hours=12),
                         authenticated_at=clock.now(), user_agent=f"Browser {org.mark}")
    world.db.add(login)
    world.db.flush()
    return {"session_id": login.id}


BODIES: dict[tuple[str, str], Callable[[Organisation, World], dict[str, Any]]] = {}  # the routes take no body
