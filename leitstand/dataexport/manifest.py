"""The export format: which tables go into an export and how, the manifest, and checking a zip.

Layout of an export zip (format `leitstand-export`, schema version 1):

    manifest.json                 what is in the zip (see `build_manifest`)
    data/<table>.jsonl            master and movement data, one JSON object per row
    telemetry/<serial>/<key>.csv  raw telemetry of one device and key: ts,value,text, oldest first;
                                  ts,value,text,status,interval_end for a series that holds values
                                  from a batch source with a status or an interval (see below)
    telemetry_rollups.csv         the rollups the raw points cannot give back (see below)
    documents/<id>-<file name>    uploaded documents (inspection-book attachments) as uploaded

Rows keep their source ids and reference each other by those ids; an import gives every row
a new id and rewrites the references. So that two exports of the same data compare equal
whatever ids the instances gave out, the manifest carries a *content checksum*: per table
a hash over the rows with every id left out and every reference replaced by the content
hash of the row it points at (see `ContentHasher`).

Rollups (leitstand.telemetry.store) can mostly be recomputed from the raw points, but
retention deletes old points and keeps their rollups. So an export carries, per device and
key, the rollups whose bucket starts before that series' first exported point (all of them
for a series without points): exactly what an import cannot recompute. An import computes
the rollups from the points and writes the exported rows over them: where both exist
(the bucket holding the first point) the exported row wins, as it also counts the points
retention deleted. The telemetry files and the rollup file are id-free (devices by serial
number) and written in a fixed order, byte for byte the same from SQLite and PostgreSQL;
the rollup file's hash is its content checksum (an older export without it still imports).

A telemetry file names its columns in its header. A series of plain measured values at an
instant (every series a device sends itself) has the three columns it always had, so such
exports are the same bytes as before value statuses existed. A series with any point of
another status or with an interval end has two more: `status` (measured, substitute,
provisional, estimated) on every line, and `interval_end` (UTC, empty for none).

Every table of the schema is either in EXPORTED or in NOT_EXPORTED with the reason;
tests/dataexport/test_catalogue.py fails for a table in neither.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

FORMAT = "leitstand-export"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
TELEMETRY_HEADER = b"ts,value,text\n"
MARKED_TELEMETRY_HEADER = b"ts,value,text,status,interval_end\n"  # a series with statuses or intervals
TELEMETRY_HEADERS = (TELEMETRY_HEADER, MARKED_TELEMETRY_HEADER)
ROLLUPS = "telemetry_rollups.csv"
ROLLUP_COLUMNS = ("serial", "key", "period", "bucket_start", "count", "sum", "min", "max", "last_value", "last_ts")
ROLLUP_HEADER = (",".join(ROLLUP_COLUMNS) + "\n").encode()


@dataclass(frozen=True)
class TableSpec:
    """How one table is exported.

    select_by: the column that ties a row to the subtree (default: tenant_id, else device_id,
    else its first required reference to another exported table).
    omit: secret columns that never leave the instance (hashes, sealed secrets).
    regenerated: columns an import sets anew (tree paths, storage keys); not content.
    skip_if_unresolved: nullable references without which the row makes no sense (a role grant
    on a site outside the export is dropped, not turned into a grant on nothing).
    display_text: names, titles and texts people typed; an import cleans them as the API does
    (leitstand.display_text), since an export may come from a version that did not.
    """

    name: str
    select_by: str | None = None
    omit: frozenset[str] = frozenset()
    regenerated: frozenset[str] = frozenset()
    skip_if_unresolved: frozenset[str] = frozenset()
    display_text: frozenset[str] = frozenset()


NAME = frozenset({"name"})
ADDRESS = frozenset({"name", "street", "postal_code", "city"})

# In dependency order: a table comes after every table it references.
EXPORTED: tuple[TableSpec, ...] = (
    TableSpec("tenants", select_by="path", regenerated=frozenset({"path"}), display_text=ADDRESS),
    TableSpec("users", omit=frozenset({"password_hash", "totp_secret_encrypted", "totp_last_step"}),
              display_text=frozenset({"display_name"})),
    TableSpec("sites", regenerated=frozenset({"path"}), display_text=ADDRESS),
    TableSpec("site_groups", display_text=NAME),
    TableSpec("site_group_members"),
    TableSpec("device_types"),  # the subtree's own types; shipped types are referenced by key
    TableSpec("devices", omit=frozenset({"claim_secret_hash"}), display_text=frozenset({"name", "labels"})),
    TableSpec("device_connections", omit=frozenset({"secrets_sealed"}), display_text=NAME),
    # A binding through a connection outside the subtree (a partner's network server) stays behind.
    TableSpec("device_bindings", skip_if_unresolved=frozenset({"connection_id"})),
    TableSpec("role_grants", skip_if_unresolved=frozenset({"scope_tenant_id", "site_id", "device_id"})),
    TableSpec("device_shares", select_by="owner_tenant_id"),
    TableSpec("licenses"),
    TableSpec("license_changes"),
    TableSpec("commands"),
    TableSpec("device_states"),
    TableSpec("device_events"),
    TableSpec("alarm_rules", display_text=NAME),
    TableSpec("alarms"),
    # By alarm, not device: a catalogue alarm (on the root tenant) names a customer's device.
    TableSpec("alarm_comments", select_by="alarm_id", display_text=frozenset({"text"})),
    TableSpec("notification_rules", display_text=NAME),
    TableSpec("maintenance_plans", display_text=frozenset({"name", "checklist"})),
    TableSpec("inspection_entries", display_text=frozenset({"technician_name", "findings", "signature_name"})),
    TableSpec("inspection_attachments", regenerated=frozenset({"storage_key"})),
    TableSpec("heating_plans", display_text=NAME),
    TableSpec("heating_assignments"),
    TableSpec("heating_modes"),
    TableSpec("heating_thermostat_states"),
    TableSpec("tickets", display_text=frozenset({"title", "description"})),
    TableSpec("ticket_events"),
    TableSpec("ticket_comments", display_text=frozenset({"body"})),
    TableSpec("support_access_codes", omit=frozenset({"code_hash"}), display_text=frozenset({"note"})),
    TableSpec("audit_log"),
)
SPECS = {spec.name: spec for spec in EXPORTED}


@dataclass(frozen=True)
class NotCarried:
    """A kind of thing an export does not carry, and how it is issued anew after an import.

    Secrets never leave an installation (they are hashes, or sealed with its key), and some
    things are bound to it: a security key to its web address, a push subscription to its
    VAPID key. The manifest, the import report, the export API and page, and the README list
    every kind; tests/dataexport/test_not_carried.py fails for a secret that is left out
    without being listed here.

    key: stable name (manifest, import report, API). what / reissue: English texts; the
    portal translates them (locale/de/LC_MESSAGES/dataexport.po). portal, api, cli: the page,
    the API routes and the command that issue it anew, where there is one. tables: tables
    left out for it; columns: columns of exported tables left out for it.
    """

    key: str
    what: str
    reissue: str
    portal: str = ""
    api: tuple[str, ...] = ()
    cli: str = ""
    tables: frozenset[str] = frozenset()
    columns: frozenset[tuple[str, str]] = frozenset()

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "what": self.what, "reissue": self.reissue, "portal": self.portal,
                "api": list(self.api), "cli": self.cli}

    def where(self) -> str:
        """Page, API routes and command in one line: "page /account · POST /api/v1/me/yubikeys"."""
        places = ([f"page {self.portal}"] if self.portal else []) + list(self.api) + ([self.cli] if self.cli else [])
        return " · ".join(places)


NOT_CARRIED: tuple[NotCarried, ...] = (
    NotCarried(
        "passwords", "Passwords of users, and invitation or reset links not used yet",
        "An admin sends each user a new invitation (Management → Users and invitations: Resend invitation), or the "
        "user requests a password reset; the link sets a new password.",
        portal="/manage/users", api=("POST /api/v1/users/{user_id}/invitation", "POST /api/v1/auth/password-reset"),
        tables=frozenset({"email_tokens"}), columns=frozenset({("users", "password_hash")})),
    NotCarried(
        "totp", "Authenticator apps (TOTP) of users",
        "Each user sets the app up again under My account; an organisation that requires a second factor asks for "
        "it at the first login.",
        portal="/account", api=("POST /api/v1/me/totp/setup", "POST /api/v1/me/totp"),
        columns=frozenset({("users", "totp_secret_encrypted"), ("users", "totp_last_step")})),
    NotCarried(
        "security_keys", "Security keys and passkeys (WebAuthn), which are bound to this installation's web address",
        "Each user registers them again under My account.",
        portal="/account", api=("POST /api/v1/me/webauthn/options", "POST /api/v1/me/webauthn"),
        tables=frozenset({"webauthn_keys"})),
    NotCarried(
        "yubikeys", "YubiKeys for one-time passwords (Yubico OTP)",
        "Each user adds them again under My account.",
        portal="/account", api=("POST /api/v1/me/yubikeys",), tables=frozenset({"yubikeys"})),
    NotCarried(
        "recovery_codes", "Recovery codes of users, which stand in for a lost second factor",
        "Each user makes a new set under My account once their second factor is set up again.",
        portal="/account", api=("POST /api/v1/me/recovery-codes",), tables=frozenset({"recovery_codes"})),
    NotCarried(
        "sessions", "Login sessions", "Users sign in again.",
        portal="/login", api=("POST /api/v1/auth/login",), tables=frozenset({"login_sessions"})),
    NotCarried(
        "known_browsers", "The browsers each user has logged in with, which tell a login from a new browser",
        "Nothing to do: each user's first login after the import is taken as known, later ones from other browsers "
        "are mailed to the user as new.",
        portal="/login", api=("POST /api/v1/auth/login",), tables=frozenset({"known_browsers"})),
    NotCarried(
        "api_tokens", "API tokens of integrations",
        "The owner creates a new token under Management → API tokens and enters it in the integration.",
        portal="/manage/tokens", api=("POST /api/v1/me/tokens",), tables=frozenset({"api_tokens"})),
    NotCarried(
        "device_credentials", "Device credentials (MQTT and HTTP): devices cannot connect until they have new ones",
        "Issue new credentials for each device (shown once) and enter them in the device.",
        api=("POST /api/v1/devices/{device_id}/credentials",), tables=frozenset({"device_credentials"})),
    NotCarried(
        "claim_secrets", "Claim secrets: the QR labels of devices not yet claimed no longer work",
        "Issue a new claim secret for each such device and print a new label.",
        api=("POST /api/v1/devices/{device_id}/claim-secret",),
        cli="leitstand devices qr --serial SERIAL --secret SECRET --out label.svg",
        columns=frozenset({("devices", "claim_secret_hash")})),
    NotCarried(
        "connection_secrets", "Secrets of transport connections (network servers, OCPP endpoints, file sources): "
        "the connections and their devices' bindings are kept, but they cannot log in",
        "Enter each connection's secrets again (a JSON object, sealed with this installation's key).",
        cli="leitstand devices connection-secrets --connection ID --from-file secrets.json",
        columns=frozenset({("device_connections", "secrets_sealed")})),
    NotCarried(
        "webhooks", "Webhooks with their signing secrets; routing rules lose the webhooks they named",
        "Register each webhook again under Notifications, give the integration its signing secret and add the "
        "webhook to its routing rules.",
        portal="/notifications",
        api=("POST /api/v1/notifications/webhooks", "PATCH /api/v1/notifications/rules/{rule_id}"),
        tables=frozenset({"notification_webhooks"})),
    NotCarried(
        "push_subscriptions", "Web Push subscriptions of browsers, which are bound to this installation's VAPID key",
        "Each user turns push on again under Notifications, in every browser; the new installation has its own "
        "VAPID key.",
        portal="/notifications", api=("POST /api/v1/me/push-subscriptions",),
        tables=frozenset({"push_subscriptions", "notification_keys"})),
    NotCarried(
        "site_mutes", "Sites users muted for their notifications",
        "Each user mutes them again under Notifications.",
        portal="/notifications", api=("PUT /api/v1/me/site-mutes/{site_id}",),
        tables=frozenset({"notification_site_mutes"})),
    NotCarried(
        "release_codes", "Support release codes: the records are kept, but no code can be redeemed",
        "Issue a new release code under Support access when support needs access again.",
        portal="/support-access", api=("POST /api/v1/support-access",),
        columns=frozenset({("support_access_codes", "code_hash")})),
)


def not_carried_json() -> list[dict[str, Any]]:
    return [kind.as_json() for kind in NOT_CARRIED]


# Tables deliberately left out, and why. Telemetry is exported too, as CSV (not JSON Lines).
NOT_EXPORTED: dict[str, str] = {
    "telemetry": "exported as telemetry/<serial>/<key>.csv, not as JSON Lines",
    "telemetry_rollups": f"exported as {ROLLUPS} as far as the raw points cannot recompute them; not as JSON Lines",
    "telemetry_rollup_queue": "rollup work still pending here; an import recomputes the rollups",
    "login_throttles": "throttle counters of this instance (failed logins and claims, reset requests)",
    "ingest_rejections": "operational counters of refused messages",
    "unknown_event_codes": "operational counters of event codes a device type's catalogue lacks, across tenants",
    "alarm_rule_states": "evaluation in progress; rebuilt from the next messages",
    "notification_deliveries": "delivery log of this installation's channels",
    "notification_escalations": "pending escalations of this installation",
    "export_jobs": "records of exports themselves",
    "connection_events": "ids of the network servers' events of the last days, to refuse replays here",
    # Credentials and what else is bound to this installation: issued anew after an import.
    **{table: kind.what for kind in NOT_CARRIED for table in kind.tables},
}

# References without a foreign key (the audit log outlives what it names).
SOFT_REFERENCES: dict[tuple[str, str], str] = {
    ("audit_log", "tenant_id"): "tenants",
    ("audit_log", "actor_user_id"): "users",
    ("commands", "requested_by_user_id"): "users",
}
# JSON lists of ids.
JSON_REFERENCES: dict[tuple[str, str], str] = {
    ("notification_rules", "site_ids"): "sites",
    ("notification_rules", "user_ids"): "users",
    ("notification_rules", "escalation_user_ids"): "users",
    ("notification_rules", "webhook_ids"): "notification_webhooks",
    ("inspection_entries", "completed_plan_ids"): "maintenance_plans",
}
DOCUMENT_FIELD = "document"  # the zip path of an attachment's file, added to its row


# --- value formats ----------------------------------------------------------------------


def format_ts(at: datetime) -> str:
    """ISO 8601 in UTC with a Z; a fraction of a second only when there is one, without trailing zeros
    (exactly as PostgreSQL prints a timestamp, which the COPY export path uses)."""
    at = at.astimezone(UTC)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{at.microsecond:06d}".rstrip("0") + "Z" if at.microsecond else f"{text}Z"


def format_number(value: float) -> str:
    """The shortest text that reads back as the same double, written as PostgreSQL writes float8."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    text = repr(float(value))
    if "e" in text or "n" in text:  # exponent form (same in both), inf, nan
        return text.replace("inf", "Infinity").replace("nan", "NaN")
    if abs(value) >= 1e15:  # PostgreSQL switches to an exponent here, Python one digit later
        return format(Decimal(text).normalize(), "e")
    return text[:-2] if text.endswith(".0") else text


