"""The `leitstand` command line: set up, serve, administer."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from leitstand.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from leitstand.runtime import Process

app = typer.Typer(help="Leitstand: the control room for connected devices.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
license_app = typer.Typer(help="Device licenses.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(db_app, name="db")
app.add_typer(license_app, name="license")
devices_app = typer.Typer(help="Device onboarding: QR labels, bulk import, connection secrets.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
bench_app = typer.Typer(help="Benchmarks: they print figures.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
broker_app = typer.Typer(help="The production MQTT broker (Mosquitto with dynamic security).", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
console = Console()

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where SQLite, keys and documents live (default ./var).")]
Host = Annotated[str | None, typer.Option("--host", help="Address to listen on.")]
Port = Annotated[int | None, typer.Option("--port", help="Port to listen on.")]


def _settings(data_dir: Path | None = None, host: str | None = None, port: int | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if (host is not None or port is not None) and "LEITSTAND_PUBLIC_URL" not in os.environ:
        settings.public_url = f"http://{settings.host}:{settings.port}"
    return settings


def _factory(settings: Settings):  # type: ignore[no-untyped-def]
    from leitstand.db.engine import make_engine
    from leitstand.db.models import make_session_factory

    return make_session_factory(make_engine(settings.effective_database_url))


@app.command()
def init(data_dir: DataDir = None) -> None:
    """Create or upgrade the database, sync device types and create the root tenant."""
    from leitstand.bootstrap import initialise

    settings = _settings(data_dir)
    root = initialise(settings, _factory(settings))
    console.print(f"Initialised [bold]{settings.effective_database_url}[/] (root tenant: {root.name}).")


def _serve(settings: Settings, role: str = "all", name: str | None = None,
           extra: Sequence[Callable[[Process], None]] = ()) -> None:
    from leitstand.runtime import IngestNameTaken
    from leitstand.runtime import serve as run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("transitions", "amqtt"):  # per-connection state machine chatter
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        run(settings, role, name=name, extra=extra)
    except IngestNameTaken as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None


Role = Annotated[str, typer.Option("--role", help="api | ingest | scheduler | all (default: everything in one process).")]
IngestName = Annotated[str | None, typer.Option(
    "--name", help="Roles all and ingest: this process's ingest worker, stable and unique per installation; "
                   "its MQTT client id is leitstand-NAME (default: ingest-PORT).")]


@app.command()
def serve(data_dir: DataDir = None, host: Host = None, port: Port = None, role: Role = "all",
          name: IngestName = None) -> None:
    """Run Leitstand (migrating the database first): API, MQTT broker and ingest, scheduler — or one role of them."""
    from leitstand.runtime import ROLES
    from leitstand.transports.native.topics import is_topic_level

    if role not in ROLES:
        raise typer.BadParameter(f"choose one of {', '.join(ROLES)}", param_hint="--role")
    if name is not None and role not in ("all", "ingest"):
        raise typer.BadParameter("names the ingest worker: only with --role ingest or all", param_hint="--name")
    if name is not None and not is_topic_level(name, max_length=40):
        raise typer.BadParameter("one MQTT topic level of at most 40 characters (no '/', '+', '#')",
                                 param_hint="--name")
    _serve(_settings(data_dir, host, port), role, name)


Simulate = Annotated[bool, typer.Option(
    "--simulate/--no-simulate",
    help="Run the demo's barriers, bollards and thermostats in this process, as `leitstand simulate` does.")]


@app.command()
def demo(data_dir: DataDir = None, host: Host = None, port: Port = None, simulate: Simulate = True) -> None:
    """Initialise, seed the demo fleet if the installation is empty, print the logins and serve,
    with the fleet reporting live (unless --no-simulate)."""
    from leitstand.bootstrap import initialise
    from leitstand.demo.fleet import start_simulated_fleet
    from leitstand.demo.seed import DEMO_PASSWORD, seed_demo
    from leitstand.tenancy.scope import system_session
    from leitstand.accounts.models import User

    settings = _settings(data_dir, host, port)
    factory = _factory(settings)
    initialise(settings, factory)
    with system_session(factory, reason="seed demo") as db:
        from sqlalchemy import select

        if db.scalar(select(User.id).limit(1)) is None:
            with _broker_admin(settings, factory):  # the devices' credentials go to Mosquitto as a claim's do
                seeded = seed_demo(db)
            table = Table(title=f"Demo logins (password for all: {DEMO_PASSWORD})")
            for column in ("e-mail", "role", "tenant"):
                table.add_column(column)
            for login in seeded.logins:
                table.add_row(login.email, login.role, login.tenant)
            console.print(table)
            console.print(f"{seeded.devices_with_credentials - len(seeded.broker_failures)} of "
                          f"{seeded.devices_with_credentials} demo devices have credentials"
                          + (" in the database and in Mosquitto." if settings.mqtt_broker == "mosquitto" else "."))
            by_reason: dict[str, list[str]] = {}
            for serial, reason in seeded.broker_failures.items():
                by_reason.setdefault(f"credentials did not reach the broker: {reason}", []).append(serial)
            _print_failures(by_reason)
        else:
            console.print(f"Demo data already present; log in as admin@example.com / {DEMO_PASSWORD}.")
    console.print(f"Serving on [bold]{settings.public_url}[/]  (API docs: {settings.public_url}/api/docs)")
    _serve(settings, extra=[start_simulated_fleet] if simulate else [])


@app.command()
def simulate(
    devices: Annotated[int, typer.Option("--devices", min=1, max=5000, help="How many devices to simulate.")] = 50,
    every: Annotated[float, typer.Option("--every", min=0.2, help="Seconds between reports of each device.")] = 10.0,
    minutes: Annotated[float | None, typer.Option("--minutes", help="Stop after this long (default: until Ctrl-C).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run simulated barriers, bollards and thermostats against a running Leitstand.

    Picks licensed devices of the installation, gives each fresh credentials, and speaks the
    MQTT protocol: telemetry, heartbeats, command answers, now and then an error or an outage.
    """
    from datetime import timedelta

    from leitstand.runtime import running_broker_settings
    from leitstand.simulator.fleet import Fleet, prepare_fleet

    settings = running_broker_settings(_settings(data_dir))
    factory = _factory(settings)
    with _broker_admin(settings, factory):  # fresh credentials reach Mosquitto as a rotation's do
        members = prepare_fleet(factory, devices)
    if not members:
        console.print("[red]No licensed barriers, bollards or thermostats found; run `leitstand demo` first.[/]")
        raise typer.Exit(1)
    console.print(f"Simulating {len(members)} devices against mqtt://{settings.mqtt_host}:{settings.mqtt_port} "
                  f"(Ctrl-C stops).")
    fleet = Fleet(members, settings.mqtt_host, settings.mqtt_port, telemetry_every=every,
                  tls_ca_file=settings.mqtt_tls_ca_file or None)
    try:
        stats = fleet.run(timedelta(minutes=minutes) if minutes else None)
    except KeyboardInterrupt:
        fleet.stop()
        stats = fleet.stats
    console.print(f"Acknowledged by the broker: {stats.acknowledged} publishes; answered {stats.commands_answered} "
                  f"commands; {stats.disconnects} simulated outages; {stats.failed} failures.")
    _print_failures(stats.failures)
    if stats.failed or not stats.acknowledged:
        raise typer.Exit(1)


