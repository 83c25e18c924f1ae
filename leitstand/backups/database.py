"""The two database backends as backups see them: copy, count, load into a scratch database, replace.

SQLite: the online backup API copies the database page by page under one read lock,
so the copy is consistent while the platform keeps writing. PostgreSQL: `pg_dump`
in custom format, run on a snapshot that the row counts are taken in as well.
The PostgreSQL tools get their connection from PG* environment variables; the
password travels in PGPASSWORD, never on a command line.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL, make_url

# Table names come from the database's own catalogue; quoting is still checked.
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LIBPQ_QUERY_ENV = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
                    "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT", "host": "PGHOST", "port": "PGPORT"}
# A restore that meets a running platform waits this long for its locks, then fails instead of hanging.
RESTORE_LOCK_TIMEOUT = "30s"


class BackupError(Exception):
    """A backup, check or restore could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the database and what was in it at that moment."""

    backend: str
    path: Path
    tables: dict[str, int]
    alembic_revision: str | None


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def quoted(name: str) -> str:
    if not _PLAIN_NAME.match(name):
        raise BackupError(f"unexpected table name {name!r}")
    return f'"{name}"'


# --- SQLite -------------------------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database).expanduser().resolve()


def _sqlite_tables(connection: sqlite3.Connection) -> dict[str, int]:
    names = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {name: connection.execute(f"SELECT count(*) FROM {quoted(name)}").fetchone()[0] for name in names}


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def dump_sqlite(url: str, target: Path) -> Snapshot:
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"there is no SQLite database at {source_path} (run `leitstand init` first)")
    with closing(sqlite3.connect(source_path, timeout=30)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
        # The copy stands alone: one file, no write-ahead log beside it.
        copy.execute("PRAGMA journal_mode=DELETE")
        return Snapshot("sqlite", target, _sqlite_tables(copy), _sqlite_revision(copy))


def inspect_sqlite_copy(path: Path) -> tuple[dict[str, int], str | None, str]:
    """Row counts, revision and integrity_check result of a SQLite database file."""
    with closing(sqlite3.connect(path)) as connection:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        return _sqlite_tables(connection), _sqlite_revision(connection), integrity


def replace_sqlite(url: str, copy: Path) -> None:
    """Make the configured SQLite database a copy of `copy`, in one write transaction.

    The online backup API writes into the live file under SQLite's own lock, so readers
    see the old or the new database, never a mix, and the write-ahead log stays
    consistent. (Renaming a file over the database would leave its old -wal and -shm
    files behind, which SQLite would then apply to the new file.)
    """
    live_path = sqlite_path(url)
    live_path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(copy)) as source, closing(sqlite3.connect(live_path, timeout=30)) as live:
        source.backup(live)
        live.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# --- PostgreSQL ---------------------------------------------------------------------------


def find_tool(name: str) -> str:
    """A PostgreSQL client program: on PATH, else the newest in /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", Path(path).parent.parent.name))

    if candidates:
        return max(candidates, key=version)
    raise BackupError(f"{name} was not found on PATH or in /usr/lib/postgresql/*/bin; install the PostgreSQL "
                      f"client programs (Debian: apt-get install postgresql-client) in the server's major version")


def _pg_url(url: str) -> URL:
    return make_url(url).set(drivername="postgresql+psycopg")


def pg_environment(url: str, **extra: str) -> dict[str, str]:
    """The connection of `url` as libpq environment variables, for pg_dump and pg_restore."""
    parsed = make_url(url)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    for key, value in {"PGHOST": parsed.host, "PGPORT": parsed.port, "PGUSER": parsed.username,
                       "PGPASSWORD": parsed.password, "PGDATABASE": parsed.database}.items():
        if value is not None:
            environment[key] = str(value)
    for parameter, variable in _LIBPQ_QUERY_ENV.items():
        value = parsed.query.get(parameter)
        if value is not None:
            environment[variable] = value if isinstance(value, str) else value[0]
    environment.update(extra)
    return environment


def _run(command: list[str], environment: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")


def _pg_tables(connection: Connection) -> list[str]:
    # Partitions are counted through their parent table; pg_dump and pg_restore carry them along.
    return list(connection.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
        "ORDER BY c.relname")).scalars())


def pg_counts(connection: Connection) -> tuple[dict[str, int], str | None]:
    tables = {name: int(connection.execute(text(f"SELECT count(*) FROM {quoted(name)}")).scalar_one())
              for name in _pg_tables(connection)}
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar() \
        if "alembic_version" in tables else None
    return tables, revision


def dump_postgresql(url: str, target: Path) -> Snapshot:
    pg_dump = find_tool("pg_dump")
    engine = create_engine(_pg_url(url))
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
            with connection.begin():
                connection.execute(text("SET TRANSACTION READ ONLY"))
                # pg_dump reads the snapshot this transaction exports, so the counts describe the dump exactly.
                snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                tables, revision = pg_counts(connection)
                _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={target}"],
                     pg_environment(url), "pg_dump")
    finally:
        engine.dispose()
    return Snapshot("postgresql", target, tables, revision)


