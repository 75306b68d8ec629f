"""Orders per second on one hot product through a real uvicorn server, against the framework's floor.

Run with `python -m bench.orders [--quick] [--baseline REV]`; prints a table and writes `bench/results/orders.json`.

Two scenarios: `accepted` (every order is taken: ample stock) and `sold_out` (every order asks
for a product with no units left, the moment after a flash sale). With `--baseline REV` the
app as it was at git revision REV runs beside today's, from a temporary worktree, so the
before and after are measured in the same rounds. For PostgreSQL the sold-out scenario also
reports the rows written and transactions committed per answer (from `pg_stat_*`).

For SQLite and for PostgreSQL: a fresh database with one live stream featuring one product
with ample stock and a few hundred buyers; the app runs as one process started the way the
operator starts it (`livecommerce serve`); a closed-loop load generator in this process
keeps a fixed number of keep-alive connections busy (32, as the issue measured; set with
`--concurrency N`), each request a new order (new Idempotency-Key) of one unit by a
rotating buyer. The floor is a bare FastAPI app under the
same uvicorn whose endpoint only validates the same body and header and returns 201: what
the framework and server cost with no database at all. The three servers run side by side
and are measured in interleaved rounds (the machine is shared); figures are medians over
rounds, and each round's ratio uses that round's floor. The load generator writes raw
HTTP/1.1 so that its own cost stays small and equal for all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import psycopg
import sqlalchemy as sa
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse

from livecommerce.accounts.models import User
from livecommerce.accounts.security import create_access_token
from livecommerce.broadcasts import service as streams_service
from livecommerce.catalog import service as catalog
from livecommerce.catalog.schemas import AnchorCreate, CountyCreate, HouseholdCreate, ProductCreate, Split
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database, create_nullpool_engine
from livecommerce.kit.principal import Principal, Role
from livecommerce.main.migrate import upgrade
from livecommerce.orders.schemas import IDEMPOTENCY_KEY_PATTERN, OrderCreate

RESULTS = Path(__file__).parent / "results"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-key-not-for-production"
ROOT = Principal(id=0, username="bench", role=Role.admin, display_name="bench")
BUYERS = 400
# The setting (32 keep-alive connections): a flash sale is many buyers at once, and a
# batch can only be as large as the callers waiting for it. `--concurrency` changes it.
CONCURRENCY = 32
GOAL_RATIO = 0.30
GOAL_P99_MS = 50.0


def floor_app() -> FastAPI:
    """The yardstick: the same route, body model and header, no database, no auth."""
    app = FastAPI()

    @app.post("/api/streams/{stream_id}/orders", status_code=201)
    async def place(
        stream_id: int,
        body: OrderCreate,
        idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=128, pattern=IDEMPOTENCY_KEY_PATTERN)],
    ) -> JSONResponse:
        total = sum(item.quantity for item in body.items)
        return JSONResponse({"id": 1, "status": "pending_payment", "total_fen": total, "stream_id": stream_id}, status_code=201)

    return app


# --- the world ---------------------------------------------------------------------------------


async def seed(url: str, *, buyers: int = BUYERS) -> dict[str, Any]:
    """One county, one product with ample stock, one live stream, and the buyers' tokens."""
    db = Database(create_nullpool_engine(url))
    now = utcnow()
    try:
        async with db.transaction() as session:
            county = await catalog.create_county(session, CountyCreate(name="Yingde", code="BENCH", city="Qingyuan", province="Guangdong"))
            assert county.id is not None
            household = await catalog.create_household(
                session, ROOT, HouseholdCreate(county_id=county.id, name="陈家", village="Shiling", registration_no="R1")
            )
            splits = [
                Split(party=f"household:{household.id}", bp=7000),
                Split(party=f"county:{county.id}", bp=2000),
                Split(party="platform", bp=1000),
            ]
            product = await catalog.create_product(
                session,
                ROOT,
                ProductCreate(name="Yingde black tea", county_id=county.id, unit="box", price_fen=6800, stock=100_000_000, splits=splits),
                now,
            )
            gone = await catalog.create_product(
                session,
                ROOT,
                ProductCreate(name="Guangshengyuan eggs", county_id=county.id, unit="box", price_fen=2990, stock=0, splits=splits),
                now,
            )
            anchor = await catalog.create_anchor(session, ROOT, AnchorCreate(name="Host", title="County head", county_id=county.id))
            assert product.id is not None and anchor.id is not None
            stream = await streams_service.create_stream(
                session,
                title="bench",
                scheduled_start=now,
                scheduled_end=now + timedelta(hours=4),
                anchor_ids=[anchor.id],
                product_ids=[product.id, gone.id or 0],
            )
            assert stream.id is not None
            await streams_service.start_stream(session, stream.id, now=now)
            users = [User(username=f"buyer{i}", password_hash="!", role=Role.viewer, display_name=f"买家{i}") for i in range(buyers)]
            session.add_all(users)
            await session.flush()
            tokens = [create_access_token(user_id=u.id or 0, token_version=0, secret=SECRET, now=now, ttl_seconds=4 * 3600) for u in users]
        return {"stream_id": stream.id, "product_id": product.id, "sold_out_id": gone.id, "tokens": tokens}
    finally:
        await db.dispose()


