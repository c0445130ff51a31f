"""`DiscordSandbox`: drive a real discord.py bot with real gateway payloads and a fake REST API, offline.

The bot is logged in against `FakeDiscordHTTP`, receives READY and GUILD_CREATE for a default guild, and then
gets INTERACTION_CREATE and MESSAGE_CREATE dispatches exactly as the websocket would hand them to discord.py.
Option parsing, transformers, checks, view routing and modals all run in discord.py; only Discord's servers
(and the client-side checks of Discord's app, see `options.py`) are emulated.

`DiscordSandbox` stacks three layers: `world.SandboxWorld` (the guild, its members, roles and channels, what the
bot posted), on it `driver.SandboxDriver` (the acts: slash commands, autocomplete, buttons, selects, modals,
messages), and on that this harness, which logs the bot in, feeds it dispatches, waits for its handlers and turns
what they did into a `Reply`.

Waiting is event-driven: each dispatch collects the tasks discord.py starts for it (command invoker, view and
modal callbacks, event listeners) and waits for them, waking on every REST call. The one time-based rule: once an
interaction is answered, a handler that stays silent for `settle` seconds is taken to be waiting for the user
(e.g. `await view.wait()`), and the reply is returned without it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import discord
from discord import app_commands
from discord.state import AutoShardedConnectionState

from sandbox import payloads
from sandbox.driver import Act, SandboxDriver
from sandbox.errors import NoResponse, SandboxError, SandboxTimeout
from sandbox.gateway import delivered_with
from sandbox.http import FakeDiscordHTTP, RecordedCall
from sandbox.messages import PostedMessage
from sandbox.reply import Reply
from sandbox.store import InteractionRecord
from sandbox.world import (
    DEFAULT_GUILD_ID,
    GENERAL_CHANNEL_ID,
    INSTRUCTOR_ROLE_ID,
    OWNER_ID,
    STUDENT_ID,
    add_default_guild,
)

# The entry point's names: the sandbox, and the default world a test refers to by id.
__all__ = [
    "DEFAULT_GUILD_ID",
    "GENERAL_CHANNEL_ID",
    "INSTRUCTOR_ROLE_ID",
    "OWNER_ID",
    "STUDENT_ID",
    "DiscordSandbox",
    "add_default_guild",
]

Json = dict[str, Any]

BOT_TOKEN = "sandbox-bot-token"

_ANSWERS = {4, 7, 8, 9, 12}


class _ErrorCollector(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        # The same record reaches both the "discord" and the root logger when it propagates.
        if not any(r is record for r in self.sink):
            self.sink.append(record)


def format_records(records: Iterable[logging.LogRecord]) -> str:
    """Log records as "logger: message" plus traceback, for assertion messages."""
    formatter = logging.Formatter("%(name)s: %(message)s")
    return "\n".join(formatter.format(r) for r in records)


@dataclass(slots=True)
class _Delivery:
    """An interaction handed to the bot, not yet turned into a Reply."""

    record: InteractionRecord
    tasks: set[asyncio.Task[Any]]
    label: str
    user_id: int
    source_message_id: int | None
    start: int  # index of the first REST call made after delivery
    errors_start: int
    answered: Callable[[], bool]


class DiscordSandbox(SandboxDriver):
    """An offline Discord around one bot instance. `await start()` before use; `await close()` after.

    The default world: guild `DEFAULT_GUILD_ID` owned by `owner`, with an `instructor` (holding
    `instructor_role`), a `student`, the bot (with a managed role above Instructor) and the text `channel`.
    Pass the `http` of a closed sandbox to a new one to keep its world and messages (a simulated restart).
    """

    def __init__(
        self,
        bot: discord.Client,
        *,
        http: FakeDiscordHTTP | None = None,
        timeout: float = 5.0,
        settle: float = 0.2,
        guild_ready_timeout: float = 0.05,
    ) -> None:
        super().__init__(bot, http or FakeDiscordHTTP())
        self.timeout = timeout
        self.settle = settle
        self.guild_ready_timeout = guild_ready_timeout
        self.errors: list[logging.LogRecord] = []
        self._collector = _ErrorCollector(self.errors)
        self._handler_tasks: set[asyncio.Task[Any]] = set()
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def start(self) -> Self:
        """Install the fake HTTP, log in (running `setup_hook`), deliver READY and GUILD_CREATE, await on_ready."""
        for logger in (logging.getLogger(), logging.getLogger("discord")):
            logger.addHandler(self._collector)
        self.http.event_sink = self._on_gateway_event
        self.http.start()
        self._started = True
        try:
            state = self.bot._connection
            state.guild_ready_timeout = min(state.guild_ready_timeout, self.guild_ready_timeout)
            sharded = isinstance(self.bot, discord.AutoShardedClient)
            if sharded and isinstance(state, AutoShardedConnectionState):
                # Normally set by launch_shards(); the sandbox delivers everything on one shard.
                self.bot.shard_count = state.shard_count = 1
                state.shard_ids = [0]
            await self.bot.login(BOT_TOKEN)
            # Offline, time is the bot's injected clock: jobs run when a test or the console moves it
            # (`bot.scheduler.run_due_jobs`), never on the wall clock in the middle of a test or at its teardown.
            if (scheduler := getattr(self.bot, "scheduler", None)) is not None and scheduler.running:
                scheduler.pause()
            before = asyncio.all_tasks()
            ready = payloads.ready(
                self.http.bot_user,
                guild_ids=list(self.http.guilds),
                session_id="sandbox-session",
                resume_gateway_url=self.http.gateway_url,
                shard=(0, 1) if sharded else None,
                application_id=self.http.application_id,
            )
            self._feed("READY", ready)
            for guild in self.http.guilds.values():
                self._feed("GUILD_CREATE", copy.deepcopy(guild))
            try:
                await asyncio.wait_for(self.bot.wait_until_ready(), self.timeout)
            except TimeoutError:
                raise SandboxTimeout(f"the bot did not become ready within {self.timeout} s") from None
            listeners = {t for t in asyncio.all_tasks() - before if t.get_name().startswith("discord.py: ")}
            await self._settle(listeners, label="startup (on_ready and guild events)")
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        """Close the bot, cancel handlers still waiting (e.g. on a view), restore discord.py. Safe to call twice."""
        try:
            if not self.bot.is_closed():
                await self.bot.close()
            pending = [t for t in self._handler_tasks if not t.done()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            self.http.stop()
            self.http.event_sink = None
            for logger in (logging.getLogger(), logging.getLogger("discord")):
                logger.removeHandler(self._collector)
            self._started = False

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- errors -----------------------------------------------------------------------------------------------

    def format_errors(self) -> str:
        return format_records(self.errors)

    def assert_no_errors(self) -> None:
        """Fail with every captured ERROR record (tracebacks included) if there were any."""
        if self.errors:
            raise AssertionError(f"the bot logged {len(self.errors)} error(s):\n{self.format_errors()}")

    # -- gateway feeding and waiting --------------------------------------------------------------------------

    def _feed(self, event: str, payload: Json) -> set[asyncio.Task[Any]]:
        """Hand one dispatch to discord.py's parser; returns the tasks it started to handle it."""
        # Collected by a task factory rather than by diffing asyncio.all_tasks(), which costs O(tasks alive)
        # per event and made a burst of N concurrent interactions O(N²).
        loop = asyncio.get_running_loop()
        previous = loop.get_task_factory()
        started: set[asyncio.Task[Any]] = set()

        def record_task(loop: asyncio.AbstractEventLoop, coro: Any, **options: Any) -> asyncio.Task[Any]:
            task = previous(loop, coro, **options) if previous else asyncio.Task(coro, loop=loop, **options)
            started.add(task)
            return task

        loop.set_task_factory(record_task)
        try:
            self.bot._connection.parsers[event](payload)
        finally:
            loop.set_task_factory(previous)
        return started

    def _on_gateway_event(self, event: str, data: Json) -> None:
        # A REST change makes Discord send a gateway event; like the websocket, deliver it on a later loop turn.
        if not self._started or not delivered_with(self.bot.intents, event, data):
            return
        asyncio.get_running_loop().call_soon(self._feed_later, event, data)

    def _feed_later(self, event: str, data: Json) -> None:
        if self._started and not self.bot.is_closed():
            self._handler_tasks |= self._feed(event, data)

    async def dispatch(self, event: str, payload: Json) -> list[RecordedCall]:
        """Deliver any gateway dispatch (e.g. "GUILD_MEMBER_ADD") and wait for its handlers; returns their calls.

        Dispatches the bot's intents exclude are dropped, as Discord would not send them.
        """
        self._require_started()
        if not delivered_with(self.bot.intents, event, payload):
            return []
        start = len(self.http.calls)
        tasks = self._feed(event, payload)
        await self._settle(tasks, label=event)
        return self.http.calls[start:]

    async def finish_handlers(self) -> bool:
        """Wait until every handler the bot is still running has finished (an answered command that goes on working,
        like an import that indexes for the tutor afterwards); False if some still run after the sandbox's timeout
        (they may be waiting for the user)."""
        pending = {t for t in self._handler_tasks if not t.done()}
        if pending:
            await asyncio.wait(pending, timeout=self.timeout)
        return all(t.done() for t in pending)

    async def _settle(
        self,
        handlers: set[asyncio.Task[Any]],
        *,
        label: str,
        answered: Callable[[], bool] | None = None,
    ) -> None:
        """Wait for `handlers`, then for earlier handlers this event may have resumed; see the module docstring."""
        loop = asyncio.get_running_loop()
        timeout = self.timeout
        deadline = loop.time() + timeout
        lingering = {t for t in self._handler_tasks if not t.done()}
        self._handler_tasks = lingering | handlers
        pending = {t for t in handlers if not t.done()}
        while pending and (remaining := deadline - loop.time()) > 0:
            is_answered = answered is not None and answered()
            done = await self._wait_any(pending, min(remaining, self.settle) if is_answered else remaining)
            pending = {t for t in pending if not t.done()}
            if not done and is_answered:
                break  # answered and then silent: the handler waits for the user
        if pending and not (answered is not None and answered()):
            stuck = ", ".join(sorted(t.get_name() for t in pending))
            raise SandboxTimeout(f"{label}: handlers still running after {timeout} s ({stuck})\n{self.format_errors()}")
        # Handlers of earlier events (a command awaiting view.wait(), a wait_for) may resume because of this one.
        lingering = {t for t in lingering if not t.done()}
        while lingering and (remaining := deadline - loop.time()) > 0:
            if not await self._wait_any(lingering, min(remaining, self.settle)):
                break
            lingering = {t for t in lingering if not t.done()}

    async def _wait_any(self, tasks: set[asyncio.Task[Any]], window: float) -> bool:
        """Wait until a task finishes or a REST call happens; False if neither did within `window` seconds."""
        activity = self.http.activity()
        done, _ = await asyncio.wait({*tasks, activity}, timeout=window, return_when=asyncio.FIRST_COMPLETED)
        activity.cancel()
        return bool(done)

    def _require_started(self) -> None:
        if not self._started:
            raise SandboxError("the sandbox is not started; await sandbox.start() (or use `async with`)")

    # -- interactions -----------------------------------------------------------------------------------------

    async def _interact(
        self,
        payload: Json,
        *,
        label: str,
        user_id: int,
        source_message_id: int | None = None,
    ) -> Reply:
        self._require_started()
        delivery = self._deliver(Act(payload, label, user_id, source_message_id))
        try:
            await self._settle(delivery.tasks, label=label, answered=delivery.answered)
        except SandboxTimeout:
            raise SandboxTimeout(f"{label} got no response within {self.timeout} s\n{self.format_errors()}") from None
        return self._collect(delivery)

    async def _interact_together(self, acts: Sequence[Act]) -> list[Reply]:
        """Deliver every interaction before handling any, wait for all their handlers, return the Replies in order.

        Each Reply's `calls` include what the others did meanwhile; `posted` leaves out the others' messages.
        """
        deliveries = [self._deliver(act) for act in acts]
        handlers = {task for delivery in deliveries for task in delivery.tasks}
        self._handler_tasks = {t for t in self._handler_tasks if not t.done()} | handlers
        if handlers:
            _, pending = await asyncio.wait(handlers, timeout=self.timeout)
            if pending:
                stuck = f"{len(pending)} of {len(deliveries)} presses"
                raise SandboxTimeout(f"{stuck} still running after {self.timeout} s\n{self.format_errors()}")
        tokens = {delivery.record.token for delivery in deliveries}
        burst_messages = frozenset(
            call.message_id
            for call in self.http.calls[deliveries[0].start if deliveries else len(self.http.calls) :]
            if call.message_id is not None and not tokens.isdisjoint(call.path.split("/"))
        )
        return [self._collect(delivery, others=burst_messages) for delivery in deliveries]

    def _deliver(self, act: Act) -> _Delivery:
        record = self.http.register_interaction(act.payload)
        start, errors_start = len(self.http.calls), len(self.errors)
        tasks = self._feed("INTERACTION_CREATE", act.payload)
        answered = self._answered_check(record, start)
        return _Delivery(record, tasks, act.label, act.user_id, act.source_message_id, start, errors_start, answered)

    def _collect(self, delivery: _Delivery, *, others: frozenset[int] = frozenset()) -> Reply:
        """The Reply of a delivered interaction, or NoResponse if its handlers finished without answering.

        `others` are messages of interactions delivered together with this one: they are neither its own nor posted.
        """
        record, tasks, label = delivery.record, delivery.tasks, delivery.label
        if not delivery.answered():
            errors = format_records(self.errors[delivery.errors_start :]) or "no errors were logged"
            hint = "" if tasks else " (nothing handled it: no matching command, view or DynamicItem is registered)"
            raise NoResponse(f"{label} finished without responding{hint}; {errors}")
        calls = self.http.calls[delivery.start :]
        touched = list(dict.fromkeys(c.message_id for c in calls if c.message_id is not None))
        # The interaction's own messages go through its token; an edit of the clicked message counts too.
        own = {c.message_id for c in calls if record.token in c.path} | {delivery.source_message_id}
        return Reply(
            label=label,
            messages=self._snapshots(i for i in touched if i in own),
            posted=self._snapshots(i for i in touched if i not in own and i not in others),
            calls=tuple(calls),
            response_type=record.response_type,
            modal=copy.deepcopy(record.modal),
            choices=tuple(app_commands.Choice(name=c["name"], value=c["value"]) for c in record.choices or []),
            interaction_id=record.id,
            user_id=delivery.user_id,
            source_message_id=delivery.source_message_id,
            acknowledged_after=None if record.responded_at is None else record.responded_at - record.received_at,
            errors=tuple(self.errors[delivery.errors_start :]),
        )

    def _snapshots(self, message_ids: Iterable[int]) -> tuple[PostedMessage, ...]:
        return tuple(self.http.messages[i].snapshot() for i in message_ids if not self.http.messages[i].deleted)

    def _answered_check(self, record: InteractionRecord, start: int) -> Callable[[], bool]:
        def answered() -> bool:
            if record.response_type in _ANSWERS:
                return True
            if record.response_type == 5:
                return not record.awaiting_first_followup
            if record.response_type == 6:
                return any(c.message_id is not None for c in self.http.calls[start:] if "/callback" not in c.path)
            return False

        return answered

    # -- user messages ----------------------------------------------------------------------------------------

    async def _deliver_message(self, payload: Json, *, label: str, wait_for_messages: int) -> list[PostedMessage]:
        """Deliver a MESSAGE_CREATE (dropped if the bot's intents exclude it) and wait for its handlers, then for
        `wait_for_messages` bot messages; returns the bot's messages created meanwhile."""
        if not delivered_with(self.bot.intents, "MESSAGE_CREATE", payload):
            return []
        start = len(self.http.calls)
        timeout = self.timeout
        tasks = self._feed("MESSAGE_CREATE", payload)
        await self._settle(tasks, label=label)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(created := self._created_since(start)) < wait_for_messages:
            if (remaining := deadline - loop.time()) <= 0:
                raise SandboxTimeout(
                    f"{label}: expected {wait_for_messages} bot message(s), got {len(created)}"
                    f" within {timeout} s\n{self.format_errors()}"
                )
            await self._wait_any(set(), remaining)
        return created

    def _created_since(self, start: int) -> list[PostedMessage]:
        ids = dict.fromkeys(
            c.message_id for c in self.http.calls[start:] if c.message_id is not None and c.method == "POST"
        )
        return [self.http.messages[i].snapshot() for i in ids if not self.http.messages[i].deleted]
