"""The `coursebot` command line: run the bot, drive it offline, manage the database and course packages."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure_logging
from db import migrate
from db.session import Database, create_engine

if TYPE_CHECKING:
    from bot.services.coursepack import QuestionSpec

SAMPLE_COURSE = Path(__file__).resolve().parent.parent / "content" / "python-basics"

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


@contextlib.asynccontextmanager
async def opened_database(settings: Settings, *, migrated: bool = False) -> AsyncIterator[Database]:
    """The configured database for one command, disposed of when the command ends. `migrated`: its schema is brought
    to the current revision first (or the command refused, as `database.auto_migrate` says)."""

    database = Database.from_url(settings.database.url)
    try:
        if migrated:
            await migrate.ensure_current(database.engine, auto_migrate=settings.database.auto_migrate)
        yield database
    finally:
        await database.dispose()


def course_errors_fail(command: Command) -> Command:
    """A command that prints a `CourseError` (a course or cohort that is not there, ...) and exits with 1."""

    @functools.wraps(command)
    async def run(settings: Settings, args: argparse.Namespace) -> int:
        from bot.errors import CourseError

        try:
            return await command(settings, args)
        except CourseError as error:
            print(error, file=sys.stderr)
            return 1

    return run


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


def shard_list(text: str) -> list[int]:
    """`0-3,6` as [0, 1, 2, 3, 6]."""
    shards: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            shards.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of shards such as 0-3 or 0,2") from None
    return shards


def with_shards(settings: Settings, args: argparse.Namespace) -> Settings:
    """`settings` with the `run` options that choose this process's shards over their `[cluster]` values."""
    from pydantic import ValidationError

    from bot.config import ClusterSettings

    options = ("shard_count", "shards", "cluster", "clusters")
    chosen = {option: getattr(args, option, None) for option in options if getattr(args, option, None) is not None}
    if not chosen:
        return settings
    try:
        cluster = ClusterSettings(**{**settings.cluster.model_dump(), **chosen})
    except ValidationError as error:
        problems = (problem["msg"].removeprefix("Value error, ") for problem in error.errors())
        raise ConfigError("; ".join(problems)) from None
    return settings.model_copy(update={"cluster": cluster})


async def run_bot(settings: Settings, args: argparse.Namespace) -> int:
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        print(
            "No Discord token: set DISCORD_TOKEN to connect to Discord.\n"
            "To try Coursebot without Discord, run `coursebot console` (or `make demo`).",
            file=sys.stderr,
        )
        return 2
    from bot.app import CourseBot
    from bot.health import Observability

    try:
        settings = with_shards(settings, args)
        bot = CourseBot(settings, freeze_heap=True)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    observability = Observability(bot, settings) if settings.metrics.enabled else None
    if observability is not None:
        try:
            await observability.start()
        except OSError as error:
            print(f"Could not serve metrics at {observability.address} ({error.strerror or error}).", file=sys.stderr)
            return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    running = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Graceful: the scheduler finishes its current job, Discord closes, then the database.
        await bot.close()
        stopping.cancel()
        if observability is not None:
            await observability.stop()
    if running.done() and not running.cancelled() and (error := running.exception()) is not None:
        message = startup_failure(error, settings)
        if message is None:
            raise error
        print(message, file=sys.stderr)
        return 1
    return 0


DEVELOPER_PORTAL = "https://discord.com/developers/applications"


def startup_failure(error: BaseException, settings: Settings) -> str | None:
    """One line an operator can act on for a start-up failure they caused, or None for a bug."""
    import discord
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, migrate.SchemaBehind):
        return str(error)
    if isinstance(error, discord.LoginFailure) or (isinstance(error, discord.ConnectionClosed) and error.code == 4004):
        return (
            "Discord refused the token in DISCORD_TOKEN. Copy the bot's token from "
            f"{DEVELOPER_PORTAL} → your application → Bot → Reset Token."
        )
    if isinstance(error, discord.PrivilegedIntentsRequired):
        return (
            "Discord closed the connection (4014): the bot needs the Message Content intent to read tutor threads. "
            f"Enable it at {DEVELOPER_PORTAL} → your application → Bot → Privileged Gateway Intents."
        )
    if isinstance(error, DBAPIError | OSError | TimeoutError):
        where = make_url(settings.database.url).render_as_string(hide_password=True)
        reason = str(getattr(error, "orig", None) or error).splitlines()[0] or type(error).__name__
        return f"Could not reach the database at {where} ({reason}). Check `database.url` and that the server runs."
    return None


