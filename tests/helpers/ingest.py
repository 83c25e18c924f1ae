"""The ingest pipeline as a test builds it: on the domains' ports, as the composition root wires
them (leitstand.app.ingest_ports), but without the alarm rules that `ingestor_for` subscribes."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from leitstand.app import ingest_ports
from leitstand.ingest.pipeline import Ingestor


def bare_ingestor(factory: sessionmaker[Session], *, defer_rollups: bool = False, **options: Any) -> Ingestor:
    """options: those of Ingestor (live listeners, subscribers)."""
    return Ingestor(factory, ingest_ports(defer_rollups=defer_rollups), **options)
