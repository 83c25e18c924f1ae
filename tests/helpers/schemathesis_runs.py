"""What each schemathesis run covered, kept for the end of the session (tests/api/conftest.py
prints it), so the CI log shows how many operations and generated cases each role ran."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

RUNS = pytest.StashKey[list["SchemathesisRun"]]()


@dataclass(frozen=True)
class SchemathesisRun:
    backend: str
    role: str
    operations: int
    cases_by_phase: dict[str, int]
    seconds: float

    def line(self) -> str:
        phases = ", ".join(f"{phase} {count}" for phase, count in sorted(self.cases_by_phase.items()))
        return (f"{self.backend:<10} {self.role:<14} {self.operations} operations, "
                f"{sum(self.cases_by_phase.values())} cases ({phases}), {self.seconds:.0f} s")


def record_run(config: pytest.Config, run: SchemathesisRun) -> None:
    config.stash.setdefault(RUNS, []).append(run)