def csv_field(text: str) -> str:
    """A text field quoted like PostgreSQL's CSV output: an empty string is "" (NULL is empty)."""
    if text == "" or text == "\\." or any(char in text for char in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def telemetry_line(at: datetime, num: float | None, txt: str | None) -> str:
    return f"{format_ts(at)},{'' if num is None else format_number(num)},{'' if txt is None else csv_field(txt)}\n"


def marked_telemetry_line(at: datetime, num: float | None, txt: str | None, status: str,
                          interval_end: datetime | None) -> str:
    """A line of a file with MARKED_TELEMETRY_HEADER."""
    end = "" if interval_end is None else format_ts(interval_end)
    return telemetry_line(at, num, txt)[:-1] + f",{status},{end}\n"


def rollup_line(serial: str, key: str, period: str, start: datetime, count: int, total: float, low: float,
                high: float, last_value: float, last_ts: datetime) -> str:
    """One row of telemetry_rollups.csv, exactly as the PostgreSQL COPY path writes it."""
    numbers = ",".join(format_number(float(value)) for value in (total, low, high, last_value))
    return f"{csv_field(serial)},{csv_field(key)},{period},{format_ts(start)},{count},{numbers},{format_ts(last_ts)}\n"


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        raise TypeError("binary columns are not exported")
    return value


def dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False, default=json_value, separators=(",", ":"))


