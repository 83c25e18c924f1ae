"""`leitstand export` and `leitstand import`: the command-line side, with a rich progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leitstand.audit.recorder import Actor, record
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.dataexport.export import ExportFailed, default_file_name, export_tenant
from leitstand.dataexport.importer import ExportInvalid, ImportRefused, import_export
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session


def _bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.percentage:>5.1f} %"),
                    TimeElapsedColumn(), console=console)


def run_export(settings: Settings, factory: Any, tenant_id: int, out: Path | None, console: Console) -> None:
    # The CLI names the tenant explicitly; it reads with a system session (the operator runs the installation).
    with system_session(factory, reason="cli export of a named tenant") as db:
        tenant = db.get(Tenant, tenant_id)
        if tenant is None:
            console.print(f"[red]No tenant {tenant_id}.[/]")
            raise typer.Exit(1)
        target = out or Path(default_file_name(tenant, clock.now()))
        with _bar(console) as bar:
            task = bar.add_task("export", total=None)

            def progress(done: int, total: int, what: str) -> None:
                bar.update(task, completed=done, total=total, description=f"export: {what}")

            try:
                result = export_tenant(db, settings, tenant_id, target, progress)
            except ExportFailed as error:
                console.print(f"[red]{error}[/]")
                raise typer.Exit(1) from None
        db.rollback()
        # After the zip is complete: the export does not contain its own audit entry.
        record(db, "data_export.cli", tenant_id=tenant_id, target_type="tenants", target_id=tenant_id,
               details={"file": target.name, "size": result.size, "sha256": result.sha256},
               actor=Actor(user_id=None, tenant_id=tenant_id, label="cli: export"))
        db.commit()
    counts = result.counts
    console.print(f"Wrote {target} ({result.size:,} bytes): {sum(v for k, v in counts.items() if not k.startswith(('telemetry', 'documents'))):,} rows, "
                  f"{counts.get('telemetry_points', 0):,} telemetry points, {counts.get('documents', 0)} documents.")
    console.print(f"SHA-256 {result.sha256}")


def run_import(settings: Settings, factory: Any, file: Path, parent_tenant: int | None, on_conflict: str,
               console: Console) -> None:
    with _bar(console) as bar:
        task = bar.add_task("import", total=None)

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=f"import: {what}")

        try:
            report = import_export(factory, settings, file, parent_tenant_id=parent_tenant, on_conflict=on_conflict,
                                   progress=progress, actor=Actor(user_id=None, tenant_id=None, label="cli: import"))
        except (ExportInvalid, ImportRefused) as error:
            bar.stop()
            console.print(f"[red]{type(error).__name__}: nothing was written.[/]")
            for problem in error.problems:
                console.print(f"  - {problem}")
            raise typer.Exit(1) from None
    table = Table(title=f"Imported into tenant {report.tenant_id}")
    for column in ("table", "rows", "skipped"):
        table.add_column(column)
    for name, count in report.counts.items():
        table.add_row(name, str(count), str(report.skipped.get(name, "")))
    table.add_row("telemetry points", str(report.telemetry_points), "")
    table.add_row("documents", str(report.documents), "")
    console.print(table)
    for name, mapping in report.remapped.items():
        shown = ", ".join(f"{old}→{new}" for old, new in list(mapping.items())[:20])
        console.print(f"{name} ids: {shown}{' …' if len(mapping) > 20 else ''}")
    for line in report.renamed:
        console.print(f"renamed: {line}")
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"{report.users_without_password} imported user(s) have no password: "
                  "they use “forgot password” or get a new invitation.")
    console.print("Not carried by the export; issue these anew on this installation:")
    for kind in report.not_carried:
        console.print(f"  - {kind.what}. {kind.reissue}\n    {kind.where()}",
                      markup=False, highlight=False, soft_wrap=True)
