"""CourseBot: the Discord client. `setup_hook` wires settings, database, scheduler and every cog."""

from __future__ import annotations

import asyncio
import gc
import logging
import pkgutil
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from contextlib import suppress
from typing import Any, Generic, TypeVar

import discord
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from discord import app_commands
from discord.ext import commands
from discord.webhook import async_ as webhooks
from sqlalchemy.engine import make_url

import cogs
from bot import metrics
from bot.clock import Clock, SystemClock
from bot.config import ConfigError, DatabaseSettings, Settings
from bot.scheduler import install_jobs
from bot.services import tenancy
from bot.services.outbox import Claimed
from cogs._input import check_options
from db import migrate
from db.models import NotificationKind
from db.session import Database, create_engine, is_database_fault, limit_work

log = logging.getLogger(__name__)

# Discord drops an answer that comes more than 3 s after the interaction; half a second is left for the network.
ANSWER_WITHIN_SECONDS = 2.5
# Members and guilds whose rows this process wrote recently (a few MB at most).
REMEMBERED_MEMBERS = 50_000
REMEMBERED_GUILDS = 10_000

K = TypeVar("K", bound=Hashable)

_INTERACTION_KINDS = {
    discord.InteractionType.application_command: "command",
    discord.InteractionType.autocomplete: "autocomplete",
    discord.InteractionType.component: "component",
    discord.InteractionType.modal_submit: "modal",
}
# Keys of `Interaction.extras`: its arrival time; what handles a button, select or modal; how its handler ended.
_RECEIVED = "metrics.received"
_HANDLER = "metrics.handler"
_OUTCOME = "metrics.outcome"


