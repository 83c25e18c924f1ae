"""`bench alarms` runs end to end, tiny (a smoke test: the figures are not judged)."""

from __future__ import annotations

from leitstand.bench.alarms import bench_alarms


def test_bench_alarms_dispatches_every_alarm_and_prints_figures(database_url: str, backend: str) -> None:
    lines: list[str] = []

    report = bench_alarms(database_url, rate=20, seconds=1, out=lines.append)

    assert report.backend == backend
    assert report.sent_messages == report.alarms == 20
    assert report.dispatched == report.received == 20 and report.failed == 0
    assert len(report.latencies_ms) == 20 and 0 <= report.p50_ms <= report.p99_ms <= report.max_ms
    printed = lines[-1]
    for figure in ("alarms raised: 20", "notifications dispatched: 20", "p50", "p99", "max", "machine:"):
        assert figure in printed
