"""Onboarding: how a device comes to work for a tenant, and how it stops.

The life of a device, in the order it happens:

import        A maker or partner registers devices in bulk from CSV (serial number, type,
              claim secret). They are *unclaimed*: stock held by the importing tenant.
QR label      Each device carries its serial number and claim secret as a QR code
              (`qr_payload`, format `LS1:<serial>:<claim secret>`).
claim         "Activation of the connector": whoever holds the label proves possession with
              the claim secret and binds the device to a tenant and site they administer.
              The device gets its credentials (shown once) and its license starts.
credentials   What the device logs in with: MQTT username and password, or the HTTP
              ingest bearer token `<serial>:<secret>`. Rotated on demand.
decommission  The device stops: credentials revoked, license no longer renews.

This module holds the device's side of each step. Claiming and decommissioning also touch
the device's licence, which lies on a floor above devices: leitstand.fleet.claiming
composes the two.

Other parts of the platform learn about credential changes through the
`CREDENTIAL_CHANGES` listeners of a session factory (the Mosquitto dynamic-security
admin, once the runtime's broker-admin component started, provisions broker users
with them).
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from leitstand.access.rules import within_tenant
from leitstand.audit.recorder import record
from leitstand.auth import throttle
from leitstand.auth.secrets import token_digest, verify_password
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.devices.models import Device, DeviceCredential, DeviceShare
from leitstand.devices.schemas import ClaimSecret, DeviceImportRow, SerialNumber
from leitstand.devices.service import claim_secret_matches, set_claim_secret, site_serves_tenant
from leitstand.devicetypes.models import DeviceType
from leitstand.i18n import Conflict, NotFound, Refusal, Throttled
from leitstand.listeners import EventKind
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session

M = TypeVar("M")

# --- credential listeners ----------------------------------------------------------------

CREDENTIAL_CHANGES: EventKind[[str, str | None]] = EventKind("device credentials")
"""Its listeners are called with (serial, secret) after a device's credentials changed and were committed.

secret is the new plain secret (claim, rotation: provision or replace the broker user),
or None (decommission: remove the user). They live on a session factory:
`CREDENTIAL_CHANGES.listeners(factory).subscribe(f)`, e.g. the Mosquitto dynamic-security
admin when the runtime's broker-admin component starts. Listeners run in the request's thread,
after the commit: the database is the truth, and a listener that fails is logged and
does not undo the change. Only the secret's digest is stored, so a broker that missed a
new secret cannot be refilled from the database: rotate that device's credentials again.
"""


def announce_credentials(where: Session | sessionmaker[Session], serial: str, secret: str | None) -> list[str]:
    """Tell the listeners of `where` (the session that committed the change, or its factory);
    returns why each failed one failed (empty: all took it), for callers that report per
    device (the simulator, the demo)."""
    # A broken broker sync must not turn a committed claim into an error: failures are logged and returned.
    return [str(error) or type(error).__name__ for error in CREDENTIAL_CHANGES.notify(where, serial, secret)]


# --- credentials -----------------------------------------------------------------------


def new_device_secret() -> str:
    """256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def revoke_credentials(db: Session, device: Device) -> int:
    """Revoke every live credential of a device. Returns how many there were."""
    now = clock.now()
    live = db.scalars(
        select(DeviceCredential).where(DeviceCredential.device_id == device.id, DeviceCredential.revoked_at.is_(None))
    ).all()
    for credential in live:
        credential.revoked_at = now
    return len(live)


def issue_credentials(db: Session, device: Device) -> tuple[DeviceCredential, str]:
    """Revoke the old credentials and issue new ones. The plain secret is returned here,
    once; only its SHA-256 hash is stored (256 random bits need no slow hash)."""
    revoke_credentials(db, device)
    secret = new_device_secret()
    credential = DeviceCredential(
        device_id=device.id, tenant_id=device.tenant_id, username=device.serial_number, secret_hash=token_digest(secret),
    )
    db.add(credential)
    db.flush()
    return credential, secret


