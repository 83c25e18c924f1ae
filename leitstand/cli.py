"""The `leitstand` command line: set up, serve, administer."""

from __future__ import annotations

import logging
import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leitstand.config import Settings

app = typer.Typer(help="Leitstand: the control room for connected devices.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
license_app = typer.Typer(help="Device licenses.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(db_app, name="db")
app.add_typer(license_app, name="license")
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
    from leitstand.db.engine import make_engine, make_session_factory

    return make_session_factory(make_engine(settings.effective_database_url))


@app.command()
def init(data_dir: DataDir = None) -> None:
    """Create or upgrade the database, sync device types and create the root tenant."""
    from leitstand.bootstrap import initialise

    settings = _settings(data_dir)
    root = initialise(settings, _factory(settings))
    console.print(f"Initialised [bold]{settings.effective_database_url}[/] (root tenant: {root.name}).")


def _serve(settings: Settings) -> None:
    import uvicorn

    from leitstand.web.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info", proxy_headers=False)


@app.command()
def serve(data_dir: DataDir = None, host: Host = None, port: Port = None) -> None:
    """Serve the API and portal (migrating the database first)."""
    from leitstand.bootstrap import initialise

    settings = _settings(data_dir, host, port)
    initialise(settings, _factory(settings))
    _serve(settings)


@app.command()
def demo(data_dir: DataDir = None, host: Host = None, port: Port = None) -> None:
    """Initialise, seed the demo fleet if the installation is empty, print the logins and serve."""
    from leitstand.bootstrap import initialise
    from leitstand.demo.seed import DEMO_PASSWORD, seed_demo
    from leitstand.tenancy.scope import system_session
    from leitstand.users.models import User

    settings = _settings(data_dir, host, port)
    factory = _factory(settings)
    initialise(settings, factory)
    with system_session(factory, reason="seed demo") as db:
        from sqlalchemy import select

        if db.scalar(select(User.id).limit(1)) is None:
            logins = seed_demo(db)
            table = Table(title=f"Demo logins (password for all: {DEMO_PASSWORD})")
            for column in ("e-mail", "role", "tenant"):
                table.add_column(column)
            for login in logins:
                table.add_row(login.email, login.role, login.tenant)
            console.print(table)
        else:
            console.print(f"Demo data already present; log in as admin@example.com / {DEMO_PASSWORD}.")
    console.print(f"Serving on [bold]{settings.public_url}[/]  (API docs: {settings.public_url}/api/docs)")
    _serve(settings)


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
    from leitstand.bootstrap import UserExists, create_user, root_tenant
    from leitstand.tenancy.models import Tenant
    from leitstand.tenancy.scope import system_session

    settings = _settings(data_dir)
    if len(password) < 10:
        raise typer.BadParameter("the password needs at least 10 characters", param_hint="--password")
    with system_session(_factory(settings), reason="cli user create") as db:
        tenant = db.get(Tenant, tenant_id) if tenant_id else root_tenant(db)
        if tenant is None:
            raise typer.BadParameter("no such tenant (did you run `leitstand init`?)", param_hint="--tenant-id")
        try:
            user = create_user(db, tenant=tenant, email=email, display_name=name or email, password=password, role=role)
        except UserExists:
            console.print(f"[red]A user {email} exists already.[/]")
            raise typer.Exit(1) from None
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--role") from error
        db.commit()
        console.print(f"Created user {user.email} (id {user.id}) with role {role} on {tenant.name}.")


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


if __name__ == "__main__":
    app()
