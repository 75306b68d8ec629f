"""Run every benchmark in `bench/`, print one table of results with yardsticks and ratios, write JSON.

Each benchmark module exposes `run(quick: bool) -> dict`. A result may carry a `summary`
list of rows `{"metric", "value", "unit", "yardstick", "ratio", "goal", "met"}`; other
numeric leaves are printed as they are.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

BENCHMARKS = ("orders", "flash", "ledger", "relay", "payments")
RESULTS = Path(__file__).parent / "results"


def _rows(name: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = result.get("summary")
    if isinstance(rows, list):
        return [{"bench": name, **r} for r in rows]
    flat: list[dict[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat.append({"bench": name, "metric": prefix, "value": value})

    walk("", result)
    return flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller loads, for a smoke run")
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 180)  # a log file gets the table unwrapped
    results: dict[str, Any] = {"machine": {"python": platform.python_version(), "platform": platform.platform()}, "benchmarks": {}}
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    for name in args.names:
        console.print(f"[bold]running bench.{name}[/bold] ...")
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            result = module.run(quick=args.quick)
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            result = {"error": f"bench/{name}.py does not exist"}
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            console.print_exception()
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result["seconds"] = round(time.perf_counter() - started, 1)
        results["benchmarks"][name] = result
        if "error" in result:
            failed.append(name)
            rows.append({"bench": name, "metric": "error", "value": result["error"]})
        else:
            rows.extend(_rows(name, result))
    table = Table(title="livecommerce benchmarks")
    for column in ("bench", "metric", "value", "unit", "yardstick", "ratio", "goal", "met"):
        table.add_column(column)
    for row in rows:
        table.add_row(*[_fmt(row.get(c)) for c in ("bench", "metric", "value", "unit", "yardstick", "ratio", "goal", "met")])
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "all.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    console.print(f"written to {out}")
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/red]")
        raise SystemExit(1)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return str(value)


if __name__ == "__main__":
    main()
