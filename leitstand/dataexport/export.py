"""Writing an export: a tenant and its subtree to a zip, streamed.

Rows are read in chunks (`yield_per`: a server-side cursor on PostgreSQL) and written to
the zip as they come; telemetry goes per device and key, on PostgreSQL straight from
`COPY … TO STDOUT` into the zip without a Python object per point. Nothing holds a whole
table in memory except the id → content-hash maps of the tables others refer to and the
time of each telemetry file's first point (which rollups to export depends on it).

All reads go through the session the caller passes: a system session for the CLI (which
names the tenant explicitly), the requesting admin's scoped session for the API, so the
scoping hook restricts every ORM query on top of the explicit subtree filter. The
PostgreSQL telemetry COPY is raw SQL; it reads only devices that came out of the scoped
device query.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from sqlalchemy import ColumnElement, Float, Select, func, select, text
from sqlalchemy.orm import Session

from leitstand import __version__
from leitstand.access.rules import path_within
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.dataexport import manifest as fmt
from leitstand.db.models import Base
from leitstand.devices.models import Device
from leitstand.maintenance import book
from leitstand.telemetry.drainer import RollupDrainer
from leitstand.telemetry.models import MARKED, TelemetryPoint, TelemetryRollup
from leitstand.tenancy.models import Tenant

Progress = Callable[[int, int, str], None]
CHUNK_ROWS = 2000
ROLLUP_DEVICE_GROUP = 200
BUFFER_BYTES = 1 << 20


class ExportFailed(Exception):
    """The export could not be made (unknown tenant, unwritable target)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    size: int
    sha256: str
    counts: dict[str, int]
    manifest: dict[str, Any]


class _HashingWriter:
    """Buffers writes into a zip member and keeps its SHA-256 and size (complete after `flush`).

    A COPY hands over one row at a time: `write` only appends, the rest happens per buffer.
    """

    EDGE_BYTES = 4096  # longer than any telemetry line

    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.hash, self.size, self.buffer = target, hashlib.sha256(), 0, bytearray()
        self.quoted = False  # whether a '"' was written: CSV with quoted fields (see the importer)
        self.head, self.tail = b"", b""  # the first and last EDGE_BYTES written

    def write(self, data: bytes | memoryview) -> None:
        self.buffer += data
        if len(self.buffer) >= BUFFER_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            block = bytes(self.buffer)
            self.buffer.clear()
            self.hash.update(block)
            self.quoted = self.quoted or b'"' in block
            self.size += len(block)
            if len(self.head) < self.EDGE_BYTES:
                self.head = (self.head + block[:self.EDGE_BYTES])[:self.EDGE_BYTES]
            self.tail = (self.tail + block[-self.EDGE_BYTES:])[-self.EDGE_BYTES:]
            self.target.write(block)

    def first_field_of_line(self, line: int) -> str:
        """The first CSV field of line `line` (0 = the header), from the head: for a telemetry
        file the time, which is never quoted, so a quoted field further on cannot mislead."""
        return self.head.split(b"\n", line + 1)[line].split(b",", 1)[0].decode()

    def first_field_of_last_line(self) -> str:
        """The same for the last line; only for a file without quotes (no line break inside a field)."""
        assert not self.quoted
        return self.tail.rstrip(b"\n").rsplit(b"\n", 1)[-1].split(b",", 1)[0].decode()


