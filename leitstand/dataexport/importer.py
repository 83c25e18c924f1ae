"""Loading an export into an instance: verify everything first, then write it all or nothing.

1. `verify_export` reads the whole zip before anything is written: the format and schema
   version, every file's SHA-256 and size against the manifest, no file missing or extra,
   and the row counts. A truncated or tampered zip is refused with the list of problems.
2. Checks against the target instance, still read-only: the parent tenant exists and may hold
   the exported top tenant (a partner goes under root, a customer under a partner); e-mail
   addresses and serial numbers that already exist are conflicts (refused by default, or
   renamed with `on_conflict="suffix"`); shipped device types the data uses exist.
3. One transaction: rows in dependency order with new primary keys, every reference
   rewritten through the id maps, telemetry, documents into the data dir. Telemetry on
   PostgreSQL by COPY straight into `telemetry` with the rollups computed per group of
   devices (`bulkload`), on SQLite through the store's `write_points`; then, on both, the
   exported rollup rows over the computed ones (an exported row wins). Any error rolls
   the transaction back and removes the documents written so far; a point that occurs
   twice in the export is refused.

Imported users have no password and no second factor: they set one through "forgot
password" or a new invitation. Devices have no claim secret and no credentials, and transport
connections have no secrets (they were sealed with the source's installation key). The report
lists every kind of thing the export does not carry with how to issue it anew
(`manifest.NOT_CARRIED`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Date, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from leitstand import display_text
from leitstand.accounts.models import User
from leitstand.audit.recorder import Actor, record
from leitstand.config import Settings
from leitstand.dataexport import bulkload
from leitstand.dataexport import manifest as fmt
from leitstand.db.base import UtcDateTime
from leitstand.db.models import Base
from leitstand.devices.models import NATIVE_TRANSPORT, Device
from leitstand.devicetypes.models import DeviceType
from leitstand.maintenance import book
from leitstand.commands.models import Command
from leitstand.commands.states import FORMER_NAMES
from leitstand.telemetry.models import TelemetryRollup
from leitstand.telemetry.store import Point, write_points
from leitstand.tenancy.models import ALLOWED_CHILD_KIND, Tenant, TenantKind, new_path_segment
from leitstand.tenancy.scope import system_session

Progress = Callable[[int, int, str], None]
BATCH_ROWS = 1000
TELEMETRY_BATCH = 20_000
READ_BYTES = 1 << 20


class ExportInvalid(Exception):
    """The zip is not a complete, unchanged Leitstand export; nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the export is refused: " + "; ".join(problems[:10])
                         + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
        self.problems = problems


class ImportRefused(Exception):
    """The export is fine but does not fit into this instance as asked; nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the import is refused: " + "; ".join(problems[:10])
                         + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
        self.problems = problems


@dataclass
class ImportReport:
    tenant_id: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    # Source id → new id of the records people look for (tenants, users, sites, devices).
    remapped: dict[str, dict[int, int]] = field(default_factory=dict)
    renamed: list[str] = field(default_factory=list)
    users_without_password: int = 0
    telemetry_points: int = 0
    documents: int = 0
    notes: list[str] = field(default_factory=list)
    # What no export carries, each kind with how it is issued anew here (manifest.NOT_CARRIED).
    not_carried: tuple[fmt.NotCarried, ...] = fmt.NOT_CARRIED


REPORTED_MAPS = ("tenants", "users", "sites", "devices")


# --- 1. verification ------------------------------------------------------------------------


def verify_export(path: Path) -> dict[str, Any]:
    """The manifest of a complete, unchanged export; ExportInvalid otherwise. Reads every byte."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ExportInvalid([f"{path.name} is not a readable zip file (truncated?): {error}"]) from error
    with archive:
        try:
            document = json.loads(archive.read(fmt.MANIFEST))
        except KeyError:
            raise ExportInvalid(["manifest.json is missing"]) from None
        except (ValueError, zipfile.BadZipFile, OSError, EOFError) as error:
            raise ExportInvalid([f"manifest.json cannot be read: {error}"]) from error
        problems = _check_manifest_header(document)
        if problems:
            raise ExportInvalid(problems)
        files: dict[str, dict[str, Any]] = document["files"]
        names = set(archive.namelist()) - {fmt.MANIFEST}
        problems += [f"{name}: listed in the manifest but missing" for name in sorted(set(files) - names)]
        problems += [f"{name}: in the zip but not in the manifest" for name in sorted(names - set(files))]
        for name in sorted(set(files) & names):
            problems += _check_file(archive, name, files[name])
        counts = document.get("counts", {})
        for spec in fmt.EXPORTED:
            listed = files.get(f"data/{spec.name}.jsonl", {}).get("rows")
            if listed is None or counts.get(spec.name) != listed:
                problems.append(f"{spec.name}: the counts do not match the file ({counts.get(spec.name)} vs {listed})")
        telemetry = document.get("telemetry", {}).get("files", [])
        if sum(int(entry.get("points", 0)) for entry in telemetry) != counts.get("telemetry_points"):
            problems.append("telemetry: the point count does not match the files")
        for entry in telemetry:
            if entry.get("file") not in files or files[entry["file"]].get("rows") != entry.get("points"):
                problems.append(f"telemetry: {entry.get('file')} does not match the manifest")
        rollups = _rollup_entry(document)
        if rollups is not None and (files.get(rollups.get("file"), {}).get("rows") != rollups.get("rows")
                                    or counts.get("telemetry_rollups") != rollups.get("rows")):
            problems.append(f"{rollups.get('file')}: the row counts do not match the manifest")
        if problems:
            raise ExportInvalid(problems)
        return document