def rotate_credentials(db: Session, device: Device) -> tuple[DeviceCredential, str]:
    """New credentials for a claimed, working device; the old ones stop at once."""
    if device.claimed_at is None:
        raise Conflict("The device is not claimed yet; claiming issues its first credentials.")
    if device.decommissioned_at is not None:
        raise Conflict("The device is decommissioned.")
    return issue_credentials(db, device)


def mark_decommissioned(db: Session, device: Device) -> bool:
    """The device's side of decommissioning: credentials revoked, decommissioned_at set.
    Returns False if it was decommissioned already."""
    if device.decommissioned_at is not None:
        return False
    revoke_credentials(db, device)
    device.decommissioned_at = clock.now()
    return True


# --- QR labels -------------------------------------------------------------------------

QR_PREFIX = "LS1"


def qr_payload(serial: str, claim_secret: str) -> str:
    """What a device's QR label encodes: `LS1:<serial>:<claim secret>`.

    Neither part may contain ":" (see SerialNumber and ClaimSecret), so the text splits
    unambiguously. "LS1" names the format and its version.
    """
    return f"{QR_PREFIX}:{serial}:{claim_secret}"


def parse_qr_payload(text: str) -> tuple[str, str]:
    """(serial, claim secret) from a scanned label; ValueError if it is not one of ours."""
    from pydantic import TypeAdapter

    prefix, _, rest = text.strip().partition(":")
    serial, _, secret = rest.partition(":")
    if prefix != QR_PREFIX or not serial or not secret:
        raise ValueError("not a Leitstand device label (expected LS1:<serial>:<claim secret>)")
    try:
        return TypeAdapter(SerialNumber).validate_python(serial), TypeAdapter(ClaimSecret).validate_python(secret)
    except ValidationError as error:
        raise ValueError("the label's serial number or claim secret is malformed") from error


def label_qr(serial: str, claim_secret: str):  # type: ignore[no-untyped-def]
    """The QR code of a device label (a segno.QRCode). Error correction at least M, raised
    where it costs no size: labels get scratched."""
    import segno

    serial, claim_secret = parse_qr_payload(qr_payload(serial, claim_secret))  # refuse what could not be claimed
    return segno.make(qr_payload(serial, claim_secret), error="m", boost_error=True, micro=False)


def write_label(serial: str, claim_secret: str, out: os.PathLike[str] | str, scale: int = 8) -> None:
    """Write a label's QR code as SVG or PNG, chosen by the file's extension."""
    suffix = os.path.splitext(str(out))[1].lower()
    if suffix not in (".svg", ".png"):
        raise ValueError(f"write .svg or .png, not {suffix or 'a file without extension'}")
    qr = label_qr(serial, claim_secret)
    if suffix == ".svg":
        qr.save(out, kind="svg", scale=scale, border=4, title=f"{serial}")
    else:
        qr.save(out, kind="png", scale=scale, border=4)


# --- claiming --------------------------------------------------------------------------


@dataclass
class Bound:
    """A device just bound to its claimer's tenant and site, with its first credentials;
    `secret` is the credential's plain secret, here once. `claimed_at`: when, the day its
    licence starts."""

    device: Device
    credential: DeviceCredential
    secret: str
    claimed_at: datetime


def claim_policy(settings: Settings) -> throttle.GuessPolicy:
    """Wrong claim secrets are throttled like logins (leitstand.auth.throttle), with the
    serial number as the subject and the claiming tenant as the client: per (serial, tenant)
    and per tenant, so that another tenant's guesses never hold up the rightful owner."""
    return throttle.GuessPolicy(
        "claim", settings.claim_slowdown_after, settings.claim_tenant_slowdown_after, None,
        timedelta(minutes=settings.login_failure_window_minutes),
    )


def _no_such_device() -> NotFound:
    # One answer for "unknown serial", "wrong secret" and "not yours to claim", so that
    # serial numbers cannot be probed.
    return NotFound("device", "No such device, or the claim secret does not match.")


