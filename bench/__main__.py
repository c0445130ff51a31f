"""`python -m bench NAME [--backend sqlite|postgres] ...`: run one benchmark, print one JSON line per figure.

`python -m bench all` runs every benchmark in `bench/` (found, not listed: a new module joins by being there), each
at a scale that keeps the whole run within 10 minutes (`ALL_SCALE`, or a module's own `ALL_SCALE`), then prints one
table: every figure, its floor and the ratio to it where it has one, and how long each benchmark took. A benchmark
that fails is reported in the table and the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import pkgutil
import sys
import time
import traceback
from collections.abc import Sequence

import bench
from bench._harness import Figure

# The scale `all` runs a benchmark at, unless the module says otherwise: mostly each one's smallest sizes.
ALL_SCALE = 0.02


def available() -> list[str]:
    return sorted(module.name for module in pkgutil.iter_modules(bench.__path__) if not module.name.startswith("_"))


async def run_one(name: str, *, backends: list[str], scale: float) -> list[Figure]:
    module = importlib.import_module(f"bench.{name}")
    figures = []
    async for figure in module.run(backends=backends, scale=scale):
        print(json.dumps(figure.as_dict()), flush=True)
        figures.append(figure)
    return figures


async def run_all(*, backends: list[str], scale: float | None) -> int:
    """Every benchmark, one after the other; returns how many failed."""
    figures: list[Figure] = []
    runs: list[tuple[str, float, float, str]] = []  # name, scale, seconds, "ok" or the error
    for name in available():
        at = scale if scale is not None else getattr(importlib.import_module(f"bench.{name}"), "ALL_SCALE", ALL_SCALE)
        started = time.perf_counter()
        try:
            figures += await run_one(name, backends=backends, scale=at)
            outcome = "ok"
        except Exception as error:
            traceback.print_exc()
            outcome = f"failed: {type(error).__name__}: {error}".splitlines()[0][:100]
        runs.append((name, at, time.perf_counter() - started, outcome))
    print(summary(figures, runs))
    return sum(outcome != "ok" for *_, outcome in runs)


def summary(figures: Sequence[Figure], runs: Sequence[tuple[str, float, float, str]]) -> str:
    """The figures as one aligned table, then each benchmark's scale, duration and outcome."""
    rows = [("bench", "backend", "metric", "value", "unit", "floor", "ratio")]
    for figure in figures:
        floor = "" if figure.floor is None else f"{figure.floor:g}"
        ratio = "" if figure.ratio is None else f"{figure.ratio:g}x"
        rows.append((figure.bench, figure.backend, figure.metric, f"{figure.value:g}", figure.unit, floor, ratio))
    rows.append(("", "", "", "", "", "", ""))
    rows += [(name, f"scale {at:g}", outcome, f"{seconds:.0f}", "s", "", "") for name, at, seconds, outcome in runs]
    total = sum(seconds for _, _, seconds, _ in runs)
    rows.append(("all", "", f"{len(runs)} benchmarks", f"{total:.0f}", "s", "", ""))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=[*available(), "all"])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], action="append", help="default: both")
    parser.add_argument(
        "--scale", type=float, help="multiply the workload sizes (default 1; for `all`, each benchmark's ALL_SCALE)"
    )
    args = parser.parse_args()
    backends = args.backend or ["sqlite", "postgres"]
    if args.name == "all":
        sys.exit(1 if asyncio.run(run_all(backends=backends, scale=args.scale)) else 0)
    asyncio.run(run_one(args.name, backends=backends, scale=1.0 if args.scale is None else args.scale))
    sys.exit(0)


if __name__ == "__main__":
    main()
