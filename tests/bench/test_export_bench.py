"""`bench export` runs end to end, tiny (a smoke test: the figures are printed, not judged)."""

from __future__ import annotations

from leitstand.bench.export import bench_export


def test_bench_export_prints_its_figures(database_url: str, backend: str, capsys) -> None:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    report = bench_export(database_url, devices=3, days=2, out=lines.append)
    print("\n".join(lines))  # the figures, for whoever reads the test output

    assert report.backend == backend
    assert report.points == 3 * 2 * 96 * 4
    assert report.export.points == report.points and report.import_.points == report.points
    assert report.export.peak_rss_mb > 0 and report.import_.peak_rss_mb > 0 and report.export.size > 0
    printed = lines[-1]
    for figure in ("points/s", "peak RSS MB", "export", "import", "machine:"):
        assert figure in printed