def create_pg_database() -> tuple[str, str]:
    name = f"lc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}", name


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(cmd: list[str], port: int, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """A server in a subprocess, one process; returns once it accepts connections."""
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def floor_command(port: int) -> list[str]:
    """The floor app under uvicorn, logging only warnings as `livecommerce serve` is told to here."""
    cmd = [sys.executable, "-m", "uvicorn", "bench.orders:floor_app", "--factory", "--host", "127.0.0.1", "--port", str(port)]
    return [*cmd, "--no-access-log", "--log-level", "warning"]


def serve_command(port: int) -> list[str]:
    """The real app exactly as the operator starts it (`livecommerce serve`, which also configures logging)."""
    return [sys.executable, "-c", "from livecommerce.main.cli import main; main()", "serve", "--host", "127.0.0.1", "--port", str(port)]


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- the load ----------------------------------------------------------------------------------


def order_request(port: int, stream_id: int, product_id: int, token: str) -> bytes:
    body = json.dumps({"items": [{"product_id": product_id, "quantity": 1}]}).encode()
    head = (
        f"POST /api/streams/{stream_id}/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nIdempotency-Key: {uuid.uuid4().hex}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def load(port: int, world: dict[str, Any], seconds: float, concurrency: int, *, sold_out: bool = False) -> dict[str, Any]:
    """Closed loop: `concurrency` connections each send the next order as soon as the last one is answered."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    tokens = world["tokens"]
    counter = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal counter
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop_at:
                counter += 1
                product_id = world["sold_out_id"] if sold_out else world["product_id"]
                request = order_request(port, world["stream_id"], product_id, tokens[counter % len(tokens)])
                started = time.perf_counter()
                writer.write(request)
                status = await read_response(reader)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    # The floor answers 201 to everything; the app answers a sold-out order 409.
    ok = statuses.get(201, 0) + (statuses.get(409, 0) if sold_out else 0)
    return {
        "requests": len(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "rate_per_s": round(ok / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2) if latencies else None,
        "seconds": round(elapsed, 2),
    }


@dataclass
class Target:
    """One server under test and the figures of each round, per scenario."""

    name: str
    port: int
    world: dict[str, Any]
    proc: subprocess.Popen[bytes] | None = None
    cleanup: list[Any] = field(default_factory=list)
    rounds: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {s: [] for s in SCENARIOS})
    pg_name: str | None = None


SCENARIOS = ("accepted", "sold_out")


def app_env(url: str) -> dict[str, str]:
    return {
        "LIVECOMMERCE_DATABASE_URL": url,
        "LIVECOMMERCE_SECRET_KEY": SECRET,
        "LIVECOMMERCE_REDIS_URL": "",
        "LIVECOMMERCE_RUN_SCHEDULER": "false",
        "LIVECOMMERCE_RATE_LIMITS_ENABLED": "false",
        "LIVECOMMERCE_MAX_QUANTITY_PER_BUYER": "100000000",
        "LIVECOMMERCE_LOG_LEVEL": "WARNING",
        "LIVECOMMERCE_LOG_JSON": "true",
    }


def baseline_tree(rev: str) -> tuple[Path, Any]:
    """A temporary worktree of the app at `rev` (removed afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="lc_baseline_"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), rev], check=True, capture_output=True)

    def remove() -> None:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], check=False, capture_output=True)

    return folder, remove


def _in_tree(tree: Path, module: str) -> str:
    """Where `module` (migrate, cli) lives in `tree`: the composition root since the house was rebuilt, the package before."""
    return f"livecommerce.main.{module}" if (tree / "livecommerce" / "main" / f"{module}.py").exists() else f"livecommerce.{module}"


def _migrate_with(url: str, tree: Path | None) -> None:
    """Migrate `url` with the migrations of `tree` (today's when None)."""
    if tree is None:
        upgrade(url)
        return
    code = f"import sys; from {_in_tree(tree, 'migrate')} import upgrade; upgrade(sys.argv[1])"
    # From inside the tree: `python -c` puts the working folder first on the import path.
    subprocess.run([sys.executable, "-c", code, url], check=True, env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree)


