"""`bench portal` runs end to end, tiny (a smoke test: the figures are not judged)."""

from __future__ import annotations

from leitstand.bench.portal import bench_portal


def test_bench_portal_builds_the_fleet_and_prints_figures(database_url: str, backend: str) -> None:
    lines: list[str] = []

    report = bench_portal(database_url, devices=60, sites=3, chart_devices=2, requests=3, days=2, out=lines.append)

    assert report.backend == backend
    # 2 devices, 2 local days of quarter hours (92 to 100 on a daylight-saving change), 4 keys
    assert report.points % (2 * 4) == 0 and 2 * 4 * 2 * 92 <= report.points <= 2 * 4 * 2 * 100
    dashboard = next(page for page in report.pages if page.path == "/")
    assert dashboard.statuses == {200} and len(dashboard.timings_ms) == 3
    assert all(len(page.timings_ms) == 3 and page.p50_ms <= page.p95_ms <= page.max_ms for page in report.pages)
    printed = lines[-1]
    for figure in ("start dashboard", "device page", "p50", "p95", "max", "target p95", "machine:"):
        assert figure in printed