class RecentlySeen(Generic[K]):
    """A set that keeps only its `capacity` most recently seen keys, forgetting the least recent first (an LRU).

    A dozen lines over `OrderedDict` rather than a dependency (cachetools) for one use; `functools.lru_cache`
    caches a function's results, which is not this (the rows are written by an async upsert, and only after it
    succeeded may the key count as remembered).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._keys: OrderedDict[K, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def seen(self, key: K) -> bool:
        """Whether `key` is remembered; a key that is becomes the most recent."""
        if key not in self._keys:
            return False
        self._keys.move_to_end(key)
        return True

    def add(self, key: K) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)


def use_discord_api(base_url: str) -> str:
    """Send every REST call of this process (the bot's and its interaction answers) to `base_url`, e.g. a shared
    rate-limit proxy; returns the base used before. discord.py reads the base from its two `Route` classes."""
    previous = discord.http.Route.BASE
    discord.http.Route.BASE = webhooks.Route.BASE = base_url.rstrip("/")
    return previous


def interaction_label(interaction: discord.Interaction[Any]) -> tuple[str, str]:
    """The kind of `interaction` and what it ran, as metric labels: a command's name, or what handles a button,
    select or modal (`handler_name`); never a custom id, which carries ids (few distinct values, so few series)."""
    kind = _INTERACTION_KINDS.get(interaction.type, "other")
    if interaction.command is not None:
        return kind, interaction.command.qualified_name
    return kind, interaction.extras.get(_HANDLER, "unknown")


class _TimedResponse(discord.InteractionResponse):  # type: ignore[type-arg]
    """An `InteractionResponse` that observes the time from the interaction's arrival to its acknowledgement.

    discord.py sets `_response_type` once Discord accepted the acknowledgement, whichever way it was given (a
    message, a deferral, a modal, suggestions); here that attribute is a property that observes the time.
    """

    __slots__ = ("_type",)

    def __init__(self, parent: discord.Interaction[Any]) -> None:
        self._type: discord.InteractionResponseType | None = None
        super().__init__(parent)

    @property  # type: ignore[override]
    def _response_type(self) -> discord.InteractionResponseType | None:
        return self._type

    @_response_type.setter
    def _response_type(self, value: discord.InteractionResponseType | None) -> None:
        interaction = self._parent
        if value is not None and self._type is None and (received := interaction.extras.get(_RECEIVED)):
            elapsed = asyncio.get_running_loop().time() - received
            metrics.ACKNOWLEDGED.labels(*interaction_label(interaction)).observe(elapsed)
        self._type = value


def time_interaction(interaction: discord.Interaction[Any]) -> None:
    """Time `interaction` from now: its acknowledgement (`_TimedResponse`) and `interaction_finished`. Called as
    discord.py hands it to its handlers, before any of them can answer."""
    interaction.extras[_RECEIVED] = asyncio.get_running_loop().time()
    interaction._cs_response = _TimedResponse(interaction)  # type: ignore[attr-defined]


def interaction_finished(interaction: discord.Interaction[Any], *, outcome: str) -> None:
    """Count `interaction` with `outcome` (ok, error, unhandled) and observe the time it took, if it was timed."""
    kind, name = interaction_label(interaction)
    metrics.INTERACTIONS.labels(kind, name, outcome).inc()
    if received := interaction.extras.get(_RECEIVED):
        metrics.COMPLETED.labels(kind, name).observe(asyncio.get_running_loop().time() - received)


def interaction_failed(interaction: discord.Interaction[Any]) -> None:
    """Mark a button, select or modal `interaction` as failed (the error handler does): `time_components` counts it
    so when its handler ends. Commands are counted by `CourseTree`."""
    interaction.extras[_OUTCOME] = "error"


def handler_name(store: Any, interaction: discord.Interaction[Any], component_type: int, custom_id: str) -> str:
    """What handles a button, select or modal, as a metric label: a persistent button's class (`AnswerButton`), a
    view's class and item (`Paginator.next`), a modal's class; "unknown" when nothing does (a view that timed out
    or that a restart forgot). `store` is discord.py's view store, which knows them all."""
    if interaction.type is discord.InteractionType.modal_submit:
        modal = store._modals.get(custom_id)
        return "unknown" if modal is None else type(modal).__name__
    for pattern, button_class in store._dynamic_items.items():
        if pattern.fullmatch(custom_id):
            return str(button_class.__name__)
    key = (component_type, custom_id)
    message_id = interaction.message.id if interaction.message is not None else None
    item = store._views.get(message_id, {}).get(key) or store._views.get(None, {}).get(key)
    if item is None or item.view is None:
        return "unknown"
    method = getattr(item.callback, "callback", None)  # an item declared with @discord.ui.button or select
    return f"{type(item.view).__name__}.{getattr(method, '__name__', type(item).__name__)}"


def time_components(bot: discord.Client) -> None:
    """Time, name and count every button, select and modal `bot` receives: timed (`time_interaction`) and named
    (`handler_name`) as discord.py's view store hands it to its handlers, counted with its completion time when the
    last of them ends: `ok`, `error` when the error handler answered it (`interaction_failed`), `unhandled` when no
    handler took it (Discord tells the user it failed). Commands are counted by `CourseTree`."""
    store = bot._connection._view_store
    dispatch_view, dispatch_modal, add_task = store.dispatch_view, store.dispatch_modal, store.add_task

    def dispatch_counted(interaction: discord.Interaction[Any], dispatch: Callable[[], None]) -> None:
        time_interaction(interaction)
        handlers: list[asyncio.Task[None]] = []
        store.add_task = handlers.append  # type: ignore[method-assign]  # it hands `add_task` each handler it starts
        try:
            dispatch()
        finally:
            store.add_task = add_task  # type: ignore[method-assign]
        if not handlers:
            interaction_finished(interaction, outcome="unhandled")
            return

        def handler_ended(ended: asyncio.Task[None]) -> None:
            handlers.remove(ended)
            if not handlers:  # the last one
                interaction_finished(interaction, outcome=interaction.extras.get(_OUTCOME, "ok"))

        for handler in list(handlers):
            add_task(handler)
            handler.add_done_callback(handler_ended)

    def timed_view(component_type: int, custom_id: str, interaction: discord.Interaction[Any]) -> None:
        interaction.extras[_HANDLER] = handler_name(store, interaction, component_type, custom_id)
        dispatch_counted(interaction, lambda: dispatch_view(component_type, custom_id, interaction))

    def timed_modal(custom_id: str, interaction: discord.Interaction[Any], *args: Any) -> None:
        interaction.extras[_HANDLER] = handler_name(store, interaction, 0, custom_id)
        dispatch_counted(interaction, lambda: dispatch_modal(custom_id, interaction, *args))

    store.dispatch_view, store.dispatch_modal = timed_view, timed_modal  # type: ignore[method-assign]


def database_from(settings: DatabaseSettings) -> Database:
    """The database of `settings`, every wait on it bounded as configured."""
    return Database.from_url(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        echo=settings.echo,
        pool_timeout=settings.pool_timeout_seconds,
        connect_timeout=settings.connect_timeout_seconds,
        statement_timeout=settings.statement_timeout_seconds,
    )


def cog_modules() -> list[str]:
    """Every extension under `cogs/`; modules starting with `_` are shared helpers, not cogs."""
    return sorted(
        f"cogs.{module.name}" for module in pkgutil.iter_modules(cogs.__path__) if not module.name.startswith("_")
    )


def refuse_outside_a_server(interaction: discord.Interaction[Any]) -> None:
    """Discord hides guild-only commands in DMs, but a client with stale commands can still send one."""
    command = interaction.command
    root = command.root_parent or command if isinstance(command, app_commands.Command) else command
    if interaction.guild_id is None and root is not None and getattr(root, "guild_only", False):
        raise app_commands.NoPrivateMessage()


class CourseTree(app_commands.CommandTree["CourseBot"]):
    def _from_interaction(self, interaction: discord.Interaction[CourseBot]) -> None:
        time_interaction(interaction)
        super()._from_interaction(interaction)

    async def interaction_check(self, interaction: discord.Interaction[CourseBot]) -> bool:
        """Before any command or autocomplete runs: bound its database work, then make sure the guild and the
        user have rows (nobody pre-registers). Whatever this raises reaches the error handler (see `_call`)."""
        refuse_outside_a_server(interaction)
        check_options(interaction)
        interaction.client.limit_database_work(interaction)
        await interaction.client.remember(interaction)
        return True

    async def _call(self, interaction: discord.Interaction[CourseBot]) -> None:
        """discord.py's handling of one command or autocomplete interaction, leaving no user unanswered.

        discord.py passes only `AppCommandError`s to `on_error`: anything else raised by `interaction_check` or
        by a command's checks (a database that is down, say) would end as "Task exception was never retrieved",
        the user left without an answer. Here it reaches the one error handler too.
        """
        try:
            await super()._call(interaction)
        except app_commands.AppCommandError:
            interaction.command_failed = True
            raise  # discord.py hands these to on_error
        except Exception as error:
            interaction.command_failed = True
            if interaction.type is not discord.InteractionType.autocomplete:
                await self.on_error(interaction, error)  # type: ignore[arg-type]
                return
            # Suggestions can't carry a message: offer none, and leave the why to the log.
            log.warning("Autocomplete of %s failed: %r", (interaction.data or {}).get("name"), error)
            if not interaction.response.is_done():
                with suppress(discord.HTTPException):
                    await interaction.response.autocomplete([])
        finally:
            interaction_finished(interaction, outcome="error" if interaction.command_failed else "ok")


class CourseBot(commands.AutoShardedBot):
    """The bot. Pass `database` and `clock` to run it against a given database and time (tests, console).

    `freeze_heap` (for a process that runs one bot) takes everything alive after start-up out of the garbage
    collector's scans: modules, ORM mappers and compiled statements are a few hundred thousand objects that
    never become garbage, and walking them on each full collection held the event loop for milliseconds at a
    time under a burst of interactions.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        clock: Clock | None = None,
        freeze_heap: bool = False,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.dm_messages = True
        intents.message_content = True  # tutor threads read what the student wrote
        cluster = settings.cluster
        if cluster.one_of_several():
            backend = database.backend if database is not None else make_url(settings.database.url).get_backend_name()
            if backend == "sqlite":
                raise ConfigError(
                    f"This process runs shards {cluster.shard_ids()} of {cluster.shard_count}: the other shards run "
                    "in other processes, and SQLite is for one process. Point `database.url` at PostgreSQL "
                    "(docs/deploy.md), or run every shard in this one process (leave [cluster] unset)."
                )
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            # Course text and model output must never ping anyone.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=CourseTree,
            help_command=None,
            shard_count=cluster.shard_count,
            shard_ids=cluster.shard_ids(),
        )
        if cluster.discord_api_base_url:
            use_discord_api(cluster.discord_api_base_url)
        time_components(self)
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._database = database
        self._owns_database = database is None
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        # What this process already wrote, so a busy guild doesn't upsert the same rows on every click; bounded,
        # so a process that runs for months in many guilds doesn't grow with every member it ever saw.
        self._remembered: RecentlySeen[tuple[int | None, int, str]] = RecentlySeen(REMEMBERED_MEMBERS)
        self._known_guilds: RecentlySeen[int] = RecentlySeen(REMEMBERED_GUILDS)
        self._freeze_heap = freeze_heap
        # How each kind of outbox row is delivered: cogs register a sender in `cog_load` (bot/ never imports cogs);
        # the scheduler's `send_notifications` hands every claimed row to the sender of its kind.
        self.notification_senders: dict[NotificationKind, Callable[[Claimed], Awaitable[None]]] = {}

    @property
    def db(self) -> Database:
        if self._database is None:
            raise RuntimeError("the database is opened in setup_hook; it is not available before login")
        return self._database

    async def setup_hook(self) -> None:
        database_settings = self.settings.database
        if self._database is None:
            self._database = database_from(database_settings)
        self.db.on_connection_wait = metrics.DB_CONNECTION_WAIT.observe
        migrating = self.db.engine
        if self._owns_database and self.db.backend == "postgresql":
            # A migration may rewrite large tables: it runs without the statement timeout the bot's work has.
            migrating = create_engine(database_settings.url, connect_timeout=database_settings.connect_timeout_seconds)
        try:
            await migrate.ensure_current(migrating, auto_migrate=database_settings.auto_migrate)
        finally:
            if migrating is not self.db.engine:
                await migrating.dispose()
        for module in cog_modules():
            await self.load_extension(module)
        install_jobs(self)
        self.scheduler.start()
        for guild_id in self.settings.discord.dev_guild_ids:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        if self.settings.discord.sync_globally:
            await self.tree.sync()
        log.info("Loaded %d cogs on %s", len(self.cogs), self.db.backend)
        if self._freeze_heap:
            gc.collect()
            gc.freeze()

    def limit_database_work(self, interaction: discord.Interaction[Any]) -> None:
        """Bound the database work done for `interaction` from here on in this task (`db.session.limit_work`).

        Until the interaction is acknowledged, its work must end in time for an answer within Discord's 3 s:
        `ANSWER_WITHIN_SECONDS` after it arrived, all units of work together. Once it is acknowledged (deferred),
        Discord waits 15 minutes, and each unit of work gets `database.interaction_timeout_seconds`. Work cut off
        raises `DeadlineExceeded`, which the error handler tells the user as "the database isn't answering".
        """
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        timeout = self.settings.database.interaction_timeout_seconds

        def deadline() -> float:
            if interaction.response.is_done():
                return loop.time() + timeout
            return arrived + min(ANSWER_WITHIN_SECONDS, timeout)

        limit_work(deadline)

    async def remember(self, interaction: discord.Interaction[Any]) -> None:
        """Upsert the interaction's guild and user rows, once per process unless the name changed (or the
        member has not been seen for long enough to be forgotten, see `RecentlySeen`)."""
        key = (interaction.guild_id, interaction.user.id, interaction.user.display_name)
        if self._remembered.seen(key):
            return
        async with self.db.session_scope() as session:
            if interaction.guild is not None and not self._known_guilds.seen(interaction.guild.id):
                await tenancy.remember_guild(session, guild_id=interaction.guild.id, name=interaction.guild.name)
            await tenancy.remember_user(
                session,
                user_id=interaction.user.id,
                display_name=interaction.user.display_name,
                locale=str(interaction.locale),
                seen_at=self.clock.now(),
            )
        self._remembered.add(key)
        if interaction.guild is not None:
            self._known_guilds.add(interaction.guild.id)

    def forget_seen(self) -> None:
        """Write every row `remember` skips again, at its next interaction: an erasure or a purge deleted some."""
        self._remembered = RecentlySeen(REMEMBERED_MEMBERS)
        self._known_guilds = RecentlySeen(REMEMBERED_GUILDS)

    async def on_guild_available(self, guild: discord.Guild) -> None:
        try:
            async with self.db.session_scope() as session:
                await tenancy.remember_guild(
                    session, guild_id=guild.id, name=guild.name, locale=str(guild.preferred_locale)
                )
        except Exception as error:
            if not is_database_fault(error):
                raise
            # The guild's first interaction writes its row (`remember`), so nothing is lost by waiting.
            log.warning("Could not record guild %s: the database isn't answering (%r)", guild.id, error)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.on_guild_available(guild)

    async def close(self) -> None:
        """Stop the scheduler (letting a running job finish), close Discord, then the database it opened."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        await super().close()
        if self._owns_database and self._database is not None:
            await self._database.dispose()
