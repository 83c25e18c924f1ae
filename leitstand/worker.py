"""The standalone MQTT ingest worker: `python -m leitstand.worker --name ingest-1`.

Role ingest's components (`leitstand.runtime.run_ingest_worker`: the worker, the rollup
drainer, the alarm notifier) on a broker running elsewhere and a database migrated already;
no migrations, no embedded broker. Settings come from the LEITSTAND_* variables. It lives on
the composition root's floor because it starts the start-up list, which the MQTT transport
(leitstand.transports.mqtt.worker) must not know.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from leitstand.config import Settings
from leitstand.runtime import IngestNameTaken, run_ingest_worker
from leitstand.transports.mqtt.worker import BATCH_MESSAGES
from leitstand.transports.native import topics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Leitstand MQTT ingest worker (settings from LEITSTAND_* variables)")
    parser.add_argument("--name", default="ingest-1", help="fixed per worker: its MQTT client id is leitstand-NAME")
    parser.add_argument("--batch-messages", type=int, default=BATCH_MESSAGES)
    parser.add_argument("--batch-ms", type=int, default=50)
    args = parser.parse_args(argv)
    if not topics.is_topic_level(args.name, max_length=40):
        parser.error(f"--name {args.name!r} must be one MQTT topic level of at most 40 characters")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run_ingest_worker(Settings(), name=args.name, batch_messages=args.batch_messages, batch_ms=args.batch_ms)
    except IngestNameTaken as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