@contextmanager
def _broker_admin(settings: Settings, factory: sessionmaker[Session]) -> Iterator[None]:
    """With Mosquitto, device credentials changed meanwhile in `factory`'s sessions reach its
    dynamic security (as in a running server); a broker that cannot take them stops the command before it changes anything."""
    from leitstand.runtime import connect_broker_admin
    from leitstand.transports.mqtt.dynsec import DynsecError

    if settings.mqtt_broker == "mosquitto" and not settings.mqtt_admin_username:
        console.print("[red]With Mosquitto, device credentials go to its dynamic security: set "
                      "LEITSTAND_MQTT_ADMIN_USERNAME and LEITSTAND_MQTT_ADMIN_PASSWORD.[/]")
        raise typer.Exit(1)
    try:
        disconnect = connect_broker_admin(settings, factory)
    except (DynsecError, OSError) as error:
        console.print(f"[red]Mosquitto's dynamic security at {settings.mqtt_host}:{settings.mqtt_port} "
                      f"is not reachable: {error}[/]")
        raise typer.Exit(1) from None
    try:
        yield
    finally:
        disconnect()


def _print_failures(failures: Mapping[str, list[str]]) -> None:
    """One line per reason: how often, and on which devices."""
    for reason, serials in sorted(failures.items(), key=lambda item: -len(item[1])):
        devices = sorted(set(serials))
        shown = ", ".join(devices[:5]) + (f" and {len(devices) - 5} more" if len(devices) > 5 else "")
        console.print(f"[red]failed {len(serials)}×[/] {reason} ({shown})")