def _sha256_of(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(BUFFER_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class _Exporter:
    def __init__(self, db: Session, settings: Settings, top: Tenant, archive: zipfile.ZipFile,
                 progress: Progress | None) -> None:
        self.db, self.settings, self.top, self.archive = db, settings, top, archive
        self.progress = progress or (lambda done, total, what: None)
        self.classes = fmt.model_classes()
        self.mapped = fmt.tables_with_id_maps()
        # table → source key → content hash of that row: what a reference stands for in the checksum.
        self.natural: dict[str, dict[Any, str]] = {name: {} for name in self.mapped}
        self.data = fmt.ManifestData(
            source={"tenant_id": top.id, "tenant_name": top.name, "tenant_kind": top.kind},
            exported_at=clock.now(), leitstand_version=__version__)
        self.documents: list[tuple[str, str, str]] = []  # zip path, storage key, sha256
        self.done, self.total = 0, 0
        self.date_style_set = False
        self.first_points: dict[tuple[int, str], str] = {}  # (device id, key) → time of its first exported point

    # --- selection ------------------------------------------------------------------------

    def _subtree_tenants(self) -> Select[Any]:
        return select(Tenant.id).where(path_within(Tenant.path, self.top.path))

    def where(self, name: str) -> ColumnElement[bool]:
        """Rows of `name` that belong to the subtree."""
        model = self.classes[name]
        if name == "tenants":
            return path_within(Tenant.path, self.top.path)
        column = self._selecting_column(name)
        target = fmt.reference_target(name, column)
        attribute = getattr(model, column)
        if target == "tenants":
            return attribute.in_(self._subtree_tenants())
        assert target is not None
        return attribute.in_(select(self.classes[target].id).where(self.where(target)))

    def _selecting_column(self, name: str) -> str:
        spec = fmt.SPECS[name]
        table = Base.metadata.tables[name]
        if spec.select_by:
            return spec.select_by
        for candidate in ("tenant_id", "device_id"):
            if candidate in table.c:
                return candidate
        for column in table.c:
            if not column.nullable and fmt.reference_target(name, column.name) in fmt.SPECS:
                return column.name
        raise ValueError(f"{name}: no column ties its rows to a tenant")

    def _statement(self, name: str) -> tuple[list[str], Select[Any]]:
        model = self.classes[name]
        table = Base.metadata.tables[name]
        names = [column.name for column in table.c]
        statement = select(*(getattr(model, column) for column in names)).where(self.where(name))
        if "path" in table.c:  # parents before children: an import needs the parent's new row first
            statement = statement.order_by(func.length(getattr(model, "path")), getattr(model, "path"))
        else:
            statement = statement.order_by(*(getattr(model, column.name) for column in table.primary_key))
        return names, statement

    def _count(self, name: str) -> int:
        model = self.classes[name]
        return self.db.scalar(select(func.count()).select_from(model).where(self.where(name))) or 0

    # --- rows -----------------------------------------------------------------------------

    def _prepare(self, name: str, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The row as written and its canonical (id-free) form; None if it cannot stand alone."""
        spec = fmt.SPECS[name]
        table = Base.metadata.tables[name]
        for column in spec.omit | spec.regenerated:
            values.pop(column, None)
        canonical: dict[str, Any] = {}
        primary = {column.name for column in table.primary_key}
        for column_name, value in list(values.items()):
            target = fmt.reference_target(name, column_name)
            if target is not None:
                if value is None:
                    canonical[column_name] = None
                    continue
                natural = self.natural.get(target, {}).get(value)
                if natural is None and target == "device_types":
                    natural = f"shipped:{value}"  # a type every instance ships; referenced by key
                if natural is None:
                    if not table.c[column_name].nullable or column_name in spec.skip_if_unresolved:
                        return None
                    values[column_name] = None  # points outside the export (e.g. a platform user)
                canonical[column_name] = natural
            elif (name, column_name) in fmt.JSON_REFERENCES:
                known = self.natural.get(fmt.JSON_REFERENCES[(name, column_name)], {})
                values[column_name] = [item for item in value or [] if item in known]
                canonical[column_name] = [known[item] for item in values[column_name]]
            elif column_name in primary:
                continue  # an id: not content
            elif name == "audit_log" and column_name == "target_id":
                canonical[column_name] = self._audit_target(values.get("target_type", ""), value)
            else:
                # SQLite may hand back 21 for a stored 21.0; the checksum must not see the difference.
                is_float = isinstance(table.c[column_name].type, Float)
                canonical[column_name] = float(value) if is_float and value is not None else value
        return values, canonical

    def _audit_target(self, target_type: str, target_id: str) -> str:
        if not target_id.isdigit():
            return target_id
        natural = self.natural.get(target_type, {}).get(int(target_id))
        return natural if natural is not None else f"~{target_id}"

    def export_table(self, name: str) -> None:
        names, statement = self._statement(name)
        digest = fmt.MultisetDigest()
        skipped = 0
        primary = [column.name for column in Base.metadata.tables[name].primary_key]
        member = f"data/{name}.jsonl"
        with self.archive.open(member, "w", force_zip64=True) as target:
            out = _HashingWriter(target)
            for row in self.db.execute(statement.execution_options(yield_per=CHUNK_ROWS)):
                values = dict(zip(names, row))
                key = values[primary[0]]
                storage_key = values.get("storage_key")
                prepared = self._prepare(name, values)
                self._tick(name)
                if prepared is None:
                    skipped += 1
                    continue
                written, canonical = prepared
                if name == "inspection_attachments":
                    written[fmt.DOCUMENT_FIELD] = self._document(values, key, str(storage_key))
                row_digest = fmt.canonical_digest(canonical)
                digest.add(row_digest)
                if name in self.natural:
                    self.natural[name][key] = row_digest.hex()[:32]
                out.write(fmt.dumps(written).encode() + b"\n")
            out.flush()
        self.data.files[member] = fmt.FileEntry(out.hash.hexdigest(), out.size, digest.count)
        self.data.counts[name] = digest.count
        self.data.content[name] = {"rows": digest.count, "sha256": digest.hexdigest()}
        if skipped:
            self.data.skipped[name] = skipped

    def _document(self, values: dict[str, Any], attachment_id: int, storage_key: str) -> str | None:
        path = book.attachments_dir(self.settings) / storage_key
        member = f"documents/{attachment_id}-{values['file_name']}"
        if not path.is_file():
            self.data.missing_documents.append(member)
            return None
        self.documents.append((member, str(path), values["sha256"]))
        return member

    def _tick(self, what: str, amount: int = 1) -> None:
        self.done += amount
        if self.done % 5000 < amount or self.done >= self.total:
            self.progress(self.done, self.total, what)

    # --- telemetry ------------------------------------------------------------------------

    def devices(self) -> list[tuple[int, str]]:
        return [(row[0], row[1]) for row in self.db.execute(
            select(Device.id, Device.serial_number).where(self.where("devices")).order_by(Device.serial_number))]

    def count_points(self, device_ids: list[int]) -> int:
        total = 0
        for start in range(0, len(device_ids), 500):
            chunk = device_ids[start:start + 500]
            total += self.db.scalar(select(func.count()).select_from(TelemetryPoint)
                                    .where(TelemetryPoint.device_id.in_(chunk))) or 0
        return total

    def export_telemetry(self, devices: list[tuple[int, str]]) -> None:
        digest = fmt.MultisetDigest()
        points = 0
        postgresql = self.db.get_bind().dialect.name == "postgresql"
        for device_id, serial in devices:
            keys = list(self.db.scalars(select(TelemetryPoint.key).distinct()
                                        .where(TelemetryPoint.device_id == device_id).order_by(TelemetryPoint.key)))
            marked = set(self.db.scalars(select(TelemetryPoint.key).distinct()  # the partial index ix_telemetry_marked
                                         .where(TelemetryPoint.device_id == device_id, text(MARKED))))
            for key in keys:
                member = f"telemetry/{quote(serial, safe='')}/{quote(key, safe='')}.csv"
                with self.archive.open(member, "w", force_zip64=True) as target:
                    out = _HashingWriter(target)
                    out.write(fmt.MARKED_TELEMETRY_HEADER if key in marked else fmt.TELEMETRY_HEADER)
                    rows = (self._copy_points(out, device_id, key, key in marked) if postgresql
                            else self._select_points(out, device_id, key, key in marked))
                    out.flush()
                first, last = self._span(out, device_id, key)
                file_sha = out.hash.hexdigest()
                self.data.files[member] = fmt.FileEntry(file_sha, out.size, rows)
                # first/last let an import create the partitions up front and COPY straight into them.
                self.data.telemetry.append({"file": member, "serial": serial, "key": key, "points": rows,
                                            "quoted": out.quoted, "device_id": device_id, "first": first, "last": last})
                self.first_points[(device_id, key)] = first
                digest.add(hashlib.sha256(f"{serial}\0{key}\0{file_sha}".encode()).digest())
                points += rows
                self._tick("telemetry", rows)
        self.data.counts["telemetry_points"] = points
        self.data.counts["telemetry_files"] = digest.count
        self.data.content["telemetry"] = {"files": digest.count, "points": points, "sha256": digest.hexdigest()}

    def _select_points(self, out: _HashingWriter, device_id: int, key: str, marked: bool = False) -> int:
        point = TelemetryPoint
        columns = (point.ts, point.num, point.txt, point.status, point.interval_end) if marked else (
            point.ts, point.num, point.txt)
        statement = (select(*columns).where(point.device_id == device_id, point.key == key)
                     .order_by(point.ts).execution_options(yield_per=10_000))
        line = fmt.marked_telemetry_line if marked else fmt.telemetry_line
        rows = 0
        for row in self.db.execute(statement):
            out.write(line(*row).encode())
            rows += 1
        return rows

    def _span(self, out: _HashingWriter, device_id: int, key: str) -> tuple[str, str]:
        """The times of a written file's first and last point (its rows are in time order), off its ends."""
        first = out.first_field_of_line(1)
        if not out.quoted:
            return first, out.first_field_of_last_line()
        # A quoted text may hold a line break: ask the database rather than parse backwards.
        last = self.db.scalar(select(func.max(TelemetryPoint.ts))
                              .where(TelemetryPoint.device_id == device_id, TelemetryPoint.key == key))
        assert last is not None
        return first, fmt.format_ts(last)

    def _copy_points(self, out: _HashingWriter, device_id: int, key: str, marked: bool = False) -> int:
        from psycopg import sql

        # The same text as telemetry_line: the timestamp as PostgreSQL prints it in ISO style (in UTC,
        # with T and Z added), float8 in its shortest exact form, NULL empty and '' quoted, as in CSV.
        # A marked series (marked_telemetry_line) adds the status and the interval end, empty for none.
        extra = (", status, replace((interval_end AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z'" if marked else "")
        statement = sql.SQL(
            "COPY (SELECT replace((ts AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z', num, txt" + extra + " FROM telemetry"
            " WHERE device_id = {device} AND key = {key} ORDER BY ts) TO STDOUT (FORMAT csv)"
        ).format(device=sql.Literal(device_id), key=sql.Literal(key))
        return self._copy_out(statement, out)

    def _copy_out(self, statement: Any, out: Any) -> int:
        """Write what a COPY … TO STDOUT statement yields to `out`; returns the rows copied."""
        with self._driver_cursor() as cursor:
            with cursor.copy(statement) as copy:
                for row in copy:
                    out.write(row)
            return max(cursor.rowcount, 0)

    def _driver_cursor(self) -> Any:
        """A psycopg cursor in the session's transaction, with the text forms the export format needs."""
        cursor = self.db.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        if not self.date_style_set:  # the text form of a timestamp depends on it; for this transaction only
            cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL extra_float_digits = 1")
            self.date_style_set = True
        return cursor

    # --- rollups --------------------------------------------------------------------------

    def export_rollups(self, devices: list[tuple[int, str]]) -> None:
        """The rollups the exported points cannot recompute, into one CSV (see manifest).

        Per device and key, the rows whose bucket starts before the first exported point;
        for a series without points (retention deleted them all) every row. Sorted by serial
        number, key, period and bucket, bytewise, so that both backends write the same bytes;
        read per group of devices, so a long history is never sorted or held in one piece.
        """
        postgresql = self.db.get_bind().dialect.name == "postgresql"
        if postgresql:
            # Points still queued for their rollups (deferred ingest) would be missing from a
            # bucket this file carries: drain first, in transactions of their own.
            RollupDrainer(self.db.get_bind().engine, interval=0).drain_until_empty()
        ordered = sorted(devices, key=lambda device: device[1].encode())
        rows = 0
        with self.archive.open(fmt.ROLLUPS, "w", force_zip64=True) as target:
            out = _HashingWriter(target)
            out.write(fmt.ROLLUP_HEADER)
            for start in range(0, len(ordered), ROLLUP_DEVICE_GROUP):
                group = ordered[start:start + ROLLUP_DEVICE_GROUP]
                rows += self._copy_rollups(out, group) if postgresql else self._select_rollups(out, group)
            out.flush()
        file_sha = out.hash.hexdigest()
        self.data.files[fmt.ROLLUPS] = fmt.FileEntry(file_sha, out.size, rows)
        self.data.rollup_rows = rows
        self.data.counts["telemetry_rollups"] = rows
        # No ids in the file and a fixed order: its hash is already a content checksum.
        self.data.content["telemetry_rollups"] = {"rows": rows, "sha256": file_sha}

    def _select_rollups(self, out: _HashingWriter, group: list[tuple[int, str]]) -> int:
        """SQLite: its default collation compares bytes, as the PostgreSQL path does with "C"."""
        rollup = TelemetryRollup
        ids = {device_id for device_id, _ in group}
        statement = (select(Device.serial_number, rollup.key, rollup.period, rollup.bucket_start, rollup.count,
                            rollup.sum, rollup.min, rollup.max, rollup.last_value, rollup.last_ts, rollup.device_id)
                     .join(Device, Device.id == rollup.device_id)
                     .where(rollup.device_id.in_(sorted(ids)))
                     .order_by(Device.serial_number, rollup.key, rollup.period, rollup.bucket_start)
                     .execution_options(yield_per=10_000))
        firsts = {series: datetime.fromisoformat(first.replace("Z", "+00:00"))
                  for series, first in self.first_points.items() if series[0] in ids}
        rows = 0
        for *values, device_id in self.db.execute(statement):
            first = firsts.get((device_id, values[1]))
            if first is None or values[3] < first:
                out.write(fmt.rollup_line(*values).encode())
                rows += 1
        return rows

    def _copy_rollups(self, out: _HashingWriter, group: list[tuple[int, str]]) -> int:
        from psycopg import sql

        serials = dict(group)
        firsts = [(device_id, key, first) for (device_id, key), first in self.first_points.items() if device_id in serials]
        # Times and numbers in the text forms of _copy_points (_driver_cursor sets the session up).
        statement = sql.SQL(
            "COPY (SELECT d.serial_number, r.key, r.period,"
            " replace((r.bucket_start AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z', r.count, r.sum, r.min, r.max,"
            " r.last_value, replace((r.last_ts AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z'"
            " FROM telemetry_rollups r JOIN devices d ON d.id = r.device_id"
            " LEFT JOIN unnest({devices}::int[], {keys}::text[], {firsts}::timestamptz[]) AS f (device_id, key, first_ts)"
            " ON f.device_id = r.device_id AND f.key = r.key"
            " WHERE r.device_id = ANY({group}::int[]) AND (f.first_ts IS NULL OR r.bucket_start < f.first_ts)"
            ' ORDER BY d.serial_number COLLATE "C", r.key COLLATE "C", r.period COLLATE "C", r.bucket_start)'
            " TO STDOUT (FORMAT csv)"
        ).format(devices=sql.Literal([device_id for device_id, _, _ in firsts]),
                 keys=sql.Literal([key for _, key, _ in firsts]),
                 firsts=sql.Literal([first for _, _, first in firsts]),
                 group=sql.Literal([device_id for device_id, _ in group]))
        return self._copy_out(statement, out)

    # --- documents ------------------------------------------------------------------------

    def export_documents(self) -> None:
        digest = fmt.MultisetDigest()
        for member, path, sha256 in self.documents:
            with self.archive.open(member, "w", force_zip64=True) as target, open(path, "rb") as source:
                out = _HashingWriter(target)
                while chunk := source.read(BUFFER_BYTES):
                    out.write(chunk)
                out.flush()
            self.data.files[member] = fmt.FileEntry(out.hash.hexdigest(), out.size)
            digest.add(bytes.fromhex(out.hash.hexdigest()))
            if out.hash.hexdigest() != sha256:
                self.data.missing_documents.append(f"{member} (changed since upload)")
        self.data.counts["documents"] = digest.count
        self.data.content["documents"] = {"files": digest.count, "sha256": digest.hexdigest()}

    def run(self) -> dict[str, Any]:
        devices = self.devices()
        self.total = sum(self._count(spec.name) for spec in fmt.EXPORTED) + self.count_points([d for d, _ in devices])
        self.progress(0, self.total, "tables")
        for spec in fmt.EXPORTED:
            self.export_table(spec.name)
        self.export_telemetry(devices)
        self.export_rollups(devices)
        self.export_documents()
        document = fmt.build_manifest(self.data)
        self.archive.writestr(fmt.MANIFEST, fmt.dumps(document).encode())
        self.progress(self.total, self.total, "done")
        return document


def export_tenant(db: Session, settings: Settings, tenant_id: int, out: Path,
                  progress: Progress | None = None) -> ExportResult:
    """Export a tenant and its subtree into the zip `out` (written as out.partial, then renamed).

    `db` decides what can be read: the tenant must be visible through it.
    """
    top = db.get(Tenant, tenant_id)
    if top is None:
        raise ExportFailed(f"no tenant {tenant_id} (or not within your scope)")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1,
                             allowZip64=True) as archive:
            document = _Exporter(db, settings, top, archive, progress).run()
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    sha256, size = _sha256_of(out)
    return ExportResult(out, size, sha256, dict(document["counts"]), document)


def default_file_name(tenant: Tenant, at: datetime) -> str:
    slug = "".join(char if char.isalnum() else "-" for char in tenant.name.lower()).strip("-")[:40] or "tenant"
    return f"leitstand-export-{slug}-{at.strftime('%Y%m%d-%H%M%S')}.zip"

