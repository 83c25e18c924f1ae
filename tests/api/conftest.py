from __future__ import annotations

import pytest

from tests.helpers.schemathesis_runs import RUNS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    runs = config.stash.get(RUNS, [])
    if runs:
        terminalreporter.write_sep("-", "schemathesis: operations and cases run")
        for run in runs:
            terminalreporter.write_line(run.line())
