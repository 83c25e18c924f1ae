"""Export jobs in the background: one thread per job inside the API process.

Simple on purpose: an export is rare and long; a thread of the API process writes the zip to
data_dir/exports/<job id>-<name>.zip and updates the job's row (progress in percent) as it
goes, through its own short system sessions. The data itself is read through a session bound
to the requesting admin's scope, so the job sees exactly what the admin may see.

A job that was queued or running when its process stopped is shown as failed ("interrupted")
by `effective_state`; with several API processes each knows only its own threads, so run
exports from one API process (or use `leitstand export` on the command line).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from leitstand.audit.recorder import Actor, record
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.dataexport.export import export_tenant
from leitstand.dataexport.models import ExportJob, ExportState
from leitstand.tenancy.scope import AccessScope, bind_scope, system_session

log = logging.getLogger(__name__)

# job id → (its created_at, the thread): ids repeat across databases (tests), creation times do not.
_threads: dict[int, tuple[Any, threading.Thread]] = {}
_lock = threading.Lock()
INTERRUPTED = "interrupted: the process running the export stopped; request a new export"


def exports_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "exports"


def job_file(settings: Settings, job: ExportJob) -> Path:
    return exports_dir(settings) / f"{job.id}-{job.file_name}"


def _set(factory: sessionmaker[Session], job_id: int, **values: Any) -> None:
    with system_session(factory, reason="export job progress") as db:
        db.execute(update(ExportJob).where(ExportJob.id == job_id).values(**values))
        db.commit()


def run_job(factory: sessionmaker[Session], settings: Settings, job_id: int, tenant_id: int, file_name: str,
            scope: AccessScope, actor: Actor) -> None:
    """Do one export job to the end: done with size and SHA-256, or failed with the reason."""
    _set(factory, job_id, state=ExportState.running, started_at=clock.now())
    last = [-1.0]

    def progress(done: int, total: int, what: str) -> None:
        percent = round(100.0 * done / total, 1) if total else 100.0
        if percent - last[0] >= 1.0 or done >= total:
            last[0] = percent
            _set(factory, job_id, progress=min(percent, 99.9))

    target = exports_dir(settings) / f"{job_id}-{file_name}"
    db = bind_scope(factory(), scope)
    try:
        result = export_tenant(db, settings, tenant_id, target, progress)
        outcome = {"state": ExportState.done, "progress": 100.0, "size": result.size, "sha256": result.sha256,
                   "counts": result.counts}
    except Exception as error:  # noqa: BLE001 - any failure ends the job, with its reason shown
        log.exception("export job %s failed", job_id)
        outcome = {"state": ExportState.failed, "error": str(error)[:2000]}
    finally:
        db.close()
    _set(factory, job_id, finished_at=clock.now(), **outcome)
    with system_session(factory, reason="audit export job") as audit_db:
        record(audit_db, f"data_export.{outcome['state']}", tenant_id=tenant_id, target_type="export_jobs",
               target_id=job_id, outcome="success" if outcome["state"] == ExportState.done else "failure",
               details={key: value for key, value in outcome.items() if key in ("size", "sha256", "error")}, actor=actor)
        audit_db.commit()


def start(factory: sessionmaker[Session], settings: Settings, job: ExportJob, scope: AccessScope,
          actor: Actor) -> threading.Thread:
    thread = threading.Thread(target=run_job, name=f"export-{job.id}", daemon=True,
                              args=(factory, settings, job.id, job.tenant_id, job.file_name, scope, actor))
    with _lock:
        _threads[job.id] = (job.created_at, thread)
    thread.start()
    return thread


def wait(job_id: int, timeout: float | None = None) -> bool:
    """Block until the job's thread ends (tests, the CLI); True if it has ended."""
    with _lock:
        known = _threads.get(job_id)
    if known is not None:
        thread = known[1]
        thread.join(timeout)
        return not thread.is_alive()
    return True


def effective_state(job: ExportJob) -> tuple[str, str]:
    """(state, error) as the user should see it: a job no live thread works on is not running."""
    if job.state in (ExportState.queued, ExportState.running):
        with _lock:
            known = _threads.get(job.id)
        if known is None or known[0] != job.created_at:  # not started by this process: it was interrupted by a restart
            return ExportState.failed, INTERRUPTED
    return job.state, job.error