def _throttled(refusal: throttle.Refusal) -> Throttled:
    return Throttled("claim-throttled", "Too many wrong claim secrets from your organisation; wait before trying again.",
                     refusal.retry_after_seconds)


def _visible(db: Session, model: type[M], key: int, what: str) -> M:
    """The row if the claimer's scoped session shows it; NotFound otherwise."""
    row = db.get(model, key)
    if row is None:
        raise NotFound(what)
    return row


@contextmanager
def _stock_lookup(db: Session) -> Iterator[Session]:
    """The one unscoped step of claiming: finding the device by its serial number.

    An unclaimed device belongs to the maker's stock, which the claimer cannot see; the
    claim secret, not the scope, proves the right to it. The lookup session works on the
    claimer's own connection and transaction, so the row lock taken here holds until the
    binding, made through the claimer's scoped session, commits or rolls back.
    """
    connection = db.connection()
    with system_session(lambda: Session(bind=connection), reason="claim: find a device in stock by serial") as lookup:
        yield lookup
        lookup.flush()


def bind_to_claimer(
    db: Session, settings: Settings, *, serial_number: str, claim_secret: str, tenant_id: int, site_id: int,
    claimer_tenant_id: int, name: str | None = None,
) -> Bound:
    """The device's side of a claim: bind an unclaimed device to a tenant and site and issue
    its credentials. Starting its licence and auditing the claim are leitstand.fleet.claiming's.

    db is the claimer's session, scoped to device.write; claimer_tenant_id is the tenant of
    whoever claims (not the target tenant, which the claimer chooses). Rules, in order:
    - too many wrong secrets from the claimer's tenant, for this serial or for all: 429;
    - unknown serial or wrong secret: 404 (counted for the throttle);
    - claimed already or decommissioned: 409 (only said to whoever knows the secret);
    - tenant or site not visible to the claimer: 404; site of another organisation: 422;
    - the device's current owner must be the target tenant or above it: stock moves down
      the tenant tree, so a label of one partner's stock cannot be claimed into another's: 404.
    """
    policy, claimer = claim_policy(settings), str(claimer_tenant_id)
    now = clock.now()
    refused = False
    device: Device | None = None
    owner_path: str | None = None
    with _stock_lookup(db) as lookup:
        refusal = throttle.check(lookup, policy, serial_number, claimer)
        if refusal is not None:
            raise _throttled(refusal)
        device = lookup.scalar(select(Device).where(Device.serial_number == serial_number).with_for_update())
        if device is None:
            verify_password(None, claim_secret)  # the same time as a real check
        if device is None or not claim_secret_matches(device, claim_secret):
            throttle.record_failure(lookup, policy, serial_number, claimer)
            record(lookup, "device.claim", outcome="failure", target_type="devices",
                   details={"serial_number": serial_number, "reason": "unknown serial or wrong secret"})
            refused = True
        else:
            throttle.record_success(lookup, policy, serial_number, claimer)
            if device.decommissioned_at is not None:
                raise Conflict("The device is decommissioned.")
            # Compare and set: of two claims racing for one device, exactly one passes. PostgreSQL's
            # row lock above serialises them already; SQLite takes its write lock here.
            devices = Device.__table__
            reserved = lookup.execute(
                update(devices).where(devices.c.id == device.id, devices.c.claimed_at.is_(None)).values(claimed_at=now)
            )
            if device.claimed_at is not None or reserved.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict("The device is claimed already.")
            owner_path = lookup.scalar(select(Tenant.path).where(Tenant.id == device.tenant_id))
            # Shares were the previous owner's to give; a device changing hands starts without.
            for share in lookup.scalars(select(DeviceShare).where(DeviceShare.device_id == device.id)):
                lookup.delete(share)
            lookup.flush()
            lookup.expunge(device)
    if refused:
        db.commit()  # keep the failure count and audit entry
        raise _no_such_device()

    tenant = _visible(db, Tenant, tenant_id, "tenant")
    site = _visible(db, Site, site_id, "site")
    if device is None or owner_path is None or not within_tenant(tenant.path, owner_path):
        raise _no_such_device()
    if not site_serves_tenant(db, site, tenant):
        raise Refusal("The site belongs to another organisation than the tenant.")

    device = db.merge(device, load=False)
    device.tenant_id = tenant.id
    device.site_id = site.id
    device.claimed_at = now
    if name:
        device.name = name
    # The scope's write check runs here: the device must now lie within what the claimer reaches.
    db.flush()
    credential, secret = issue_credentials(db, device)
    return Bound(device=device, credential=credential, secret=secret, claimed_at=now)


