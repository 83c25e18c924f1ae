"""`leitstand bench alarms`: from a device's error message to the notification dispatched.

In this process, on a throw-away database: a fleet of licensed barriers, a routing
rule that sends every alarm to a signed webhook, and a local webhook receiver (an
HTTP server on 127.0.0.1 that answers 200). The load is the real path: error-event
`DeviceMessage`s go into the Ingestor in batches every 100 ms at the requested rate,
the alarms domain's evaluation raises an alarm per message (each device/code pair
once, so every message is a new alarm), and the notifier routes and sends it.

Latency per alarm is what the delivery records: from the message's `received_at` to
the moment the webhook receiver had answered (`notification_deliveries.latency_ms`).
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

from sqlalchemy import select
from sqlalchemy.engine import make_url

from leitstand.bench import machine_line, percentile, throwaway_database

TICK_SECONDS = 0.1
SECRET = "whsec-bench-receiver"


@dataclass
class AlarmBenchReport:
    backend: str
    rate: int
    seconds: float
    sent_messages: int = 0
    alarms: int = 0
    dispatched: int = 0
    failed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    received: int = 0
    machine: str = ""

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms, default=0.0)


class _Receiver:
    """The integration's endpoint: counts requests, answers 200 at once."""

    def __init__(self) -> None:
        receiver = self
        self.count = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy would

            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _prepare(factory, box, devices: int, receiver_url: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Licensed barriers at a site of one customer, a webhook and a rule sending every alarm to it."""
    from leitstand.bootstrap import root_tenant
    from leitstand.devices.models import Device
    from leitstand.licenses.models import License
    from leitstand.notifications.models import RoutingRule, Webhook
    from leitstand.sites.models import Site, SiteKind
    from leitstand.tenancy.models import Tenant, TenantKind, new_path_segment
    from leitstand.tenancy.scope import system_session

    with system_session(factory, reason="bench alarms prepares") as db:
        root = root_tenant(db)
        assert root is not None
        customer = Tenant(parent_id=root.id, kind=TenantKind.customer, name="Bench Parken GmbH",
                          path=f"{root.path}{new_path_segment()}/", time_zone="Europe/Berlin")
        db.add(customer)
        db.flush()
        site = Site(tenant_id=customer.id, kind=SiteKind.site, name="Bench car park", path=f"/{new_path_segment()}/")
        db.add(site)
        db.flush()
        serials = [f"BENCH-ALM-{n:05d}" for n in range(devices)]
        starts = date.today() - timedelta(days=10)
        for serial in serials:
            device = Device(tenant_id=customer.id, type_key="barrier", serial_number=serial, name=f"Barrier {serial}",
                            site_id=site.id, claimed_at=datetime.now(UTC))
            db.add(device)
            db.flush()
            db.add(License(device_id=device.id, tenant_id=customer.id, starts_on=starts,
                           ends_on=starts + timedelta(days=365), term_months=12, auto_renew=False))
        hook = Webhook(tenant_id=customer.id, name="Bench ERP", url=receiver_url,
                       secret_encrypted=box.seal(SECRET.encode()))
        db.add(hook)
        db.flush()
        db.add(RoutingRule(tenant_id=customer.id, name="everything to the ERP", severities=[], site_ids=[],
                           device_type_keys=[], user_ids=[], roles=[], channels=["webhook"], webhook_ids=[hook.id],
                           escalation_user_ids=[], escalation_roles=[]))
        db.commit()
        return serials


def bench_alarms(database_server: str, *, rate: int = 100, seconds: float = 10.0,
                 out: Callable[[str], None] = print) -> AlarmBenchReport:
    from leitstand.auth.secrets import SecretBox
    from leitstand.bootstrap import initialise
    from leitstand.config import Settings
    from leitstand.db.engine import make_engine
    from leitstand.db.models import make_session_factory
    from leitstand.devicetypes.spec import spec_for
    from leitstand.ingest.message import DeviceMessage, MessageKind
    from leitstand.notifications.dispatch import start_notifier, stop_notifier
    from leitstand.notifications.models import Delivery
    from leitstand.app import ingestor_for
    from leitstand.tenancy.scope import system_session

    if rate < 1 or seconds <= 0:
        raise ValueError("rate >= 1 and seconds > 0")
    logging.getLogger("leitstand").setLevel(logging.WARNING)
    codes = [error.code for error in spec_for("barrier").errors]
    total = max(1, round(rate * seconds))
    devices = math.ceil(total / len(codes))

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leitstand-bench-alarms-")))
        url = stack.enter_context(throwaway_database(database_server))
        backend = "sqlite" if url.startswith("sqlite") else "postgresql"
        out(f"bench alarms: {backend} at {make_url(url).render_as_string(hide_password=True)}, "
            f"{rate} alarms/s for {seconds:g} s ({total} alarms on {devices} barriers) to a local webhook")
        settings = Settings(database_url=url, data_dir=folder, secret_key="bench", public_url="http://127.0.0.1:8000")
        engine = make_engine(settings.effective_database_url)
        stack.callback(engine.dispose)
        factory = make_session_factory(engine)
        initialise(settings, factory)
        receiver = _Receiver()
        stack.callback(receiver.stop)
        serials = _prepare(factory, SecretBox(settings.resolved_secret_key()), devices, receiver.url)
        notifier = start_notifier(settings, factory)
        stack.callback(lambda: stop_notifier(notifier))
        ingestor = ingestor_for(factory)

        pairs = [(serial, code) for code in codes for serial in serials][:total]
        per_tick = max(1, round(rate * TICK_SECONDS))
        report = AlarmBenchReport(backend, rate, seconds, machine=machine_line())
        started = time.perf_counter()
        for tick, first in enumerate(range(0, len(pairs), per_tick)):
            # Paced against the start, so a slow batch is caught up rather than stretching the run.
            delay = started + tick * TICK_SECONDS - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            now = datetime.now(UTC)
            batch = [DeviceMessage(serial=serial, kind=MessageKind.event, received_at=now, sent_at=now,
                                   event_code=code) for serial, code in pairs[first:first + per_tick]]
            ingestor.accept(batch)
            report.sent_messages += len(batch)
        if not notifier.wait_idle(120):
            out("warning: notifications still queued after 120 s")
        with system_session(factory, reason="bench alarms reads results") as db:
            from leitstand.alarms.models import Alarm

            report.alarms = len(db.scalars(select(Alarm.id)).all())
            rows = db.execute(select(Delivery.outcome, Delivery.latency_ms)).all()
        report.dispatched = sum(1 for outcome, _ in rows if outcome == "delivered")
        report.failed = len(rows) - report.dispatched
        report.latencies_ms = [latency for outcome, latency in rows if outcome == "delivered" and latency is not None]
        report.received = receiver.count
        out(f"messages: {report.sent_messages}, alarms raised: {report.alarms}, notifications dispatched: "
            f"{report.dispatched} (failed: {report.failed}, received by the webhook: {report.received}); "
            f"device message -> notification dispatched: p50 {report.p50_ms:.0f} ms, p99 {report.p99_ms:.0f} ms, "
            f"max {report.max_ms:.0f} ms (target p99 <= 1000 ms); {report.machine}")
        return report
