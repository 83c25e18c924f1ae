"""Telemetry's port of ingest (leitstand.ingest.ports.WritePoints): a batch's readings as points."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from leitstand.telemetry.store import Point, write_points


class PointWriter:
    """Writes an ingest batch's points in its transaction (leitstand.telemetry.store).

    defer_rollups: on PostgreSQL, queue the new points for the rollup drainer instead of
    rolling them up in the batch (`write_points`).
    """

    point = Point

    def __init__(self, defer_rollups: bool = False) -> None:
        self.defer_rollups = defer_rollups

    def write(self, db: Session, points: Sequence[Point]) -> int:
        return write_points(db.connection(), points, defer_rollups=self.defer_rollups) if points else 0
