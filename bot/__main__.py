"""The `coursebot` command line: run the bot, drive it offline, manage the database and course packages."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure_logging
from db import migrate
from db.session import create_engine

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


async def db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    engine = create_engine(settings.database.url)
    try:
        await migrate.upgrade(engine, args.revision)
        now = await migrate.status(engine)
    finally:
        await engine.dispose()
    print(f"Database at revision {now.current} (head is {now.head}).")
    return 0


async def db_check(settings: Settings, args: argparse.Namespace) -> int:
    engine = create_engine(settings.database.url)
    try:
        now = await migrate.status(engine)
    finally:
        await engine.dispose()
    if not now.is_current:
        print(f"Pending migrations: the database is at {now.current or 'none (empty)'}, head is {now.head}.")
        print("Run `coursebot db upgrade`.")
        return 1
    if now.drift:
        print("The schema differs from the models:")
        for difference in now.drift:
            print(f"  {difference}")
        print("Add a migration: `alembic revision --autogenerate -m '...'`.")
        return 1
    print(f"Database is clean at revision {now.current}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursebot", description=__doc__)
    parser.add_argument("--config", type=Path, help="settings file (default: $COURSEBOT_CONFIG or ./config.toml)")
    commands = parser.add_subparsers(dest="command", required=True)

    database = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    upgrade = database.add_parser("upgrade", help="apply pending migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(handler=db_upgrade)
    database.add_parser("check", help="report pending migrations and drift from the models").set_defaults(
        handler=db_check
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.logging)
    handler: Command = args.handler
    sys.exit(asyncio.run(handler(settings, args)))


if __name__ == "__main__":
    main()
