"""The test device types (tests/devicetypes/catalog), declared while a test runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from leitstand.devicetypes.spec import DeviceTypeSpec, extra_catalog, spec_for

TEST_CATALOG = Path(__file__).parent / "catalog"


@pytest.fixture
def binary_thermostat() -> Iterator[DeviceTypeSpec]:
    """A thermostat type that speaks the binary payload of `thermostat-binary-v1`."""
    with extra_catalog(TEST_CATALOG):
        yield spec_for("binary_thermostat")
