"""`bench ingest` and `bench command` run end to end, tiny (smoke tests: the figures are not judged)."""

from __future__ import annotations

import shutil

import pytest

from leitstand.bench.command import bench_command
from leitstand.bench.ingest import bench_ingest
from tests.conftest import service_unavailable

BROKERS = ["embedded", "mosquitto"]


def _need(broker: str) -> None:
    if broker == "mosquitto" and not (shutil.which("mosquitto") or shutil.which("/usr/sbin/mosquitto")):
        service_unavailable("Mosquitto is not installed")


@pytest.mark.parametrize("broker", BROKERS)
def test_bench_ingest_stores_everything_and_prints_figures(database_url: str, backend: str, broker: str) -> None:
    _need(broker)
    lines: list[str] = []

    report = bench_ingest(database_url, devices=20, rate=200, duration=2, broker=broker,
                          workers=2 if broker == "mosquitto" else 1, values=4, publishers=2, out=lines.append)

    assert report.backend == backend and report.broker == broker
    assert report.published == 400 and report.acknowledged == 400
    assert report.stored == 400 and report.points == 1600 and report.lost == 0 and report.rejected == 0
    assert report.latencies_ms and report.probes_lost == 0
    assert report.messages_per_second > 0 and report.points_per_second == pytest.approx(4 * report.messages_per_second)
    roles = [figure.role for figure in report.processes]
    assert sum(role.startswith("worker") for role in roles) == (2 if broker == "mosquitto" else 1)
    assert ("mosquitto" in roles) == (broker == "mosquitto")
    assert all(figure.peak_rss_mb > 0 for figure in report.processes if not figure.role.startswith("postgresql"))
    printed = lines[-1]
    for figure in ("messages/s", "data points/s", "p50", "p99", "lost: 0", "peak RSS", "machine:"):
        assert figure in printed


@pytest.mark.parametrize("broker", BROKERS)
def test_bench_command_measures_every_round_trip(database_url: str, backend: str, broker: str) -> None:
    _need(broker)
    lines: list[str] = []

    report = bench_command(database_url, commands=10, broker=broker, out=lines.append)

    assert report.backend == backend and report.broker == broker
    assert len(report.round_trips_ms) == 10 and report.timed_out == 0
    assert 0 < report.p50_ms <= report.p99_ms <= report.max_ms
    assert "p50" in lines[-1] and "p99" in lines[-1] and "machine:" in lines[-1]