# --- content checksum ---------------------------------------------------------------------

MODULUS = 2**256


class MultisetDigest:
    """An order-independent hash of a multiset of rows: the sum of their SHA-256 values mod 2^256.

    Rows are streamed, so their order must not matter and they cannot all be kept to sort.
    """

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def add(self, digest: bytes) -> None:
        self.total = (self.total + int.from_bytes(digest, "big")) % MODULUS
        self.count += 1

    def hexdigest(self) -> str:
        return self.total.to_bytes(32, "big").hex()


def canonical_digest(canonical: dict[str, Any]) -> bytes:
    return hashlib.sha256(dumps(canonical).encode()).digest()


# --- the manifest ---------------------------------------------------------------------------


@dataclass
class FileEntry:
    sha256: str
    size: int
    rows: int | None = None

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"sha256": self.sha256, "size": self.size}
        if self.rows is not None:
            entry["rows"] = self.rows
        return entry


@dataclass
class ManifestData:
    """What `build_manifest` writes; gathered while the export runs."""

    source: dict[str, Any]
    exported_at: datetime
    leitstand_version: str
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, FileEntry] = field(default_factory=dict)
    content: dict[str, Any] = field(default_factory=dict)
    telemetry: list[dict[str, Any]] = field(default_factory=list)
    rollup_rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    missing_documents: list[str] = field(default_factory=list)