# --- bulk import -------------------------------------------------------------------------

IMPORT_COLUMNS = ("serial_number", "type_key", "name", "site_id", "labels", "claim_secret")
REQUIRED_COLUMNS = frozenset({"serial_number", "type_key"})
LABEL_SEPARATOR = "|"
MAX_IMPORT_BYTES = 512 * 1024
# Every row's claim secret is hashed with argon2 (about 0.15 s of one core each), so an
# HTTP upload stays at a size that answers within a minute; the CLI takes more.
MAX_IMPORT_ROWS = 500


class CsvRejected(ValueError):
    """The file as a whole cannot be read: encoding, header, size."""


@dataclass
class ImportRowResult:
    """row: as a spreadsheet numbers it (the header is row 1)."""

    row: int
    serial_number: str
    status: Literal["ok", "error"] = "ok"
    message: str = ""
    device_id: int | None = None
    claim_secret: str | None = None  # only when generated: the one chance to print the label


@dataclass
class ImportReport:
    tenant_id: int
    dry_run: bool
    imported: bool = False
    rows: list[ImportRowResult] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(row.status == "error" for row in self.rows)


def read_csv(data: bytes, max_rows: int = MAX_IMPORT_ROWS) -> list[tuple[int, dict[str, str]]]:
    """The rows of an import file as (row number, cells). UTF-8 (a BOM is fine, as Excel
    writes one); comma- or semicolon-separated, decided by the header line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvRejected("The file is not UTF-8 text.") from error
    if "\x00" in text:
        raise CsvRejected("The file contains NUL characters; is it a spreadsheet rather than CSV?")
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
    except csv.Error as error:
        raise CsvRejected(f"The header line is not valid CSV: {error}") from error
    unknown = [column for column in header if column not in IMPORT_COLUMNS]
    missing = sorted(REQUIRED_COLUMNS - set(header))
    if unknown or missing or len(set(header)) != len(header):
        raise CsvRejected(
            f"The header must name columns from {', '.join(IMPORT_COLUMNS)}, each once; "
            f"serial_number and type_key are required. "
            + (f"Unknown: {', '.join(unknown)}. " if unknown else "")
            + (f"Missing: {', '.join(missing)}." if missing else "")
        )
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= max_rows:
                raise CsvRejected(f"More than {max_rows} rows; split the file.")
            values = dict(zip(header, cells, strict=False))
            if len(cells) > len(header):
                values["__extra__"] = "1"
            rows.append((number, values))
    except csv.Error as error:
        raise CsvRejected(f"Not valid CSV near row {reader.line_num}: {error}") from error
    if not rows:
        raise CsvRejected("The file has a header but no rows.")
    return rows


def _validate_cells(cells: dict[str, str]) -> DeviceImportRow:
    values: dict[str, object] = {}
    for column in IMPORT_COLUMNS:
        cell = (cells.get(column) or "").strip()
        if not cell:
            continue
        if column == "labels":
            values[column] = [label.strip() for label in cell.split(LABEL_SEPARATOR) if label.strip()]
        elif column == "site_id" and cell.isascii() and cell.isdigit():
            # A cell is text; the model takes an id as a number only, as in a JSON body.
            values[column] = int(cell)
        else:
            values[column] = cell
    return DeviceImportRow.model_validate(values)


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(part) for part in item["loc"]) or "row"
    return f"{where}: {item['msg']}"


def taken_serials(factory: sessionmaker[Session], serials: set[str]) -> set[str]:
    """Which of these serial numbers are registered already, anywhere.

    Serial numbers are unique across the platform, so this one question is asked without
    a scope. The answer says only "taken", never by whom.
    """
    if not serials:
        return set()
    with system_session(factory, reason="import: are these serial numbers registered anywhere") as db:
        return set(db.scalars(select(Device.serial_number).where(Device.serial_number.in_(sorted(serials)))))


def import_devices(
    db: Session, factory: sessionmaker[Session], tenant: Tenant, data: bytes, *, dry_run: bool = False,
    max_rows: int = MAX_IMPORT_ROWS,
) -> ImportReport:
    """Register devices from CSV as unclaimed stock of `tenant`. All or nothing: every row
    is checked first, and devices are added only if every row is fine.

    db is the importer's session (scoped to device.write when called from the API): types
    and sites are looked up through it, so a row can only name what the importer sees.
    The caller commits when `report.imported` is true.
    """
    report = ImportReport(tenant_id=tenant.id, dry_run=dry_run)
    parsed: list[tuple[ImportRowResult, DeviceImportRow | None]] = []
    first_row_of: dict[str, int] = {}
    for number, cells in read_csv(data, max_rows):
        result = ImportRowResult(row=number, serial_number=(cells.get("serial_number") or "").strip()[:64])
        row: DeviceImportRow | None = None
        if "__extra__" in cells:
            result.status, result.message = "error", "more cells than the header has columns"
        else:
            try:
                row = _validate_cells(cells)
            except ValidationError as error:
                result.status, result.message = "error", _first_error(error)
        if row is not None:
            if row.serial_number in first_row_of:
                result.status, result.message = "error", f"serial number repeats row {first_row_of[row.serial_number]}"
                row = None
            else:
                first_row_of[row.serial_number] = number
        report.rows.append(result)
        parsed.append((result, row))

    valid = [(result, row) for result, row in parsed if row is not None]
    types = set(db.scalars(select(DeviceType.key).where(DeviceType.key.in_({row.type_key for _, row in valid}))))
    site_ids = {row.site_id for _, row in valid if row.site_id is not None}
    sites = {site.id: site for site in db.scalars(select(Site).where(Site.id.in_(site_ids)))} if site_ids else {}
    serves = {site_id: site_serves_tenant(db, site, tenant) for site_id, site in sites.items()}
    taken = taken_serials(factory, {row.serial_number for _, row in valid})
    for result, row in valid:
        if row.serial_number in taken:
            result.status, result.message = "error", "serial number is registered already"
        elif row.type_key not in types:
            result.status, result.message = "error", f"unknown device type {row.type_key!r}"
        elif row.site_id is not None and row.site_id not in sites:
            result.status, result.message = "error", f"no site {row.site_id}, or not visible to you"
        elif row.site_id is not None and not serves[row.site_id]:
            result.status, result.message = "error", f"site {row.site_id} belongs to another organisation"

    if report.failed or dry_run:
        return report
    devices = []
    for result, row in valid:
        assert row is not None
        devices.append(Device(
            tenant_id=tenant.id, type_key=row.type_key, serial_number=row.serial_number,
            name=row.name or row.serial_number, site_id=row.site_id, labels=row.labels,
        ))
    secrets_ = _hash_claim_secrets(devices, [row.claim_secret for _, row in valid])
    db.add_all(devices)
    db.flush()
    for (result, row), device, secret in zip(valid, devices, secrets_, strict=True):
        result.device_id = device.id
        if row is not None and row.claim_secret is None:
            result.claim_secret = secret
    record(db, "device.import", tenant_id=tenant.id, target_type="tenants", target_id=tenant.id,
           details={"devices": len(devices)})
    report.imported = True
    return report


def _hash_claim_secrets(devices: list[Device], given: list[str | None]) -> list[str]:
    # argon2 releases the GIL: hash on every core.
    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        return list(pool.map(set_claim_secret, devices, given))