def _rollup_entry(document: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest's description of the rollup file; None for an export from before it existed."""
    entry = document.get("telemetry", {}).get("rollups")
    return entry if isinstance(entry, dict) else None


def _check_manifest_header(document: Any) -> list[str]:
    if not isinstance(document, dict) or document.get("format") != fmt.FORMAT:
        return [f"not a {fmt.FORMAT} manifest"]
    version = document.get("schema_version")
    if version != fmt.SCHEMA_VERSION:
        return [f"schema version {version!r} is not the supported {fmt.SCHEMA_VERSION}"]
    if not isinstance(document.get("files"), dict) or not isinstance(document.get("counts"), dict):
        return ["the manifest lacks its file list or counts"]
    return []


def _check_file(archive: zipfile.ZipFile, name: str, entry: dict[str, Any]) -> list[str]:
    digest, size, lines = hashlib.sha256(), 0, 0
    try:
        with archive.open(name) as handle:
            while chunk := handle.read(READ_BYTES):
                digest.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:  # zlib errors are ValueError-like
        return [f"{name}: cannot be read ({error})"]
    except Exception as error:  # noqa: BLE001 - zlib.error and friends: the file is damaged
        return [f"{name}: damaged ({error})"]
    problems = []
    if size != entry.get("size"):
        problems.append(f"{name}: {size} bytes, the manifest says {entry.get('size')}")
    if digest.hexdigest() != entry.get("sha256"):
        problems.append(f"{name}: SHA-256 does not match the manifest")
    if name.endswith(".jsonl") and lines != entry.get("rows"):
        problems.append(f"{name}: {lines} rows, the manifest says {entry.get('rows')}")
    return problems


# --- 2. checks against the target -------------------------------------------------------------


def _jsonl(archive: zipfile.ZipFile, table: str) -> Iterator[dict[str, Any]]:
    with archive.open(f"data/{table}.jsonl") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _existing(db: Session, column: Any, values: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(values), 500):
        found.update(db.scalars(select(column).where(column.in_(values[start:start + 500]))))
    return found


def _free_name(taken: set[str], value: str, make: Callable[[str, int], str]) -> str:
    number = 1
    while (candidate := make(value, number)) in taken:
        number += 1
    taken.add(candidate)
    return candidate


def _email_variant(email: str, number: int) -> str:
    local, _, domain = email.partition("@")
    return f"{local}+imported{number}@{domain}"[:254]


def _suffix_variant(limit: int) -> Callable[[str, int], str]:
    return lambda value, number: f"{value[:limit - 12]}-imported{number}"


@dataclass
class _Plan:
    parent: Tenant
    renamed_emails: dict[str, str]
    renamed_serials: dict[str, str]
    renamed_types: dict[str, str]


def _plan(db: Session, archive: zipfile.ZipFile, parent_tenant_id: int | None, on_conflict: str,
          report: ImportReport) -> _Plan:
    problems: list[str] = []
    parent = db.get(Tenant, parent_tenant_id) if parent_tenant_id else db.scalar(
        select(Tenant).where(Tenant.parent_id.is_(None)).order_by(Tenant.id).limit(1))
    if parent is None:
        raise ImportRefused([f"no parent tenant {parent_tenant_id or '(root)'} in this instance"])
    tops = [row for row in _jsonl(archive, "tenants") if row.get("parent_id") is None]
    if len(tops) != 1:
        problems.append("the export must hold exactly one top tenant")
    elif ALLOWED_CHILD_KIND.get(TenantKind(parent.kind)) != tops[0]["kind"]:
        problems.append(f"a {tops[0]['kind']} cannot sit below the {parent.kind} tenant {parent.name!r}; "
                        f"choose a fitting --parent-tenant")
    emails = [row["email"] for row in _jsonl(archive, "users")]
    serials = [row["serial_number"] for row in _jsonl(archive, "devices")]
    type_rows = list(_jsonl(archive, "device_types"))
    taken_emails, taken_serials = _existing(db, User.email, emails), _existing(db, Device.serial_number, serials)
    taken_types = set(db.scalars(select(DeviceType.key)))
    renamed_emails, renamed_serials, renamed_types = {}, {}, {}
    conflicts = [f"user e-mail {email} exists already" for email in emails if email in taken_emails]
    conflicts += [f"device serial number {serial} exists already" for serial in serials if serial in taken_serials]
    if conflicts and on_conflict != "suffix":
        problems += conflicts + ["(use --on-conflict suffix to import them under new names)"]
    elif conflicts:
        taken_emails |= set(emails)
        taken_serials |= set(serials)
        for email in [email for email in emails if email in _existing(db, User.email, emails)]:
            renamed_emails[email] = _free_name(taken_emails, email, _email_variant)
        for serial in [serial for serial in serials if serial in _existing(db, Device.serial_number, serials)]:
            renamed_serials[serial] = _free_name(taken_serials, serial, _suffix_variant(64))
    custom_keys = {row["key"] for row in type_rows}
    for key in sorted(custom_keys & taken_types):  # a type key is no one's identity: always renamed
        renamed_types[key] = _free_name(taken_types | custom_keys, key, _suffix_variant(64))
    used = {row["type_key"] for row in _jsonl(archive, "devices")} | {row["type_key"] for row in _jsonl(archive, "alarm_rules")}
    missing = sorted(used - custom_keys - taken_types)
    problems += [f"device type {key!r} is not installed in this instance" for key in missing]
    if problems:
        raise ImportRefused(problems)
    report.renamed += [f"user {old} → {new}" for old, new in renamed_emails.items()]
    report.renamed += [f"device {old} → {new}" for old, new in renamed_serials.items()]
    report.renamed += [f"device type {old} → {new}" for old, new in renamed_types.items()]
    return _Plan(parent, renamed_emails, renamed_serials, renamed_types)


# --- 3. writing -------------------------------------------------------------------------------


class _Writer:
    def __init__(self, db: Session, settings: Settings, archive: zipfile.ZipFile, document: dict[str, Any],
                 plan: _Plan, report: ImportReport, progress: Progress | None) -> None:
        self.db, self.settings, self.archive, self.document = db, settings, archive, document
        self.plan, self.report = plan, report
        self.connection: Connection = db.connection()
        self.maps: dict[str, dict[Any, Any]] = {name: {} for name in fmt.tables_with_id_maps() | {"devices", "tenants"}}
        self.paths: dict[str, dict[int, str]] = {"tenants": {}, "sites": {}}  # new id → new path
        self.tenant_zone: dict[int, str] = {}  # new tenant id → time zone
        self.devices_by_serial: dict[str, int] = {}  # serial number in the export → new device id
        self.exported_serial = {new: old for old, new in plan.renamed_serials.items()}
        self.written_files: list[Path] = []
        self.progress = progress or (lambda done, total, what: None)
        counts = document["counts"]
        self.total = sum(int(counts.get(spec.name, 0)) for spec in fmt.EXPORTED) + int(counts.get("telemetry_points", 0))
        self.done = 0

    def _tick(self, what: str, amount: int) -> None:
        self.done += amount
        self.progress(self.done, self.total, what)

    # --- rows -----------------------------------------------------------------------------

    def import_table(self, spec: fmt.TableSpec) -> None:
        table = Base.metadata.tables[spec.name]
        decoders = {column.name: _decoder(column.type) for column in table.c}
        has_id = "id" in table.c and list(table.primary_key.columns)[0].name == "id"
        one_by_one = "path" in table.c  # a child needs its parent's new path
        batch: list[tuple[Any, dict[str, Any]]] = []
        inserted = 0
        for raw in _jsonl(self.archive, spec.name):
            row = {name: decoders[name](value) if name in decoders else value for name, value in raw.items()}
            old_key = row.get(list(table.primary_key.columns)[0].name)
            prepared = self._prepare(spec, table, row)
            if prepared is None:
                self.report.skipped[spec.name] = self.report.skipped.get(spec.name, 0) + 1
                continue
            batch.append((old_key, prepared))
            if one_by_one or len(batch) >= BATCH_ROWS:
                inserted += self._insert(spec.name, table, has_id, batch)
                batch = []
        if batch:
            inserted += self._insert(spec.name, table, has_id, batch)
        self.report.counts[spec.name] = inserted
        self._tick(spec.name, inserted)

    def _insert(self, name: str, table: Any, has_id: bool, batch: list[tuple[Any, dict[str, Any]]]) -> int:
        rows = [row for _, row in batch]
        if name == "commands":
            self._fresh_public_ids(rows)
            for row in rows:  # an export from before the seven command states
                row["status"] = FORMER_NAMES.get(row["status"], row["status"])
        if has_id:
            result = self.connection.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
            new_ids = [new_id for (new_id,) in result]
            if name in self.maps:
                for (old_key, row), new_id in zip(batch, new_ids):
                    self.maps[name][old_key] = new_id
            for (_, row), new_id in zip(batch, new_ids):
                self._remember(name, row, new_id)
        else:
            self.connection.execute(insert(table), rows)
            if name in self.maps:
                for old_key, row in batch:
                    self.maps[name][old_key] = row[list(table.primary_key.columns)[0].name]
        return len(rows)

    def _remember(self, name: str, row: dict[str, Any], new_id: int) -> None:
        if name in self.paths:
            self.paths[name][new_id] = row["path"]
        if name == "tenants":
            self.tenant_zone[new_id] = row["time_zone"]
        if name == "devices":
            self.devices_by_serial[self.exported_serial.get(row["serial_number"], row["serial_number"])] = new_id

    def _fresh_public_ids(self, rows: list[dict[str, Any]]) -> None:
        taken = set(self.db.scalars(select(Command.public_id).where(
            Command.public_id.in_([row["public_id"] for row in rows]))))
        for row in rows:
            if row["public_id"] in taken:
                new = secrets.token_hex(16)
                self.report.renamed.append(f"command {row['public_id']} → {new}")
                row["public_id"] = new

    def _prepare(self, spec: fmt.TableSpec, table: Any, row: dict[str, Any]) -> dict[str, Any] | None:
        name = spec.name
        document = row.pop(fmt.DOCUMENT_FIELD, None)
        for column in sorted(spec.display_text):
            cleaned = _clean_display_text(row.get(column))
            if cleaned != row.get(column):
                self.report.notes.append(f"{name} {row.get('id', '')}: {column} normalised to NFC, "
                                         "invisible and reordering characters removed")
                row[column] = cleaned
        if "id" in table.c and list(table.primary_key.columns)[0].name == "id":
            row.pop("id", None)
        for column in table.c:
            target = fmt.reference_target(name, column.name)
            value = row.get(column.name)
            if target is not None and value is not None:
                new = self.maps.get(target, {}).get(value)
                if new is None and target == "device_types":
                    new = value  # a shipped type (checked to exist before writing)
                if new is None:
                    if not column.nullable or column.name in spec.skip_if_unresolved:
                        return None
                row[column.name] = new
            elif (name, column.name) in fmt.JSON_REFERENCES:
                known = self.maps.get(fmt.JSON_REFERENCES[(name, column.name)], {})
                row[column.name] = [known[item] for item in value or [] if item in known]
        if name == "tenants":
            parent_id = row.get("parent_id") or self.plan.parent.id
            row["parent_id"] = parent_id
            parent_path = self.paths["tenants"].get(parent_id) or self.plan.parent.path
            row["path"] = f"{parent_path}{new_path_segment()}/"
        elif name == "sites":
            parent_path = self.paths["sites"].get(row["parent_id"], "/") if row.get("parent_id") else "/"
            row["path"] = f"{parent_path}{new_path_segment()}/"
        elif name == "users":
            row["email"] = self.plan.renamed_emails.get(row["email"], row["email"])
            row.update(password_hash=None, totp_secret_encrypted=None, totp_last_step=0)
            self.report.users_without_password += 1
        elif name == "devices":
            row["serial_number"] = self.plan.renamed_serials.get(row["serial_number"], row["serial_number"])
            row["claim_secret_hash"] = None
        elif name == "device_connections":
            row["secrets_sealed"] = None  # sealed with the source's key; entered anew (manifest.NOT_CARRIED)
        elif name == "device_bindings" and row["transport"] == NATIVE_TRANSPORT:
            # The native external id is the serial number, and follows it when the import renames it.
            row["external_id"] = self.plan.renamed_serials.get(row["external_id"], row["external_id"])
        elif name == "device_types":
            row["key"] = self.plan.renamed_types.get(row["key"], row["key"])
        elif name == "support_access_codes":
            # The code itself never left the source; a hash of nothing anyone knows cannot be redeemed.
            row["code_hash"] = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
        elif name == "inspection_attachments":
            row["storage_key"] = f"{row['tenant_id']}/{uuid.uuid4().hex}"
            self._write_document(document, row)
        elif name == "audit_log":
            row["target_id"] = self._audit_target(row.get("target_type", ""), row.get("target_id", ""))
        return row

    def _audit_target(self, target_type: str, target_id: str) -> str:
        if not target_id.isdigit():
            return target_id
        new = self.maps.get(target_type, {}).get(int(target_id))
        return str(new) if new is not None else f"~{target_id}"

    def _write_document(self, member: str | None, row: dict[str, Any]) -> None:
        if member is None:
            self.report.notes.append(f"attachment {row['file_name']!r}: its file was missing in the source")
            return
        target = book.attachments_dir(self.settings) / row["storage_key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        self.written_files.append(target)
        with self.archive.open(member) as source, target.open("wb") as out:
            while chunk := source.read(READ_BYTES):
                out.write(chunk)
        self.report.documents += 1

    # --- telemetry ------------------------------------------------------------------------

    def import_telemetry(self) -> None:
        tenant_of_device = dict(self.db.execute(select(Device.id, Device.tenant_id).where(
            Device.id.in_(list(self.maps["devices"].values())))).all()) if self.maps["devices"] else {}
        zone_of = {new_id: self.tenant_zone.get(tenant_id, "UTC") for new_id, tenant_id in tenant_of_device.items()}
        entries: list[dict[str, Any]] = self.document["telemetry"]["files"]
        for entry in entries:
            if entry["device_id"] not in self.maps["devices"]:
                raise ImportRefused([f"{entry['file']}: its device is not in the export"])
        try:
            if self.connection.dialect.name == "postgresql":
                self._import_telemetry_postgresql(entries, zone_of)
            else:
                self._import_telemetry_sqlite(entries, zone_of)
        except bulkload.LoadRefused as refused:
            raise ImportRefused([refused.problem]) from refused

    def _stored(self, entry: dict[str, Any], stored: int) -> None:
        if stored != entry["points"]:
            raise ImportRefused([f"{entry['file']}: {stored} points read, the manifest says {entry['points']}"])
        self.report.telemetry_points += stored
        self._tick("telemetry", stored)

    def _import_telemetry_postgresql(self, entries: list[dict[str, Any]], zone_of: dict[int, str]) -> None:
        loader = bulkload.TelemetryLoader(self.connection, self.archive)
        # Exports from before the first/last fields go through the loader's staging table.
        direct = all(entry.get("first") and entry.get("last") for entry in entries)
        spans: dict[str, tuple[datetime, datetime]] = {}
        if direct:
            months: set[tuple[int, int]] = set()
            for entry in entries:
                try:
                    first, last = bulkload.parse_ts(entry["first"]), bulkload.parse_ts(entry["last"])
                except (TypeError, ValueError):
                    raise ImportRefused([f"{entry['file']}: first/last in the manifest are not times"]) from None
                months.update(bulkload.months_spanned(first, last))
                zone = zone_of[self.maps["devices"][entry["device_id"]]]
                known = spans.get(zone)
                spans[zone] = (min(first, known[0]), max(last, known[1])) if known else (first, last)
            loader.make_partitions(months)
        for zone, group in self._rollup_groups(entries, zone_of):
            counts = loader.copy_files([(entry["file"], self.maps["devices"][entry["device_id"]], entry["key"],
                                         bool(entry.get("quoted", True))) for entry in group], direct=direct)
            for entry, stored in zip(group, counts):
                self._stored(entry, stored)
            loader.roll_up(sorted({self.maps["devices"][entry["device_id"]] for entry in group}), zone, spans.get(zone))
        rollups = _rollup_entry(self.document)
        if rollups is not None:  # last: over the computed rows
            self._check_rollups(rollups, loader.load_rollups(rollups["file"], self.devices_by_serial))

    def _rollup_groups(self, entries: list[dict[str, Any]],
                       zone_of: dict[int, str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """The telemetry files in groups of whole devices of one zone, about ROLLUP_GROUP_POINTS
        points each, in device id order: each group is rolled up right after it is loaded."""
        def new_id(entry: dict[str, Any]) -> int:
            return int(self.maps["devices"][entry["device_id"]])

        group: list[dict[str, Any]] = []
        points = 0
        for entry in sorted(entries, key=lambda item: (zone_of[new_id(item)], new_id(item))):
            if group and new_id(entry) != new_id(group[-1]) and (
                    points >= bulkload.ROLLUP_GROUP_POINTS or zone_of[new_id(entry)] != zone_of[new_id(group[-1])]):
                yield zone_of[new_id(group[-1])], group
                group, points = [], 0
            group.append(entry)
            points += int(entry["points"])
        if group:
            yield zone_of[new_id(group[-1])], group

    def _import_telemetry_sqlite(self, entries: list[dict[str, Any]], zone_of: dict[int, str]) -> None:
        for entry in entries:
            new_id = self.maps["devices"][entry["device_id"]]
            self._stored(entry, self._write_file(entry["file"], new_id, entry["key"], zone_of[new_id]))
        rollups = _rollup_entry(self.document)
        if rollups is not None:
            self._check_rollups(rollups, self._write_rollups(rollups["file"]))

    def _check_rollups(self, entry: dict[str, Any], stored: int) -> None:
        if stored != entry["rows"]:
            raise ImportRefused([f"{entry['file']}: {stored} rows of devices in the export, the manifest says "
                                 f"{entry['rows']}"])
        self.report.counts["telemetry_rollups"] = stored

    def _write_file(self, member: str, device_id: int, key: str, zone: str) -> int:
        """SQLite: one telemetry file through the store; the points read."""
        count, inserted, batch = 0, 0, []
        with self.archive.open(member) as handle:
            header = handle.readline()
            if header not in fmt.TELEMETRY_HEADERS:
                raise ImportRefused([f"{member}: unexpected header {header[:60]!r}"])
            width = header.count(b",") + 1
            reader = csv.reader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))
            for line in reader:
                if len(line) != width:
                    raise ImportRefused([f"{member}: line {reader.line_num + 1} has {len(line)} fields, not {width}"])
                ts, value, text, *marks = line
                at = datetime.fromisoformat(ts.replace("Z", "+00:00"))
                number_or_text = float(value) if value != "" else text
                if marks:  # a series from a batch source (see manifest): status and interval end
                    status, end = marks
                    batch.append(Point(device_id, key, at, number_or_text, zone, status,
                                       datetime.fromisoformat(end.replace("Z", "+00:00")) if end else None))
                else:
                    batch.append(Point(device_id, key, at, number_or_text, zone))
                if len(batch) >= TELEMETRY_BATCH:
                    inserted += write_points(self.connection, batch)
                    count, batch = count + len(batch), []
        if batch:
            inserted += write_points(self.connection, batch)
            count += len(batch)
        if inserted != count:  # the device is new: a point not inserted is one the file holds twice
            raise ImportRefused([f"{member}: the same time occurs twice ({count - inserted} points)"])
        return count

    def _write_rollups(self, member: str) -> int:
        """SQLite: the exported rollup rows, over the ones `write_points` made; the rows stored."""
        table = TelemetryRollup.__table__
        figures = ("count", "sum", "min", "max", "last_value", "last_ts")
        statement = sqlite_insert(table)
        statement = statement.on_conflict_do_update(index_elements=["device_id", "key", "period", "bucket_start"],
                                                    set_={name: statement.excluded[name] for name in figures})
        stored, batch = 0, []
        with self.archive.open(member) as handle:
            reader = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))
            for row in reader:
                device_id = self.devices_by_serial.get(row["serial"])
                if device_id is None or row["period"] not in ("hour", "day", "month"):
                    continue
                try:
                    batch.append({"device_id": device_id, "key": row["key"], "period": row["period"],
                                  "bucket_start": bulkload.parse_ts(row["bucket_start"]), "count": int(row["count"]),
                                  "sum": float(row["sum"]), "min": float(row["min"]), "max": float(row["max"]),
                                  "last_value": float(row["last_value"]),
                                  "last_ts": bulkload.parse_ts(row["last_ts"])})
                except (TypeError, ValueError) as error:
                    raise ImportRefused([f"{member}: line {reader.line_num} is malformed ({error})"]) from None
                if len(batch) >= BATCH_ROWS:
                    self.connection.execute(statement, batch)
                    stored, batch = stored + len(batch), []
        if batch:
            self.connection.execute(statement, batch)
            stored += len(batch)
        return stored

    def cleanup(self) -> None:
        for path in self.written_files:
            path.unlink(missing_ok=True)