@contextmanager
def scratch_postgresql(url: str) -> Iterator[str]:
    """A throw-away database on the configured server, dropped afterwards."""
    name = f"leitstand_verify_{secrets.token_hex(4)}"
    admin = create_engine(_pg_url(url), isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as error:  # noqa: BLE001 - whatever the reason, say what is needed
            raise BackupError(f"could not create the scratch database {name} (the configured user needs "
                              f"CREATEDB): {error}") from None
        try:
            yield make_url(url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def load_postgresql(url: str, dump: Path) -> None:
    """pg_restore the dump into the (empty) database of `url`, in one transaction.

    Owners and grants are not restored: everything belongs to the configured user.
    """
    database = make_url(url).database
    if not database:
        raise BackupError("the database URL names no database")
    _run([find_tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction",
          f"--dbname={database}", str(dump)], pg_environment(url), "pg_restore")


def _commit_if_complete(tables: dict[str, int], revision: str | None) -> bytes:
    """SQL that aborts the transaction unless every table holds the manifest's rows, then COMMIT."""
    checks = [f"IF (SELECT count(*) FROM public.{quoted(name)}) <> {int(count)} THEN "
              f"RAISE EXCEPTION 'restored table {name} does not hold the {int(count)} rows of the backup'; END IF;"
              for name, count in sorted(tables.items())]
    if revision is not None:
        literal = "'" + revision.replace("'", "''") + "'"
        checks.append(f"IF (SELECT max(version_num) FROM public.alembic_version) IS DISTINCT FROM {literal} THEN "
                      f"RAISE EXCEPTION 'restored schema is not at revision {revision.replace(chr(39), '')}'; END IF;")
    # The leading ";" ends whatever an incomplete script left open, so it fails instead of being dropped.
    return ("\n;\nDO $check$ BEGIN\n" + "\n".join(checks) + "\nEND $check$;\nCOMMIT;\n").encode()


def replace_postgresql(url: str, dump: Path, tables: dict[str, int], revision: str | None) -> None:
    """Replace the schema of the configured database with the dump's, in one transaction.

    tables, revision: the manifest's row counts and Alembic revision. They are checked
    inside the transaction, which commits only if the restored database holds exactly them.

    `DROP SCHEMA public CASCADE`, `CREATE SCHEMA public` and the dump's SQL (pg_restore's
    script output) run through psql in one transaction: it ends in the backup's state or,
    on any error, in the state before. Nothing made after the backup survives (tables of
    later migrations, telemetry partitions). `pg_restore --clean` cannot do this: it stumbles
    over the constraints of partitioned tables and leaves objects the dump does not know.
    """
    database = make_url(url).database
    if not database:
        raise BackupError("the database URL names no database")
    # Without the notices (DROP ... CASCADE lists every object), psql's error output stays small.
    environment = pg_environment(
        url, PGOPTIONS=f"-c lock_timeout={RESTORE_LOCK_TIMEOUT} -c client_min_messages=warning")
    # psql runs the transaction; the checks and COMMIT are sent only once pg_restore has produced
    # the whole script. Without them (pg_restore failed) psql ends and the server rolls back.
    psql = subprocess.Popen(
        [find_tool("psql"), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", f"--dbname={database}", "--file=-"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment)
    assert psql.stdin is not None and psql.stderr is not None
    restore: subprocess.CompletedProcess[bytes] | None = None
    try:
        psql.stdin.write(b"BEGIN;\nDROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n")
        psql.stdin.flush()
        restore = subprocess.run([find_tool("pg_restore"), "--no-owner", "--no-acl", "--file=-", str(dump)],
                                 stdout=psql.stdin, stderr=subprocess.PIPE, env=environment, check=False)
        if restore.returncode == 0:
            psql.stdin.write(_commit_if_complete(tables, revision))
    except BrokenPipeError:
        pass  # psql stopped at an error; its exit code and message tell
    finally:
        try:
            psql.stdin.close()
        except BrokenPipeError:
            pass
    errors = psql.stderr.read().decode(errors="replace")
    psql.wait()
    if psql.returncode != 0:
        raise BackupError(f"restoring through psql failed (exit {psql.returncode}); the database is unchanged: "
                          f"{errors.strip()[-2000:]}")
    if restore is None or restore.returncode != 0:
        detail = restore.stderr.decode(errors="replace").strip()[-2000:] if restore else "it did not run"
        raise BackupError(f"pg_restore failed; the database is unchanged: {detail}")


def inspect_postgresql(url: str) -> tuple[dict[str, int], str | None]:
    engine = create_engine(_pg_url(url))
    try:
        with engine.connect() as connection:
            return pg_counts(connection)
    finally:
        engine.dispose()


def dump(url: str, target: Path) -> Snapshot:
    target.parent.mkdir(parents=True, exist_ok=True)
    return dump_sqlite(url, target) if backend_of(url) == "sqlite" else dump_postgresql(url, target)