def _seed_with(url: str, tree: Path) -> dict[str, Any]:
    """Seed with the baseline's own code (its schema), then add the sold-out product by SQL."""
    code = "import asyncio, json, sys; from bench.orders import seed; print(json.dumps(asyncio.run(seed(sys.argv[1]))))"
    out = subprocess.run(
        [sys.executable, "-c", code, url], check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree
    )
    world: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if world.get("sold_out_id"):
        return world  # a baseline whose seed has the sold-out product already
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        county_id = conn.execute(sa.text("SELECT county_id FROM products WHERE id = :id"), {"id": world["product_id"]}).scalar_one()
        now = utcnow()
        gone = conn.execute(
            sa.text(
                "INSERT INTO products (name, county_id, unit, price_fen, stock, reserved, sold, description, is_active,"
                " created_at, updated_at) VALUES ('Guangshengyuan eggs', :county, 'box', 2990, 0, 0, 0, '', true, :now, :now)"
                " RETURNING id"
            ),
            {"county": county_id, "now": now},
        ).scalar_one()
        conn.execute(sa.text("INSERT INTO stream_products (stream_id, product_id) VALUES (:s, :p)"), {"s": world["stream_id"], "p": gone})
    engine.dispose()
    world["sold_out_id"] = gone
    return world


def start_app(backend: str, *, tree: Path | None = None) -> Target:
    """A fresh, seeded database of one backend and the app (today's, or the one in `tree`) serving it."""
    target = Target(name=backend if tree is None else f"before-{backend}", port=free_port(), world={})
    if backend == "sqlite":
        tmp = tempfile.TemporaryDirectory(prefix="lc_bench_")
        target.cleanup.append(tmp.cleanup)
        url = f"sqlite:///{tmp.name}/bench.db"
    else:
        url, pg_name = create_pg_database()
        target.pg_name = pg_name
        target.cleanup.append(lambda: drop_pg_database(pg_name))
    _migrate_with(url, tree)
    target.world = asyncio.run(seed(url)) if tree is None else _seed_with(url, tree)
    env = app_env(url)
    cmd = serve_command(target.port)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)  # ahead of the editable install: the old code is imported
        cmd = [sys.executable, "-c", f"from {_in_tree(tree, 'cli')} import main; main()", *cmd[3:]]
    target.proc = start_server(cmd, target.port, env, cwd=tree)
    return target


def pg_writes(pg_name: str) -> tuple[int, int]:
    """Rows written and transactions committed so far in a bench database (after the statistics are flushed)."""
    time.sleep(1.2)  # a backend reports its counts to the cumulative statistics about once a second
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{pg_name}", autocommit=True) as conn:
        rows = conn.execute("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables").fetchone()
        commits = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return int(rows[0] if rows else 0), int(commits[0] if commits else 0)


def stop(target: Target) -> None:
    if target.proc is not None:
        stop_server(target.proc)
    for cleanup in target.cleanup:
        cleanup()


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def _measure(target: Target, scenario: str, seconds: float, concurrency: int) -> dict[str, Any]:
    before = pg_writes(target.pg_name) if target.pg_name and scenario == "sold_out" else None
    figures = asyncio.run(load(target.port, target.world, seconds, concurrency, sold_out=scenario == "sold_out"))
    if before is not None and target.pg_name:
        after = pg_writes(target.pg_name)
        answers = max(figures["requests"], 1)
        # The statistics connection itself commits a transaction or two per reading.
        figures["rows_written_per_answer"] = round((after[0] - before[0]) / answers, 4)
        figures["commits_per_answer"] = round(max(after[1] - before[1] - 2, 0) / answers, 4)
    return figures


