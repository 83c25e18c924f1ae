"""The scheduled backup: one when the newest in backup_dir is `backup_every_days` old.

The scheduler asks hourly; "due" is decided from the archives' names, so a backup made
by hand with `leitstand backup` also counts. The outcome is logged and written to the
audit log with the actor "system".
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from leitstand.audit.recorder import SYSTEM_ACTOR, record
from leitstand.backups.backup import archive_time, create_backup, list_backups
from leitstand.backups.database import backend_of, sqlite_path
from leitstand.clock import clock
from leitstand.config import Settings

log = logging.getLogger(__name__)


def is_due(settings: Settings) -> bool:
    backups = list_backups(settings.backups_path)
    newest = archive_time(backups[-1]) if backups else None
    return newest is None or clock.now() - newest >= timedelta(days=settings.backup_every_days)


def _same_database(configured: str, bound: str) -> bool:
    if backend_of(configured) != backend_of(bound):
        return False
    if backend_of(configured) == "sqlite":
        return sqlite_path(configured) == sqlite_path(bound)
    one, other = make_url(configured), make_url(bound)
    return (one.host, one.port or 5432, one.database) == (other.host, other.port or 5432, other.database)


def run_if_due(db: Session, settings: Settings) -> str:
    """The scheduler job: back up if due. Returns the outcome in words; never raises."""
    bound = db.get_bind().url.render_as_string(hide_password=False)
    if not _same_database(settings.effective_database_url, bound):
        # Never back up one database under another's settings (and into its folder).
        log.warning("scheduled backup skipped: the settings name %s, the scheduler runs on another database",
                    make_url(settings.effective_database_url).render_as_string(hide_password=True))
        return "skipped: the settings name another database"
    if not is_due(settings):
        return "not due"
    try:
        result = create_backup(settings)
    except Exception as error:  # noqa: BLE001 - a failed backup is recorded, then retried next hour
        log.exception("scheduled backup failed")
        record(db, "backup.create", outcome="failure", actor=SYSTEM_ACTOR, target_type="backup",
               details={"error": str(error)[:500]})
        db.commit()
        return f"failed: {error}"
    log.info("scheduled backup written: %s (%d older deleted)", result.archive, len(result.deleted))
    record(db, "backup.create", actor=SYSTEM_ACTOR, target_type="backup", target_id=_short(result.archive),
           details={"archive": str(result.archive), "rows": sum(result.manifest.tables.values()),
                    "files": len(result.manifest.files), "deleted": [path.name for path in result.deleted]})
    db.commit()
    return f"written: {result.archive.name}"


def _short(path: Path) -> str:
    return path.name[:60]  # the audit log's target_id holds 60 characters
