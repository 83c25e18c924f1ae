"""The demo's simulated fleet: `leitstand simulate`'s devices, run inside `leitstand demo`.

A newcomer's `make demo` then shows live data at once. The fleet is one more component of
the demo's process: it starts after the broker and ingest it talks to, and stops first.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from leitstand.simulator.fleet import CONNACK_WAIT_SECONDS, Fleet, prepare_fleet

if TYPE_CHECKING:
    from leitstand.runtime import Process

log = logging.getLogger(__name__)

DEMO_FLEET_SIZE = 50  # as `leitstand simulate` by default
DEMO_REPORT_SECONDS = 10.0


def start_simulated_fleet(process: Process) -> None:
    """Log the demo's licensed barriers, bollards and thermostats in to this process's broker
    (with fresh credentials, as `leitstand simulate` does) and let them report until the process stops."""
    settings = process.settings  # the broker's address as the embedded broker actually took it
    # The process's factory: its credentials reach the broker-admin component that listens there.
    members = prepare_fleet(process.factory, DEMO_FLEET_SIZE)
    if not members:
        log.warning("no licensed barriers, bollards or thermostats: no simulated fleet")
        return
    fleet = Fleet(members, settings.mqtt_host, settings.mqtt_port, telemetry_every=DEMO_REPORT_SECONDS,
                  tls_ca_file=settings.mqtt_tls_ca_file or None)
    thread = threading.Thread(target=fleet.run, name="demo-fleet", daemon=True)
    thread.start()
    log.info("Simulating %d demo devices over mqtt://%s:%s (leitstand demo --no-simulate turns this off)",
             len(members), settings.mqtt_host, settings.mqtt_port)

    def stop() -> None:
        fleet.stop()
        thread.join(2 * CONNACK_WAIT_SECONDS)  # its last acknowledgements, then its goodbyes
        stats = fleet.stats
        log.info("demo fleet stopped: %d publishes acknowledged, %d commands answered, %d failures",
                 stats.acknowledged, stats.commands_answered, stats.failed)

    process.stoppers.append(stop)
