"""Fixtures shared by the device tests. (The depot fleet, which the device list's tests in
tests/fleet use as well, is in tests/helpers/fleet.py.)"""

from __future__ import annotations

import pytest

from leitstand.devices import claiming


@pytest.fixture
def heard(app):  # type: ignore[no-untyped-def]
    """What the test app's credential listeners were told."""
    calls: list[tuple[str, str | None]] = []
    claiming.CREDENTIAL_CHANGES.listeners(app.state.session_factory).subscribe(
        lambda serial, secret: calls.append((serial, secret)))
    return calls