async def sync_commands(settings: Settings, args: argparse.Namespace) -> int:
    if settings.discord_token is None:
        print("Set DISCORD_TOKEN: syncing commands talks to Discord.", file=sys.stderr)
        return 2
    from bot.app import CourseBot

    bot = CourseBot(settings)
    async with bot:
        await bot.login(settings.discord_token.get_secret_value())  # setup_hook loads the cogs
        synced = await bot.tree.sync()
        print(f"Synced {len(synced)} global commands (Discord may take up to an hour to show them).")
    return 0


async def console(settings: Settings, args: argparse.Namespace) -> int:
    from sandbox.console import run_console

    return await run_console(settings, acting_as=args.acting_as, sample=None if args.no_sample else SAMPLE_COURSE)


async def course_validate(settings: Settings, args: argparse.Namespace) -> int:
    """Every problem, or the package's outline: each quiz file with the questions it yields by type
    (exactly what `course import` writes), then the warnings about what was read in a closest form."""
    from bot.services.coursepack import PackageInvalid
    from bot.services.coursepack.loader import load_package_report

    try:
        report = load_package_report(args.path)
    except PackageInvalid as invalid:
        print(f"{args.path}: {invalid.count} problem(s)", file=sys.stderr)
        for problem in invalid.problems:
            print(f"  {problem}", file=sys.stderr)
        if invalid.omitted:
            print(f"  …and {invalid.omitted} more (fix these first)", file=sys.stderr)
        return 1
    package = report.package
    items = sum(len(module.items) for module in package.modules)
    print(f"{package.code} · {package.title}: {len(package.modules)} modules, {items} items, valid.")
    for quiz in package.quizzes:
        print(f"  {report.item_files[quiz.slug]}: {question_counts(quiz.questions)}")
    if report.warnings:
        print(f"{len(report.warnings)} warning(s): imported in the closest form Coursebot has, as described")
        for warning in report.warnings:
            print(f"  {warning}")
    return 0


_QUESTION_TYPE_NAMES = {
    "MULTIPLE_CHOICE": "multiple choice",
    "TRUE_FALSE": "true/false",
    "MULTI_SELECT": "multi-select",
}


def question_counts(questions: Sequence[QuestionSpec]) -> str:
    """`12 questions (10 multiple choice, 2 true/false)`: how many, and of which types in first-seen order."""
    by_type = Counter(question.type.value for question in questions)
    kinds = ", ".join(f"{count} {_QUESTION_TYPE_NAMES.get(kind, kind)}" for kind, count in by_type.items())
    return f"{len(questions)} question{'s' if len(questions) != 1 else ''} ({kinds})"


async def index_imported_course(database: Database, settings: Settings, *, guild_id: int, code: str) -> None:
    """Index the course's published lessons for the tutor, and say how it went."""
    from bot.clock import SystemClock
    from bot.tutor.materials import index_published_lessons

    report = await index_published_lessons(
        database, guild_id=guild_id, course_code=code, settings=settings, clock=SystemClock()
    )
    failed = f", {len(report.failed)} failed" if report.failed else ""
    print(f"Indexed {report.ready} lesson(s) for the tutor{failed}.")


async def course_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from bot.services import content, tenancy
    from bot.services.coursepack import PackageInvalid, load_package

    try:
        package = load_package(args.path)
    except PackageInvalid as invalid:
        print(invalid, file=sys.stderr)
        return 1
    try:
        async with opened_database(settings, migrated=True) as database:
            async with database.session_scope() as session:
                await tenancy.remember_guild(session, guild_id=args.guild, name=f"guild {args.guild}")
                summary = await content.import_package(
                    session,
                    guild_id=args.guild,
                    actor_id=0,
                    package=package,
                    publish=args.publish,
                    now=SystemClock().now(),
                )
            if summary.published:  # the tutor cites what is indexed: a published course is indexed now, as /teach does
                await index_imported_course(database, settings, guild_id=args.guild, code=summary.code)
    except PackageInvalid as invalid:
        print(invalid, file=sys.stderr)
        return 1
    verb = "Created" if summary.created else "Updated"
    state = "published" if summary.published else "as drafts"
    print(
        f"{verb} {summary.code}: {summary.new_revisions} new revision(s), {summary.unchanged} unchanged, "
        f"{summary.removed} removed ({state})."
    )
    return 0


