"""The `livecommerce` command: serve, migrate, run the scheduler worker, manage users, load demo data."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings

if TYPE_CHECKING:
    from livecommerce.kit.db import Database

app = typer.Typer(help="livecommerce: live-stream commerce where every fen is credited home.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
import_app = typer.Typer(help="Import master data from .xlsx or .csv files (all rows or none).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(import_app, name="import")
app.add_typer(demo_app, name="demo")
app.add_typer(audit_app, name="audit")
console = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


@app.command()
def migrate() -> None:
    """Apply every pending database migration."""
    from livecommerce.main.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    console.print(f"[green]Database is up to date[/green] ({_safe_url(settings.database_url)})")


def _port_taken(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port (in use, not allowed), or None when it can."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"the address is not known ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a port in TIME_WAIT is free
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "the port is already in use"
            return exc.strerror or str(exc)
    return None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo data first and print the demo sign-ins.")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes (at scale; the embedded mode uses one).")] = 1,
) -> None:
    """Run the web server (embedded mode: one process with SQLite, the in-process bus and scheduler)."""
    import uvicorn

    from livecommerce.kit.logging import configure_logging
    from livecommerce.kit.server import server_options

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.env == "prod" and settings.secret_key == Settings.model_fields["secret_key"].default:
        console.print("[red]Refusing to start in prod with the default secret key: set LIVECOMMERCE_SECRET_KEY.[/red]")
        raise typer.Exit(2)
    taken = _port_taken(host, port)
    if taken:
        console.print(
            f"[red]Cannot serve on {host}:{port}: {taken}. Pick another port with --port (make demo PORT=...).[/red]", soft_wrap=True
        )
        raise typer.Exit(1)
    if demo:
        _load_demo(settings, print_logins=True)
    console.print(f"livecommerce serving at [bold]http://{host}:{port}/[/bold]  (API docs: http://{host}:{port}/docs)", soft_wrap=True)
    uvicorn.run(
        "livecommerce.main.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        log_level=settings.log_level.lower(),
        **server_options(settings),
    )


@app.command()
def scheduler() -> None:
    """Run the scheduler worker (at scale, exactly one of these runs the jobs; the others wait to take over)."""
    from livecommerce.kit.logging import configure_logging
    from livecommerce.main.worker import run_worker

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.scheduler_mode == "embedded" and settings.run_scheduler:
        console.print(
            "[yellow]LIVECOMMERCE_SCHEDULER_MODE is embedded: app instances also contend for the jobs (set it to worker).[/yellow]"
        )
    asyncio.run(run_worker(settings))


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[Role, typer.Option(help="admin, organizer, cadre or viewer.")] = Role.viewer,
    display_name: Annotated[str | None, typer.Option(help="Name shown to others.")] = None,
    county_id: Annotated[list[int] | None, typer.Option("--county-id", help="A county the user acts for (repeatable).")] = None,
    anchor_id: Annotated[int | None, typer.Option(help="The anchor a cadre hosts as.")] = None,
    password: Annotated[str | None, typer.Option(help="Password (prompted for when not given).")] = None,
) -> None:
    """Create a user."""
    from pydantic import ValidationError

    from livecommerce.accounts import service
    from livecommerce.accounts.schemas import UserCreate
    from livecommerce.kit.errors import LiveCommerceError

    settings = _settings()
    _require_schema(settings)
    if password is None:
        password = os.environ.get("LIVECOMMERCE_NEW_USER_PASSWORD") or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        data = UserCreate(
            username=username,
            password=password,
            role=role,
            display_name=display_name or username,
            county_ids=county_id or [],
            anchor_id=anchor_id,
        )
    except ValidationError as exc:
        for error in exc.errors():
            console.print(f"[red]{'.'.join(str(p) for p in error['loc'])}: {error['msg']}[/red]")
        raise typer.Exit(1) from exc

    async def _create() -> int:
        async with _database(settings) as db, db.transaction() as session:
            user = await service.create_user(session, data)
            assert user.id is not None
            return user.id

    try:
        user_id = asyncio.run(_create())
    except LiveCommerceError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"[green]Created {role.value} {username!r}[/green] (id {user_id})")


@demo_app.command("load")
def demo_load() -> None:
    """Load the demo data (counties, households, products, anchors, studios, a campaign)."""
    _load_demo(_settings(), print_logins=True)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the audit log's hash chain; exit 1 when a record was edited, removed or reordered."""
    from livecommerce.audit.service import Verification, verify

    settings = _settings()
    _require_schema(settings)

    async def _verify() -> Verification:
        async with _database(settings) as db, db.transaction() as session:
            return await verify(session)

    result = asyncio.run(_verify())
    if not result.ok:
        where = f" at record {result.first_bad_id}" if result.first_bad_id is not None else ""
        console.print(f"[red]The audit chain is broken{where}: {result.reason}[/red] ({result.records} records verified before it)")
        raise typer.Exit(1)
    console.print(f"[green]The audit chain is whole[/green] ({result.records} records)")


ImportFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="An .xlsx or .csv file, header in row 1.")]
ImportCounty = Annotated[int | None, typer.Option("--county-id", help="The county of rows that leave county_id empty.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Check every row and say what would change; import nothing.")]


@import_app.command("households")
def import_households(file: ImportFile, county_id: ImportCounty = None, dry_run: DryRun = False) -> None:
    """Import households (matched on registration_no), acting as an admin; exit 1 with a table of row errors."""
    _run_import("households", file, county_id, dry_run)


@import_app.command("products")
def import_products(file: ImportFile, county_id: ImportCounty = None, dry_run: DryRun = False) -> None:
    """Import products (matched on county and name), acting as an admin; exit 1 with a table of row errors."""
    _run_import("products", file, county_id, dry_run)


def _run_import(kind: str, file: Path, county_id: int | None, dry_run: bool) -> None:
    from rich.progress import Progress

    from livecommerce.catalog import imports
    from livecommerce.catalog.schemas import ImportResult
    from livecommerce.kit.clock import Clock
    from livecommerce.kit.errors import LiveCommerceError
    from livecommerce.kit.principal import Principal

    settings = _settings()
    _require_schema(settings)
    operator = Principal(id=0, username="cli", role=Role.admin, display_name="command line")
    content = file.read_bytes()
    run = imports.import_households if kind == "households" else imports.import_products

    async def _import(progress: Progress) -> ImportResult:
        total = imports.data_rows(file.name, content, settings.import_max_rows)
        task = progress.add_task(f"{'Checking' if dry_run else 'Importing'} {kind}", total=total)
        async with _database(settings) as db, db.transaction() as session:
            return await run(
                session,
                operator,
                file.name,
                content,
                county_id=county_id,
                dry_run=dry_run,
                max_rows=settings.import_max_rows,
                now=Clock().now(),
                progress=lambda done: progress.update(task, completed=done),
            )

    try:
        with Progress(console=console, transient=True) as progress:
            result = asyncio.run(_import(progress))
    except LiveCommerceError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        errors = exc.extra.get("errors", [])
        if errors:
            table = Table("row", "column", "message", title="Row errors")
            for error in errors:
                table.add_row(str(error.get("row") or ""), str(error.get("column") or ""), str(error.get("message", "")))
            console.print(table)
        raise typer.Exit(1) from exc
    verb = "would create" if dry_run else "created"
    console.print(f"[green]{kind.title()}: {verb} {result.created}, {'would update' if dry_run else 'updated'} {result.updated}.[/green]")


def _require_schema(settings: Settings) -> None:
    """Bring an embedded (SQLite) database up to date; at scale, refuse until `livecommerce migrate` has run."""
    from livecommerce.main.migrate import pending_revisions, upgrade

    if settings.is_sqlite:
        upgrade(settings.database_url)
    elif pending_revisions(settings.database_url):
        console.print("[red]The database schema is not up to date: run `livecommerce migrate` first.[/red]")
        raise typer.Exit(1)


def _load_demo(settings: Settings, *, print_logins: bool) -> None:
    from livecommerce.main.demo import DEMO_PASSWORD, load_demo
    from livecommerce.main.migrate import upgrade

    upgrade(settings.database_url)

    async def _load() -> list[tuple[str, str, str]]:
        async with _database(settings) as db, db.transaction() as session:
            return await load_demo(session)

    logins = asyncio.run(_load())
    if print_logins:
        table = Table(title=f"Demo sign-ins (password for all: {DEMO_PASSWORD})")
        table.add_column("username")
        table.add_column("role")
        table.add_column("who")
        for username, role, who in logins:
            table.add_row(username, role, who)
        console.print(table)