@app.command("export")
def export_data(
    tenant: Annotated[int, typer.Option("--tenant", help="The tenant to export, with everything below it.")],
    out: Annotated[Path | None, typer.Option("--out", help="The zip to write (default: a dated name here).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Export a tenant and its subtree as a zip: master data, telemetry, documents, audit log."""
    from leitstand.dataexport.cli import run_export

    settings = _settings(data_dir)
    run_export(settings, _factory(settings), tenant, out, console)


@app.command("import")
def import_data(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A zip made by `leitstand export`.")],
    parent_tenant: Annotated[int | None, typer.Option("--parent-tenant", help="Import below this tenant (default: root).")] = None,
    on_conflict: Annotated[str, typer.Option("--on-conflict", help="refuse | suffix: e-mails and serial numbers that exist already.")] = "refuse",
    data_dir: DataDir = None,
) -> None:
    """Import an export into this instance (new ids; verified before anything is written)."""
    from leitstand.dataexport.cli import run_import

    if on_conflict not in ("refuse", "suffix"):
        raise typer.BadParameter("choose refuse or suffix", param_hint="--on-conflict")
    settings = _settings(data_dir)
    run_import(settings, _factory(settings), file, parent_tenant, on_conflict, console)


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="Login e-mail address.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    role: Annotated[str, typer.Option("--role", help="Role granted on the user's tenant.")] = "platform_admin",
    tenant_id: Annotated[int | None, typer.Option("--tenant-id", help="Tenant (default: root).")] = None,
    password: Annotated[str, typer.Option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="LEITSTAND_NEW_USER_PASSWORD")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a user with a password and a role (by default: a platform admin)."""
    from leitstand import display_text
    from leitstand.auth.password_policy import PasswordRefused
    from leitstand.bootstrap import UserExists, create_user, root_tenant
    from leitstand.tenancy.models import Tenant
    from leitstand.tenancy.scope import system_session

    settings = _settings(data_dir)
    try:
        display_name = display_text.clean(name).strip() or email  # as the API takes a name
    except display_text.RefusedCharacter as error:
        raise typer.BadParameter(str(error), param_hint="--name") from error
    with system_session(_factory(settings), reason="cli user create") as db:
        tenant = db.get(Tenant, tenant_id) if tenant_id else root_tenant(db)
        if tenant is None:
            raise typer.BadParameter("no such tenant (did you run `leitstand init`?)", param_hint="--tenant-id")
        try:
            user = create_user(db, tenant=tenant, email=email, display_name=display_name, password=password, role=role)
        except UserExists:
            console.print(f"[red]A user {email} exists already.[/]")
            raise typer.Exit(1) from None
        except PasswordRefused as error:  # leitstand.auth.password_policy, the rule of every new password
            raise typer.BadParameter(str(error), param_hint="--password") from error
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--role") from error
        db.commit()
        console.print(f"Created user {user.email} (id {user.id}) with role {role} on {tenant.name}.")


def _operator(origin: str) -> str:
    """How the audit log names whoever runs a command: the command and the system account."""
    import getpass

    try:
        return f"{origin} ({getpass.getuser()})"
    except (KeyError, OSError):  # no name for the process's uid, as in some containers
        return origin


@user_app.command("reset-second-factor")
def user_reset_second_factor(
    email: Annotated[str, typer.Argument(help="The user's login e-mail address.")],
    reason: Annotated[str, typer.Option("--reason", help=(
        "Why, and how the user's identity was proven (ticket, call-back, ID check); audited and mailed to the user."))],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before removing.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Remove a user's second factors and recovery codes, for a lost factor with no code left.

    Prove who the user is first, as strongly as at enrolment (README, "Lost second factor").
    Their sessions end; they log in with the password alone and set up a new factor.
    """
    from sqlalchemy import func, select

    from leitstand.audit.recorder import Actor, current_actor
    from leitstand.mail.outbox import sender
    from leitstand.tenancy.scope import system_session
    from leitstand.accounts.models import User
    from leitstand.users.service import reset_second_factors

    reason = " ".join(reason.split())
    if not reason:
        raise typer.BadParameter("say why, and how the user's identity was proven", param_hint="--reason")
    settings = _settings(data_dir)
    operator = Actor(user_id=None, tenant_id=None, label=_operator("leitstand user reset-second-factor"))
    failures_before = sender.failures
    with system_session(_factory(settings), reason="cli reset of a lost second factor") as db:
        user = db.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
        if user is None:
            console.print(f"[red]No user {email}.[/]")
            raise typer.Exit(1)
        if not yes:
            typer.confirm(f"Remove every second factor and recovery code of {user.email} and end their sessions?",
                          abort=True)
        # Row changes (the TOTP, each key) are audited under the operator too, not as "system".
        token = current_actor.set(operator)
        try:
            removed = reset_second_factors(db, settings, user, reason, operator)
            db.commit()
        finally:
            current_actor.reset(token)
    # The mail goes out in the background (leitstand.mail.outbox); this process must not end before it.
    mailed = sender.wait_until_sent(timeout=30) and sender.failures == failures_before
    console.print(
        f"Removed from {user.email}: authenticator app {removed['totp']}, security keys {removed['security_keys']}, "
        f"YubiKeys {removed['yubikeys']}, recovery codes {removed['recovery_codes']}; "
        f"{removed['sessions']} sessions ended."
    )
    if mailed:
        console.print("The user was mailed.")
    else:
        console.print("[yellow]The mail to the user could not be sent (see the log); tell them yourself.[/]")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head", data_dir: DataDir = None
) -> None:
    """Apply schema migrations."""
    from leitstand.db import migrate

    settings = _settings(data_dir)
    migrate.upgrade(settings.effective_database_url, revision)
    console.print(f"Database at revision {revision}.")


@license_app.command("renew")
def license_renew(
    today: Annotated[str | None, typer.Option("--today", help="Pretend today is this date (YYYY-MM-DD).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the renewal job: extend every auto-renewing license whose term has ended."""
    from leitstand.clock import clock
    from leitstand.licenses.service import renew_due
    from leitstand.tenancy.scope import system_session

    settings = _settings(data_dir)
    day = date.fromisoformat(today) if today else clock.now().date()
    with system_session(_factory(settings), reason="license renewal job") as db:
        renewed = renew_due(db, day)
        db.commit()
    console.print(f"Renewed {renewed} license(s) as of {day.isoformat()}.")


@broker_app.command("setup")
def broker_setup(data_dir: DataDir = None) -> None:
    """Create or update Leitstand's own MQTT user and its role in Mosquitto's dynamic security.

    Uses the admin login of the settings (LEITSTAND_MQTT_ADMIN_USERNAME/_PASSWORD) and the
    service user of the settings. Safe to repeat: what is in place already stays untouched.
    """
    from leitstand.transports.mqtt.dynsec import SERVICE_ROLE, DynsecError, MosquittoDeviceAdmin

    settings = _settings(data_dir)
    if settings.mqtt_broker != "mosquitto":
        console.print("[red]`broker setup` is for Mosquitto (LEITSTAND_MQTT_BROKER=mosquitto); "
                      "the embedded broker checks logins against the database itself.[/]")
        raise typer.Exit(1)
    if not settings.mqtt_admin_username:
        console.print("[red]Set LEITSTAND_MQTT_ADMIN_USERNAME and LEITSTAND_MQTT_ADMIN_PASSWORD "
                      "(the user given to `mosquitto_ctrl dynsec init`).[/]")
        raise typer.Exit(1)
    where = f"{settings.mqtt_host}:{settings.mqtt_port}"
    try:
        with MosquittoDeviceAdmin.from_settings(settings) as admin:
            changes = admin.ensure_service_user(settings.mqtt_service_username,
                                                settings.resolved_mqtt_service_password())
    except (DynsecError, OSError) as error:
        console.print(f"[red]Mosquitto at {where}: {error}[/]")
        raise typer.Exit(1) from None
    for change in changes:
        console.print(f"Mosquitto at {where}: {change}.")
    if not changes:
        console.print(f"Mosquitto at {where}: user {settings.mqtt_service_username} with role {SERVICE_ROLE} "
                      f"was in place already; nothing changed.")
    if not settings.mqtt_service_password:
        console.print(f"[yellow]The service password is the one generated into {settings.data_dir}; every Leitstand "
                      f"process needs the same: set LEITSTAND_MQTT_SERVICE_PASSWORD on every machine.[/]")


# --- backups: leitstand.backups ------------------------------------------------------------

backup_app = typer.Typer(help="Back up the database and the document store into one archive "
                                "(without a command), or verify a backup.")
app.add_typer(backup_app, name="backup")


def _print_verify_report(report) -> None:  # type: ignore[no-untyped-def]
    table = Table(title=f"Verification of {report.archive.name}")
    for column in ("check", "result", "detail"):
        table.add_column(column)
    for check in report.checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAILED[/]", check.detail)
    console.print(table)


@backup_app.callback(invoke_without_command=True)
def backup(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Write the archive into this folder instead of "
                                                           "backup_dir (no retention there).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Back up the database and the document store into one archive with a checksum file.

    Into backup_dir (default data_dir/backups), keeping the newest backup_keep there.
    """
    if ctx.invoked_subcommand is not None:
        return
    from leitstand.backups.backup import create_backup
    from leitstand.backups.database import BackupError

    try:
        result = create_backup(_settings(data_dir), out)
    except BackupError as error:
        console.print(f"[red]Backup failed: {error}[/]")
        raise typer.Exit(1) from None
    manifest = result.manifest
    console.print(f"Wrote {result.archive} ({manifest.backend}, revision {manifest.alembic_revision}, "
                  f"{sum(manifest.tables.values())} rows in {len(manifest.tables)} tables, {len(manifest.files)} files).")
    for deleted in result.deleted:
        console.print(f"Deleted the older backup {deleted.name}.")


@backup_app.command("verify")
def backup_verify(
    archive: Annotated[Path | None, typer.Argument(help="The archive (default: the newest in backup_dir).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Check an archive's checksums, restore it into a scratch database and check that; exit 1 on failure."""
    from leitstand.backups.backup import list_backups
    from leitstand.backups.verify import verify_archive

    settings = _settings(data_dir)
    if archive is None:
        backups = list_backups(settings.backups_path)
        if not backups:
            console.print(f"[red]There is no backup in {settings.backups_path}.[/]")
            raise typer.Exit(1)
        archive = backups[-1]
    report = verify_archive(settings, archive)
    _print_verify_report(report)
    if not report.ok:
        console.print(f"[red]{archive.name} FAILED verification.[/]")
        raise typer.Exit(1)
    console.print(f"{archive.name} is OK.")


@app.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="The backup archive (its .sha256 file beside it).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before replacing the installation's data.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Replace the database and the document store with a backup, after verifying it. Stop the platform first."""
    from leitstand.backups.database import BackupError
    from leitstand.backups.restore import RestoreRefused, restore_archive

    settings = _settings(data_dir)
    if not yes and not typer.confirm(f"Stop every Leitstand process first. Replace all data of "
                                     f"{settings.effective_database_url.split('@')[-1]} with {archive.name}?"):
        raise typer.Exit(1)
    try:
        result = restore_archive(settings, archive)
    except RestoreRefused as error:
        _print_verify_report(error.report)
        console.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None
    except BackupError as error:
        console.print(f"[red]Restore failed: {error}[/]")
        raise typer.Exit(1) from None
    _print_verify_report(result.report)
    console.print(f"Restored {archive.name} (made {result.manifest.created_at}): "
                  f"{sum(result.manifest.tables.values())} rows, {result.files} files.")


@devices_app.command("qr")
def devices_qr(
    serial: Annotated[str | None, typer.Option("--serial", help="The device's serial number.")] = None,
    secret: Annotated[str | None, typer.Option("--secret", help="Its claim secret.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File to write: .svg or .png.")] = None,
    csv_file: Annotated[Path | None, typer.Option("--csv", exists=True, dir_okay=False,
                                                  help="Bulk: a CSV with serial_number and claim_secret columns.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Bulk: folder for one file per device.")] = None,
    image_format: Annotated[str, typer.Option("--format", help="Bulk: svg or png.")] = "svg",
    scale: Annotated[int, typer.Option("--scale", min=1, max=50, help="Pixels (SVG units) per module.")] = 8,
) -> None:
    """Write device QR labels (LS1:<serial>:<claim secret>) as SVG or PNG.

    One label: --serial, --secret, --out. In bulk: --csv and --out-dir, one <serial>.svg|.png per row.
    """
    from leitstand.devices.claiming import write_label

    if csv_file is None:
        if not (serial and secret and out):
            raise typer.BadParameter("give --serial, --secret and --out, or --csv and --out-dir")
        try:
            write_label(serial, secret, out, scale)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        console.print(f"Wrote {out}.")
        return
    if out_dir is None or image_format not in ("svg", "png"):
        raise typer.BadParameter("bulk labels need --out-dir and --format svg|png")
    import csv

    out_dir.mkdir(parents=True, exist_ok=True)
    written, failed = 0, 0
    with csv_file.open(newline="", encoding="utf-8-sig") as handle:
        sample = handle.readline()
        handle.seek(0)
        reader = csv.DictReader(handle, delimiter=";" if sample.count(";") > sample.count(",") else ",")
        if not {"serial_number", "claim_secret"} <= set(reader.fieldnames or ()):
            raise typer.BadParameter("the CSV needs the columns serial_number and claim_secret", param_hint="--csv")
        for number, row in enumerate(reader, start=2):
            row_serial, row_secret = (row.get("serial_number") or "").strip(), (row.get("claim_secret") or "").strip()
            try:
                write_label(row_serial, row_secret, out_dir / f"{row_serial}.{image_format}", scale)
                written += 1
            except ValueError as error:
                failed += 1
                console.print(f"[red]row {number}[/] ({row_serial or 'no serial'}): {error}")
    console.print(f"Wrote {written} label(s) to {out_dir}.")
    if failed:
        raise typer.Exit(1)


@devices_app.command("import")
def devices_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: serial_number,type_key,name,site_id,labels,claim_secret")],
    tenant_id: Annotated[int, typer.Option("--tenant-id", help="The tenant whose stock the devices become.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, store nothing.")] = False,
    secrets_out: Annotated[Path | None, typer.Option("--secrets-out", help="Write generated claim secrets here "
                                                     "(serial_number,claim_secret), e.g. for `devices qr --csv`.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Register devices from CSV as unclaimed stock of a tenant.

    All or nothing: with any bad row, nothing is stored and every bad row is listed.
    """
    import csv

    from leitstand.audit.recorder import Actor, current_actor
    from leitstand.devices.claiming import CsvRejected, import_devices
    from leitstand.tenancy.models import Tenant
    from leitstand.tenancy.scope import system_session

    settings = _settings(data_dir)
    factory = _factory(settings)
    with system_session(factory, reason="cli devices import") as db:
        tenant = db.get(Tenant, tenant_id)
        if tenant is None:
            raise typer.BadParameter("no such tenant", param_hint="--tenant-id")
        # Reset afterwards: the command may run inside a longer-lived process (tests, a shell).
        actor_token = current_actor.set(Actor(user_id=None, tenant_id=tenant.id, label="cli: devices import"))
        try:
            report = import_devices(db, factory, tenant, file.read_bytes(), dry_run=dry_run, max_rows=100_000)
        except CsvRejected as error:
            console.print(f"[red]{error}[/]")
            raise typer.Exit(1) from None
        finally:
            current_actor.reset(actor_token)
        if report.failed:
            table = Table(title=f"{report.failed} of {len(report.rows)} rows have errors; nothing was imported")
            for column in ("row", "serial number", "error"):
                table.add_column(column)
            for row in report.rows:
                if row.status == "error":
                    table.add_row(str(row.row), row.serial_number, row.message)
            console.print(table)
            raise typer.Exit(1)
        if dry_run:
            console.print(f"All {len(report.rows)} rows are fine (dry run: nothing stored).")
            return
        db.commit()
    generated = [row for row in report.rows if row.claim_secret]
    if secrets_out is not None:
        with secrets_out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["serial_number", "claim_secret"])
            writer.writerows([row.serial_number, row.claim_secret] for row in generated)
        secrets_out.chmod(0o600)
    console.print(f"Imported {len(report.rows)} device(s) into {tenant.name}"
                  + (f"; {len(generated)} generated claim secret(s) in {secrets_out}." if secrets_out else "."))
    if generated and secrets_out is None:
        console.print("[yellow]Claim secrets were generated but not saved; use --secrets-out to keep them for the labels.[/]")


@devices_app.command("connection-secrets")
def devices_connection_secrets(
    connection_id: Annotated[int, typer.Option("--connection", help="The id of the transport connection.")],
    from_file: Annotated[Path, typer.Option("--from-file", exists=True, dir_okay=False,
                                            help="A JSON object with the connection's secrets (API key, password).")],
    data_dir: DataDir = None,
) -> None:
    """Set the secrets of a transport connection (a network server, an OCPP endpoint, a file source).

    They are sealed with this installation's key and never shown again; a tenant import
    leaves them behind, so they are entered here anew.
    """
    import json

    from leitstand.audit.recorder import Actor, current_actor
    from leitstand.auth.secrets import SecretBox
    from leitstand.devices.connections import set_secrets
    from leitstand.devices.models import DeviceConnection
    from leitstand.tenancy.scope import system_session

    try:
        secrets = json.loads(from_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise typer.BadParameter(f"not JSON: {error}", param_hint="--from-file") from None
    if not isinstance(secrets, dict) or not secrets:
        raise typer.BadParameter("must hold a non-empty JSON object", param_hint="--from-file")
    settings = _settings(data_dir)
    with system_session(_factory(settings), reason="cli devices connection-secrets") as db:
        connection = db.get(DeviceConnection, connection_id)
        if connection is None:
            raise typer.BadParameter("no such connection", param_hint="--connection")
        actor_token = current_actor.set(Actor(user_id=None, tenant_id=connection.tenant_id,
                                              label="cli: devices connection-secrets"))
        try:
            set_secrets(connection, SecretBox(settings.resolved_secret_key()), secrets)
            db.commit()
        finally:
            current_actor.reset(actor_token)
        console.print(f"Sealed {len(secrets)} secret(s) for connection {connection.name!r}.")


@bench_app.command("query")
def bench_query(
    devices: Annotated[int, typer.Option("--devices", min=1, help="Devices with 7 days of 15-minute values.")] = 200,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Timed runs per query (after one warm-up).")] = 20,
    year_devices: Annotated[int, typer.Option("--year-devices", min=1, help="Devices with a whole year of values.")] = 1,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="Server to measure (a throw-away database is created on it); default: the configured one.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Time chart queries on seeded data: a year to days, 7 days raw of a fleet, monthly sums."""
    from leitstand.bench.query import bench_query as run_bench

    settings = _settings(data_dir)
    if database_url is not None:
        settings.database_url = database_url
    if year_devices > devices:
        raise typer.BadParameter("at most --devices", param_hint="--year-devices")
    run_bench(settings, devices=devices, runs=runs, year_devices=year_devices, out=typer.echo)


Backend = Annotated[str, typer.Option("--backend", help="sqlite | postgresql (a throw-away database either way).")]
Broker = Annotated[str, typer.Option("--broker", help="embedded | mosquitto (a throw-away Mosquitto subprocess).")]
BenchDatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", help="PostgreSQL server for --backend postgresql (default: the configured one, else "
                           "LEITSTAND_BENCH_PG_URL or postgres@127.0.0.1:5432).")]


def _bench_server(backend: str, broker: str, database_url: str | None, data_dir: Path | None) -> str:
    from leitstand.bench.ingest import resolve_database

    if backend not in ("sqlite", "postgresql"):
        raise typer.BadParameter("choose sqlite or postgresql", param_hint="--backend")
    if broker not in ("embedded", "mosquitto"):
        raise typer.BadParameter("choose embedded or mosquitto", param_hint="--broker")
    return resolve_database(backend, database_url or _settings(data_dir).database_url)


@bench_app.command("ingest")
def bench_ingest(
    devices: Annotated[int, typer.Option("--devices", min=1, help="Simulated devices, served round robin.")] = 1000,
    rate: Annotated[int, typer.Option("--rate", min=1, help="Messages per second to publish.")] = 10_000,
    duration: Annotated[float, typer.Option("--duration", min=0.5, help="Seconds of publishing.")] = 60.0,
    backend: Backend = "sqlite",
    broker: Broker = "embedded",
    workers: Annotated[int, typer.Option("--workers", min=1, max=8, help="Ingest worker processes (>1: Mosquitto).")] = 1,
    values: Annotated[int, typer.Option("--values", min=1, max=5, help="Numeric values per message.")] = 4,
    publishers: Annotated[int, typer.Option("--publishers", min=1, max=8, help="Load generator processes.")] = 2,
    database_url: BenchDatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Sustained MQTT ingest: messages/s, data points/s, publish->committed p50/p99, loss, CPU and RSS."""
    from leitstand.bench.ingest import bench_ingest as run_bench

    server = _bench_server(backend, broker, database_url, data_dir)
    if broker == "embedded" and workers != 1:
        raise typer.BadParameter("the embedded broker has no shared subscriptions: use --workers 1", param_hint="--workers")
    run_bench(server, devices=devices, rate=rate, duration=duration, broker=broker, workers=workers, values=values,
              publishers=publishers, out=typer.echo)


@bench_app.command("command")
def bench_command(
    commands: Annotated[int, typer.Option("--commands", min=1, help="Commands to send, one after another.")] = 200,
    backend: Backend = "sqlite",
    broker: Broker = "embedded",
    database_url: BenchDatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Command round trip through API, broker and a simulated device: p50/p99/max."""
    from leitstand.bench.command import bench_command as run_bench

    run_bench(_bench_server(backend, broker, database_url, data_dir), commands=commands, broker=broker, out=typer.echo)

@bench_app.command("alarms")
def bench_alarms(
    rate: Annotated[int, typer.Option("--rate", min=1, help="Alarms raised per second.")] = 100,
    seconds: Annotated[float, typer.Option("--seconds", min=0.1, help="How long to raise them.")] = 10.0,
    backend: Backend = "sqlite",
    database_url: BenchDatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Device error message -> alarm -> webhook notification dispatched: p50/p99/max and the number dispatched."""
    from leitstand.bench.alarms import bench_alarms as run_bench

    run_bench(_bench_server(backend, "embedded", database_url, data_dir), rate=rate, seconds=seconds, out=typer.echo)


@bench_app.command("portal")
def bench_portal(
    devices: Annotated[int, typer.Option("--devices", min=1, help="Devices in the fleet.")] = 10_000,
    sites: Annotated[int, typer.Option("--sites", min=1, help="Sites (each with buildings and rooms).")] = 100,
    chart_devices: Annotated[int, typer.Option(
        "--chart-devices", min=1, help="Thermostats with a year of 15-minute values; their device pages are timed.")] = 20,
    requests: Annotated[int, typer.Option("--requests", min=1, help="Timed requests per page.")] = 200,
    days: Annotated[int, typer.Option("--days", min=1, help="Days of telemetry per chart device.")] = 365,
    backend: Backend = "postgresql",
    database_url: BenchDatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Server time of the start dashboard and the device page on a big fleet: p50/p95/max."""
    from leitstand.bench.portal import bench_portal as run_bench

    if chart_devices > devices:
        raise typer.BadParameter("at most --devices", param_hint="--chart-devices")
    run_bench(_bench_server(backend, "embedded", database_url, data_dir), devices=devices, sites=sites,
              chart_devices=chart_devices, requests=requests, days=days, out=typer.echo)



@bench_app.command("export")
def bench_export(
    devices: Annotated[int, typer.Option("--devices", min=1, help="Devices of the seeded tenant.")] = 1000,
    days: Annotated[int, typer.Option("--days", min=1, help="Days of 15-minute values on 4 keys per device.")] = 30,
    backend: Backend = "postgresql",
    database_url: BenchDatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Export and import of a seeded tenant: points/s each way and the peak RSS of each process."""
    from leitstand.bench.export import bench_export as run_bench

    run_bench(_bench_server(backend, "embedded", database_url, data_dir), devices=devices, days=days, out=typer.echo)

if __name__ == "__main__":
    app()
