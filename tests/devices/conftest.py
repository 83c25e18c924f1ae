"""Fixtures shared by the device tests. (The depot fleet, which the device list's tests in
tests/fleet use as well, is in tests/helpers/fleet.py.)"""

from __future__ import annotations

import pytest

from leitstand.devices import claiming


@pytest.fixture
def heard():  # type: ignore[no-untyped-def]
    """What the credential listeners were told."""
    calls: list[tuple[str, str | None]] = []
    listener = lambda serial, secret: calls.append((serial, secret))  # noqa: E731
    claiming.credential_listeners.append(listener)
    yield calls
    claiming.credential_listeners.remove(listener)