def _clean_display_text(value: Any) -> Any:
    """Text (or a list of labels) as the API stores it now. A reordering character is removed,
    not refused as in the API: an export cannot be corrected (its checksums), only reported on."""
    if isinstance(value, str):
        return display_text.clean(value, refuse_reordering=False)
    if isinstance(value, list):
        return [_clean_display_text(item) for item in value]
    return value


def _decoder(column_type: Any) -> Callable[[Any], Any]:
    if isinstance(column_type, UtcDateTime):
        return lambda value: None if value is None else datetime.fromisoformat(value)
    if isinstance(column_type, Date):
        return lambda value: None if value is None else date.fromisoformat(value)
    return lambda value: value


def import_export(factory: sessionmaker[Session], settings: Settings, path: Path, *, parent_tenant_id: int | None = None,
                  on_conflict: str = "refuse", progress: Progress | None = None,
                  actor: Actor | None = None) -> ImportReport:
    """Verify the export, then load it below `parent_tenant_id` (default: the root) in one transaction."""
    if on_conflict not in ("refuse", "suffix"):
        raise ValueError("on_conflict is refuse or suffix")
    document = verify_export(path)
    report = ImportReport()
    with zipfile.ZipFile(path) as archive, system_session(factory, reason="data import") as db:
        plan = _plan(db, archive, parent_tenant_id, on_conflict, report)
        writer = _Writer(db, settings, archive, document, plan, report, progress)
        try:
            for spec in fmt.EXPORTED:
                writer.import_table(spec)
            writer.import_telemetry()
            top = next(new for old, new in writer.maps["tenants"].items())
            report.tenant_id = top
            report.remapped = {name: dict(writer.maps[name]) for name in REPORTED_MAPS if name in writer.maps}
            # Recorded on the parent: the imported subtree's own audit log stays exactly as exported.
            record(db, "data.import", tenant_id=plan.parent.id, target_type="tenants", target_id=top,
                   details={"file": path.name, "source_tenant": document["source"].get("tenant_name", ""),
                            "counts": report.counts, "telemetry_points": report.telemetry_points},
                   actor=actor)
            db.commit()
        except BaseException:
            db.rollback()
            writer.cleanup()
            raise
    return report