def build_manifest(data: ManifestData) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "leitstand_version": data.leitstand_version,
        "exported_at": format_ts(data.exported_at),
        "source": data.source,
        "counts": data.counts,
        "files": {name: entry.as_json() for name, entry in sorted(data.files.items())},
        "telemetry": {
            "columns": ["ts", "value", "text"],
            "rollups": {
                "file": ROLLUPS,
                "columns": list(ROLLUP_COLUMNS),
                "rows": data.rollup_rows,
                "holds": "per device and key the rollups of buckets that start before its first exported point "
                         "(all of them if it has none); an import recomputes the others from the points",
            },
            # first/last: the times of a file's first and last point (its rows are in time order).
            "files": data.telemetry,
        },
        "content": data.content,
        "skipped_rows": data.skipped,
        "missing_documents": data.missing_documents,
        # What the export leaves behind, and how each kind is issued anew after an import.
        "not_carried": not_carried_json(),
        # Fields that differ between two exports of the same data: ids (source.tenant_id, row ids,
        # telemetry[].device_id), exported_at, leitstand_version, files (they hold ids); `content` does not.
        "volatile_fields": ["exported_at", "leitstand_version", "source.tenant_id", "files", "telemetry.files[].device_id"],
    }


# --- references --------------------------------------------------------------------------


def model_classes() -> dict[str, type]:
    """Every mapped class by table name."""
    from leitstand.db.models import Base

    return {mapper.local_table.name: mapper.class_ for mapper in Base.registry.mappers}


def reference_target(table_name: str, column_name: str) -> str | None:
    """The table a column refers to, by foreign key or as a declared soft reference."""
    from leitstand.db.models import Base

    soft = SOFT_REFERENCES.get((table_name, column_name))
    if soft:
        return soft
    column = Base.metadata.tables[table_name].c[column_name]
    for foreign_key in column.foreign_keys:
        return foreign_key.column.table.name
    return None


def tables_with_id_maps() -> frozenset[str]:
    """Exported tables whose rows others point at (by key, soft reference, JSON list or audit
    target): export and import keep an id map for exactly these."""
    from leitstand.db.models import Base

    classes = model_classes()
    names = set()
    for spec in EXPORTED:
        table = Base.metadata.tables[spec.name]
        for column in table.c:
            if (target := reference_target(spec.name, column.name)) is not None:
                names.add(target)
        if getattr(classes[spec.name], "__audited__", False):
            names.add(spec.name)
    names.update(JSON_REFERENCES.values())
    return frozenset(name for name in names if name in SPECS)