@course_errors_fail
async def course_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services import content
    from bot.services.coursepack import write_package, write_zip

    async with opened_database(settings) as database, database.session_scope() as session:
        package = await content.export_package(session, guild_id=args.guild, code=args.code)
    written = (write_zip if args.out.suffix == ".zip" else write_package)(package, args.out)
    print(f"Wrote {package.code} to {written}.")
    return 0


@course_errors_fail
async def course_gradebook(settings: Settings, args: argparse.Namespace) -> int:
    """Write a course's gradebook as `/teach gradebook` does, audited with the command line (0) as the actor."""
    from bot.services.analytics import gradebook, overview

    async with opened_database(settings) as database, database.session_scope() as session:
        scope = await overview.scope_of(session, guild_id=args.guild, code=args.code, cohort=args.cohort)
        book = await gradebook.gradebook(session, scope=scope, actor_id=0, guild_id=args.guild)
    args.out.write_bytes(book.csv())
    print(f"Wrote the {book.course_code} gradebook ({len(book.rows)} students) to {args.out}.")
    return 0


async def analytics_backfill(settings: Settings, args: argparse.Namespace) -> int:
    """Rebuild the last N complete days of class analytics from the raw tables (every course, or one guild's)."""
    from bot.clock import SystemClock
    from bot.services.analytics import snapshots

    if not 1 <= args.days <= 3660:
        print("--days takes a number of days from 1 to 3660.", file=sys.stderr)
        return 2
    async with opened_database(settings) as database, database.session_scope() as session:
        done = await snapshots.backfill(session, now=SystemClock().now(), days=args.days, guild_id=args.guild)
    print(f"Rebuilt {args.days} day(s) of class analytics for {done.courses} course(s) ({done.days} course days).")
    return 0


async def privacy_delete(settings: Settings, args: argparse.Namespace) -> int:
    """Erase people by Discord id, as `/profile delete` does for oneself; rerunning finishes an interrupted one."""
    from bot.clock import SystemClock
    from bot.services import privacy

    async with opened_database(settings, migrated=True) as database:
        for user_id in args.user_ids:
            erased = await privacy.erase_user(
                database,
                user_id=user_id,
                requested_by="operator",
                now=SystemClock().now(),
                batch_size=settings.privacy.batch_size,
            )
            if not erased.found:
                print(f"{user_id}: nothing stored.")
            elif erased.finished:
                print(f"{user_id}: erased ({sum(erased.changed.values())} row(s) deleted or detached).")
            else:
                async with database.session_scope() as session:
                    left = await privacy.rows_naming(session, user_id=user_id)
                print(f"{user_id}: still written to ({left}); the bot's privacy job finishes it.", file=sys.stderr)
    return 0


async def privacy_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write everything stored about one person as JSON (the `/profile export` format), audited."""
    from bot.clock import SystemClock
    from bot.services import privacy

    async with opened_database(settings) as database, database.session_scope() as session:
        document = await privacy.export_data(
            session,
            user_id=args.user_id,
            requested_by="operator",
            guild_id=None,
            now=SystemClock().now(),
            settings=settings.privacy,
        )
    args.out.write_bytes(document)
    print(f"Wrote the data of {args.user_id} to {args.out}.")
    return 0


async def privacy_purge_guild(settings: Settings, args: argparse.Namespace) -> int:
    """Delete a server's data now, without waiting for the grace period (run it once the bot has left it)."""
    from bot.services import privacy

    async with opened_database(settings, migrated=True) as database:
        removed = await privacy.purge_guild(
            database, guild_id=args.guild_id, reason="operator", batch_size=settings.privacy.batch_size
        )
    print(f"Purged server {args.guild_id}: {sum(removed.values())} row(s) deleted.")
    return 0