class _database:
    """An async context manager around a short-lived Database (for CLI commands)."""

    def __init__(self, settings: Settings) -> None:
        from livecommerce.kit.db import Database, create_nullpool_engine
        from livecommerce.main.app import wire_database
        from livecommerce.main.registry import load_models

        load_models()
        self.db = Database(create_nullpool_engine(settings.database_url))
        wire_database(self.db)

    async def __aenter__(self) -> Database:
        return self.db

    async def __aexit__(self, *exc: object) -> None:
        await self.db.dispose()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def cluster(
    instances: Annotated[int, typer.Option(min=1, help="App instances (on the ports after --port).")] = 2,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the round-robin front; instances take the next ones.")] = 8000,
) -> None:
    """Run the scaled-out topology as local processes: migrate, N instances, one scheduler worker, a front."""
    from livecommerce.kit.logging import configure_logging
    from livecommerce.main.cluster import run_cluster

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.is_sqlite or not settings.redis_url:
        console.print(
            "[yellow]Running at scale wants PostgreSQL and Redis: set LIVECOMMERCE_DATABASE_URL and LIVECOMMERCE_REDIS_URL.[/yellow]"
        )
    console.print(
        f"front: [bold]http://{host}:{port}/[/bold]; instances: " + ", ".join(f"http://{host}:{port + 1 + i}" for i in range(instances))
    )
    run_cluster(instances, host, port)


def main() -> None:
    """Entry point of the `livecommerce` console script."""
    app()


@app.command()
def plan(
    campaign_id: Annotated[int, typer.Argument(help="The campaign whose open slots to fill.")],
    time_limit: Annotated[int, typer.Option(help="Seconds the solver may search.")] = 10,
    weight: Annotated[
        list[str] | None, typer.Option("--weight", help="A county's air-time weight as COUNTY_ID=WEIGHT (repeatable).")
    ] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Book the plan at once, all or none.")] = False,
) -> None:
    """Propose bookings for a campaign's open slots (and book them with --apply), acting as an admin."""
    from pydantic import ValidationError

    from livecommerce.kit.clock import Clock
    from livecommerce.kit.errors import LiveCommerceError
    from livecommerce.kit.principal import Principal
    from schedulers import plans
    from schedulers.schemas import CountyWeight, PlanCreate, PlanPublic

    settings = _settings()
    _require_schema(settings)
    try:
        pairs = [w.split("=", 1) for w in weight or []]
        weights = [CountyWeight(county_id=int(c), weight=int(v)) for c, v in pairs]
        data = PlanCreate(time_limit_seconds=time_limit, county_weights=weights)
    except (ValueError, ValidationError) as exc:
        console.print(f"[red]Bad option: {exc}[/red]")
        raise typer.Exit(2) from exc
    operator = Principal(id=0, username="cli", role=Role.admin, display_name="command line")

    async def _plan() -> PlanPublic:
        clock = Clock()
        async with _database(settings) as db:
            async with db.transaction() as session:
                draft = await plans.build_instance(session, operator, campaign_id, data, settings=settings, now=clock.now())
            async with db.transaction() as session:
                proposal = await plans.create_plan(session, operator, campaign_id, draft, data, settings=settings, now=clock.now())
            if apply:
                async with db.transaction() as session:
                    await plans.apply_plan(session, operator, campaign_id, proposal.id, settings=settings, now=clock.now())
            return proposal

    try:
        proposal = asyncio.run(_plan())
    except LiveCommerceError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        for clash in exc.extra.get("conflicts", []):
            console.print(f"  slot {clash.get('planned_slot_id', clash.get('slot_id'))}: {clash.get('kind')} — {clash.get('detail', '')}")
        raise typer.Exit(1) from exc
    table = Table("slot", "anchors", "products")
    for item in proposal.assignments:
        table.add_row(str(item.slot_id), ", ".join(map(str, item.anchor_ids)), ", ".join(map(str, item.product_ids)))
    console.print(table)
    for empty in proposal.unfilled:
        console.print(f"slot {empty.slot_id} left empty: {empty.reason}")
    verb = "applied" if apply else "proposed (apply with --apply or POST .../apply)"
    console.print(
        f"Plan {proposal.id}: {proposal.status}, objective {proposal.objective} of bound {proposal.bound}, "
        f"{len(proposal.assignments)} bookings {verb}."
    )
