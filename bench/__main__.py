"""`python -m bench NAME [--backend sqlite|postgres] ...`: run one benchmark, print one JSON line per figure."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import pkgutil
import sys

import bench


def available() -> list[str]:
    return sorted(module.name for module in pkgutil.iter_modules(bench.__path__) if not module.name.startswith("_"))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=available())
    parser.add_argument("--backend", choices=["sqlite", "postgres"], action="append", help="default: both")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the workload sizes (e.g. 0.1 for a smoke run)"
    )
    args = parser.parse_args()
    module = importlib.import_module(f"bench.{args.name}")

    async def run() -> None:
        async for figure in module.run(backends=args.backend or ["sqlite", "postgres"], scale=args.scale):
            print(json.dumps(figure.as_dict()), flush=True)

    asyncio.run(run())
    sys.exit(0)


if __name__ == "__main__":
    main()
