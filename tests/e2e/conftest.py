"""Reports each end-to-end flow's time at the end of the run."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    rows = []
    for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed"):
        for key, value in report.user_properties:
            if key == "flow_seconds":
                name, _, seconds = str(value).partition("=")
                rows.append((name, seconds, report.outcome))
    if rows:
        terminalreporter.section("release chain: time per flow")
        for name, seconds, outcome in rows:
            terminalreporter.write_line(f"{name:<14} {seconds:>6} s  {outcome}")