def run(quick: bool, baseline: str | None = None, concurrency: int = CONCURRENCY) -> dict[str, Any]:
    """Measure the floor and the app on SQLite and PostgreSQL (and the baseline's) in interleaved rounds.

    The machine is shared, so its background load drifts: every round measures the floor and
    every app back to back in each scenario, each round's ratio uses that round's floor, and
    the reported figures are medians over the rounds.
    """
    rounds, seconds = (3, 3.0) if quick else (5, 8.0)
    targets: list[Target] = []
    tree: Path | None = None
    try:
        if baseline:
            tree, remove = baseline_tree(baseline)
            cleanup_tree = remove
        floor = Target(name="floor", port=free_port(), world={"stream_id": 1, "product_id": 1, "sold_out_id": 1, "tokens": ["x"]})
        targets.append(floor)
        floor.proc = start_server(floor_command(floor.port), floor.port, {})
        for backend in ("sqlite", "postgresql"):
            targets.append(start_app(backend))
            if tree is not None:
                targets.append(start_app(backend, tree=tree))
        for target in targets:  # warm-up: imports, pools, statement caches; and the sold-out product is known
            for scenario in SCENARIOS:
                asyncio.run(load(target.port, target.world, 1.0, concurrency, sold_out=scenario == "sold_out"))
        for i in range(rounds):
            for scenario in SCENARIOS:
                for target in targets[i % len(targets) :] + targets[: i % len(targets)]:
                    target.rounds[scenario].append(_measure(target, scenario, seconds, concurrency))
    finally:
        for target in targets:
            stop(target)
        if tree is not None:
            cleanup_tree()
    results: dict[str, Any] = {"concurrency": concurrency, "seconds_per_round": seconds, "rounds": rounds, "baseline": baseline}
    for scenario in SCENARIOS:
        floor_rates = [r["rate_per_s"] for r in floor.rounds[scenario]]
        per: dict[str, Any] = {}
        for target in targets:
            runs = target.rounds[scenario]
            figures: dict[str, Any] = {
                "rate_per_s": _median([r["rate_per_s"] for r in runs]),
                "p50_ms": _median([r["p50_ms"] for r in runs]),
                "p99_ms": _median([r["p99_ms"] for r in runs]),
                "statuses": _total_statuses(runs),
                "runs": runs,
            }
            if "rows_written_per_answer" in runs[0]:
                figures["rows_written_per_answer"] = _median([r["rows_written_per_answer"] for r in runs])
                figures["commits_per_answer"] = _median([r["commits_per_answer"] for r in runs])
            if target is not floor:
                ratios = [r["rate_per_s"] / f for r, f in zip(runs, floor_rates, strict=True) if f]
                figures["ratio_to_floor"] = round(statistics.median(ratios), 4) if ratios else None
            per[target.name] = figures
        results[scenario] = per
    results["summary"] = _summary(results)
    return results


def _total_statuses(runs: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for r in runs:
        for status, n in r["statuses"].items():
            total[status] = total.get(status, 0) + n
    return total


GOALS = {"accepted": (0.25, 50.0), "sold_out": (0.5, 25.0)}


def _summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    summary: list[dict[str, Any]] = []
    for scenario in SCENARIOS:
        per = results[scenario]
        floor = per["floor"]
        goal_ratio, goal_p99 = GOALS[scenario]
        summary.append({"metric": f"{scenario}: floor req/s (validate + 201)", "value": floor["rate_per_s"], "unit": "req/s"})
        for name, figures in per.items():
            if name == "floor":
                continue
            today = not name.startswith("before-")
            summary += [
                {
                    "metric": f"{scenario}: {name} answers/s",
                    "value": figures["rate_per_s"],
                    "unit": "req/s",
                    "yardstick": floor["rate_per_s"],
                    "ratio": figures["ratio_to_floor"],
                    "goal": f">= {goal_ratio:.0%} of floor" if today else "",
                    "met": (figures["ratio_to_floor"] or 0) >= goal_ratio if today else None,
                },
                {
                    "metric": f"{scenario}: {name} p99",
                    "value": figures["p99_ms"],
                    "unit": "ms",
                    "goal": f"< {goal_p99:.0f} ms" if today else "",
                    "met": (figures["p99_ms"] or 1e9) < goal_p99 if today else None,
                },
            ]
            if "rows_written_per_answer" in figures:
                summary.append({"metric": f"{scenario}: {name} rows written per answer", "value": figures["rows_written_per_answer"]})
                summary.append({"metric": f"{scenario}: {name} commits per answer", "value": figures["commits_per_answer"]})
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--baseline", metavar="REV", help="also run the app as of this git revision, side by side")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help=f"keep-alive connections (default {CONCURRENCY})")
    args = parser.parse_args()
    results = run(quick=args.quick, baseline=args.baseline, concurrency=args.concurrency)
    for scenario in SCENARIOS:
        print(f"{scenario:24} {'rate/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>7}  {'writes/ans':>10}  statuses")
        for name, r in results[scenario].items():
            ratio = r.get("ratio_to_floor", 1.0)
            writes = r.get("rows_written_per_answer", "")
            line = f"  {name:22} {r['rate_per_s']:>10.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {ratio:>7.3f}"
            print(f"{line}  {writes!s:>10}  {r['statuses']}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "orders.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