async def privacy_erased(settings: Settings, args: argparse.Namespace) -> int:
    """The Discord ids of the tombstones, one per line: the erasures to apply again after restoring a backup."""
    from bot.services import privacy

    async with opened_database(settings) as database, database.session_scope() as session:
        tombstones = await privacy.erased_ids(session)
    for user_id, requested_at, finished_at in tombstones:
        state = f"finished {finished_at:%Y-%m-%d %H:%M}" if finished_at else "unfinished"
        print(f"{user_id}\t# requested {requested_at:%Y-%m-%d %H:%M} UTC, {state}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursebot", description=__doc__)
    parser.add_argument("--config", type=Path, help="settings file (default: $COURSEBOT_CONFIG or ./config.toml)")
    commands = parser.add_subparsers(dest="command", required=True)

    running = commands.add_parser("run", help="connect to Discord with DISCORD_TOKEN")
    running.add_argument("--shard-count", type=int, help="the bot's shards in all, the same in every process")
    running.add_argument("--shards", type=shard_list, help="this process's shards, e.g. 0-3 or 0,2 ([cluster] shards)")
    running.add_argument("--cluster", type=int, help="this process's number K: it runs the shards K, K+M, ...")
    running.add_argument("--clusters", type=int, help="how many processes M share the shards")
    running.set_defaults(handler=run_bot)
    commands.add_parser("sync", help="publish the slash commands globally").set_defaults(handler=sync_commands)
    offline = commands.add_parser("console", help="drive the bot from this terminal, no Discord needed")
    offline.add_argument("--as", dest="acting_as", choices=["student", "instructor", "admin"], default="student")
    offline.add_argument("--no-sample", action="store_true", help="don't import the sample course on first start")
    offline.set_defaults(handler=console)

    database = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    upgrade = database.add_parser("upgrade", help="apply pending migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(handler=db_upgrade)
    database.add_parser("check", help="report pending migrations and drift from the models").set_defaults(
        handler=db_check
    )

    course = commands.add_parser("course", help="course packages").add_subparsers(dest="course_command", required=True)
    validate = course.add_parser("validate", help="check a package folder or .zip and list every problem")
    validate.add_argument("path", type=Path)
    validate.set_defaults(handler=course_validate)
    importing = course.add_parser("import", help="create or update a course from a package")
    importing.add_argument("path", type=Path)
    importing.add_argument("--guild", type=int, required=True, help="the Discord server id")
    importing.add_argument("--publish", action="store_true", help="publish the new revisions at once")
    importing.set_defaults(handler=course_import)
    exporting = course.add_parser("export", help="write a course as a package folder (or OUT.zip)")
    exporting.add_argument("code")
    exporting.add_argument("out", type=Path)
    exporting.add_argument("--guild", type=int, required=True, help="the Discord server id")
    exporting.set_defaults(handler=course_export)

    grading = course.add_parser("gradebook", help="write a course's gradebook as CSV (audited)")
    grading.add_argument("code")
    grading.add_argument("out", type=Path)
    grading.add_argument("--guild", type=int, required=True, help="the Discord server id")
    grading.add_argument("--cohort", help="only this cohort (its term name)")
    grading.set_defaults(handler=course_gradebook)

    analytics = commands.add_parser("analytics", help="class analytics: see docs/analytics.md").add_subparsers(
        dest="analytics_command", required=True
    )
    backfilling = analytics.add_parser("backfill", help="rebuild the last N days of snapshots from the raw tables")
    backfilling.add_argument("--days", type=int, required=True, help="how many complete days back from yesterday")
    backfilling.add_argument("--guild", type=int, help="only this Discord server's courses")
    backfilling.set_defaults(handler=analytics_backfill)

    privacy = commands.add_parser("privacy", help="a person's data and a server's: see docs/privacy.md")
    privacy_commands = privacy.add_subparsers(dest="privacy_command", required=True)
    deleting = privacy_commands.add_parser("delete", help="erase everything about people, by Discord user id")
    deleting.add_argument("user_ids", type=int, nargs="+", metavar="USER_ID")
    deleting.set_defaults(handler=privacy_delete)
    handing_out = privacy_commands.add_parser("export", help="write everything about one person as JSON")
    handing_out.add_argument("user_id", type=int, metavar="USER_ID")
    handing_out.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    handing_out.set_defaults(handler=privacy_export)
    purging = privacy_commands.add_parser("purge-guild", help="delete a server's data now (after the bot left it)")
    purging.add_argument("guild_id", type=int, metavar="GUILD_ID")
    purging.set_defaults(handler=privacy_purge_guild)
    privacy_commands.add_parser(
        "erased", help="the ids erased recently: apply them again (`privacy delete`) after restoring a backup"
    ).set_defaults(handler=privacy_erased)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.logging, secrets=settings.secret_values())
    handler: Command = args.handler
    sys.exit(asyncio.run(handler(settings, args)))


if __name__ == "__main__":
    main()
