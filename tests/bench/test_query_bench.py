"""`bench query` runs end to end on a tiny fleet (a smoke test: the figures are not judged)."""

from __future__ import annotations

from leitstand.bench.query import bench_query


def test_bench_query_seeds_times_and_prints(settings):
    lines: list[str] = []

    report = bench_query(settings, devices=3, runs=2, out=lines.append)

    assert report.points_seeded == 35_040 + 2 * 7 * 96
    assert [figure.rows for figure in report.figures] == [365, 3 * 7 * 96, 12, 12]
    assert all(0 < figure.median_ms <= figure.p95_ms for figure in report.figures)
    assert "median ms" in lines[-1] and "7 days raw" in lines[-1]
