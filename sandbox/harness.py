"""`DiscordSandbox`: drive a real discord.py bot with real gateway payloads and a fake REST API, offline.

The bot is logged in against `FakeDiscordHTTP`, receives READY and GUILD_CREATE for a default guild, and then
gets INTERACTION_CREATE and MESSAGE_CREATE dispatches exactly as the websocket would hand them to discord.py.
Option parsing, transformers, checks, view routing and modals all run in discord.py; only Discord's servers
(and the client-side checks of Discord's app, see `options.py`) are emulated.

Waiting is event-driven: each dispatch collects the tasks discord.py starts for it (command invoker, view and
modal callbacks, event listeners) and waits for them, waking on every REST call. The one time-based rule: once an
interaction is answered, a handler that stays silent for `settle` seconds is taken to be waiting for the user
(e.g. `await view.wait()`), and the reply is returned without it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import discord
from discord import app_commands
from discord.state import AutoShardedConnectionState

from sandbox import payloads
from sandbox.errors import CommandHidden, NoResponse, OptionRejected, SandboxError, SandboxTimeout
from sandbox.gateway import delivered_with
from sandbox.http import FakeDiscordHTTP, InteractionRecord, RecordedCall
from sandbox.messages import ComponentInfo, PostedMessage, RecordedFile
from sandbox.options import OptionBuilder

Json = dict[str, Any]
UserLike = Mapping[str, Any] | int | str | discord.abc.Snowflake
ChannelLike = Mapping[str, Any] | int | str | discord.abc.Snowflake

DEFAULT_GUILD_ID = 1_080_000_000_000_000_100
INSTRUCTOR_ROLE_ID = 1_080_000_000_000_000_201
BOT_ROLE_ID = 1_080_000_000_000_000_202
GENERAL_CHANNEL_ID = 1_080_000_000_000_000_300
OWNER_ID = 1_080_000_000_000_000_401
INSTRUCTOR_ID = 1_080_000_000_000_000_402
STUDENT_ID = 1_080_000_000_000_000_403
BOT_TOKEN = "sandbox-bot-token"

_ANSWERS = {4, 7, 8, 9, 12}
DM_CHANNEL = 1
_SELECT_TYPES = {3, 5, 6, 7, 8}


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot showed in answer to one interaction, frozen at the moment it was returned.

    `messages` are the interaction's own messages (its response, followups, the clicked message when edited) in
    order of first touch, the response first; `posted` are other messages the bot created or edited meanwhile
    (channel posts, DMs). `calls` are every REST call made meanwhile; `errors` the ERROR log records.
    """

    label: str
    messages: tuple[PostedMessage, ...] = ()
    posted: tuple[PostedMessage, ...] = ()
    calls: tuple[RecordedCall, ...] = ()
    response_type: int | None = None
    modal: Json | None = None
    choices: tuple[app_commands.Choice[Any], ...] = ()
    interaction_id: int | None = None
    user_id: int | None = None
    source_message_id: int | None = None
    acknowledged_after: float | None = None  # seconds from delivery to the interaction callback; None if none
    errors: tuple[logging.LogRecord, ...] = field(default=(), repr=False)

    @property
    def message(self) -> PostedMessage | None:
        """The response message (None for modals, autocomplete and silent acknowledgements)."""
        return self.messages[0] if self.messages else None

    @property
    def message_id(self) -> int | None:
        return self.message.id if self.message else None

    @property
    def text(self) -> str:
        """Content, embed titles/descriptions/fields/footers and text displays of every message, as plain text."""
        return "\n".join(m.text for m in self.messages if m.text)

    @property
    def embeds(self) -> list[Json]:
        return [e for m in self.messages for e in m.embeds]

    @property
    def components(self) -> list[ComponentInfo]:
        return [c for m in self.messages for c in m.components]

    @property
    def ephemeral(self) -> bool:
        """Whether the response is visible only to the user who triggered it."""
        return self.message.ephemeral if self.message else False

    @property
    def deferred(self) -> bool:
        return self.response_type in (5, 6)

    @property
    def files(self) -> list[RecordedFile]:
        return [f for m in self.messages for f in m.files]

    def render(self) -> str:
        """A terminal-friendly rendering, as the console shows it."""
        parts = [m.render() for m in self.messages]
        if self.modal:
            names = ", ".join(label or custom_id for label, custom_id, _ in _modal_inputs(self.modal))
            parts.append(f"(modal) {self.modal.get('title', '')}: {names}")
        if self.choices:
            parts.append("(choices) " + ", ".join(f"{c.name}={c.value!r}" for c in self.choices))
        return "\n\n".join(parts) or "(no visible response)"


def _modal_inputs(modal: Json) -> list[tuple[str | None, str, Json]]:
    """(label, custom_id, component) of every input in a modal, looking through rows and labels."""
    found: list[tuple[str | None, str, Json]] = []

    def walk(component: Json, label: str | None) -> None:
        if component["type"] == 1:
            for child in component.get("components", []):
                walk(child, label)
        elif component["type"] == 18:
            walk(component["component"], component.get("label"))
        elif "custom_id" in component:
            found.append((label or component.get("label"), component["custom_id"], component))

    for component in modal.get("components", []):
        walk(component, None)
    return found


@dataclass(frozen=True, slots=True)
class _Command:
    leaf: app_commands.Command[Any, ..., Any]
    schema: list[Json]  # the leaf's options as Discord holds them after sync
    is_guild: bool
    command_id: int
    required_permissions: int

    @property
    def label(self) -> str:
        return f"/{self.leaf.qualified_name}"


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


def add_default_guild(http: FakeDiscordHTTP) -> Json:
    """Add the default guild (see `DiscordSandbox`) to `http` and return its GUILD_CREATE payload."""
    everyone = payloads.everyone_role(DEFAULT_GUILD_ID)
    instructor_role = payloads.role(
        "Instructor",
        id=INSTRUCTOR_ROLE_ID,
        permissions=payloads.INSTRUCTOR_PERMISSIONS,
        position=1,
        color=0x3498DB,
        hoist=True,
        mentionable=True,
    )
    bot_role = payloads.role(
        http.bot_user["username"],
        id=BOT_ROLE_ID,
        permissions=payloads.BOT_PERMISSIONS,
        position=2,
        bot_id=int(http.bot_user["id"]),
    )
    members = [
        payloads.member(payloads.user("olivia", id=OWNER_ID, global_name="Olivia (owner)")),
        payloads.member(payloads.user("ines", id=INSTRUCTOR_ID, global_name="Ines"), roles=[instructor_role]),
        payloads.member(payloads.user("sam", id=STUDENT_ID, global_name="Sam")),
        payloads.member(http.bot_user, roles=[bot_role]),
    ]
    general = payloads.text_channel("general", guild_id=DEFAULT_GUILD_ID, id=GENERAL_CHANNEL_ID)
    guild = payloads.guild(
        "Coursebot Sandbox",
        id=DEFAULT_GUILD_ID,
        owner_id=OWNER_ID,
        roles=[everyone, instructor_role, bot_role],
        channels=[general],
        members=members,
    )
    http.add_guild(guild)
    return guild


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


class DiscordSandbox:
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
        self.bot = bot
        self.http = http or FakeDiscordHTTP()
        self.timeout = timeout
        self.settle = settle
        self.guild_ready_timeout = guild_ready_timeout
        self.errors: list[logging.LogRecord] = []
        self._collector = _ErrorCollector(self.errors)
        self._handler_tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._command_ids: dict[str, int] = {}
        if str(DEFAULT_GUILD_ID) not in self.http.guilds:
            add_default_guild(self.http)
        self.guild: Json = self.http.guilds[str(DEFAULT_GUILD_ID)]

    # -- world ------------------------------------------------------------------------------------------------

    @property
    def owner(self) -> Json:
        return self._member(OWNER_ID)

    @property
    def instructor(self) -> Json:
        return self._member(INSTRUCTOR_ID)

    @property
    def student(self) -> Json:
        return self._member(STUDENT_ID)

    @property
    def instructor_role(self) -> Json:
        return next(r for r in self.guild["roles"] if r["id"] == str(INSTRUCTOR_ROLE_ID))

    @property
    def channel(self) -> Json:
        return self.http.channels[str(GENERAL_CHANNEL_ID)]

    def _member(self, user: UserLike) -> Json:
        found = OptionBuilder(self.http, self.guild, self.channel).member_or_user(user)
        if "user" not in found:
            raise SandboxError(f"user {found['id']} is not a member of the sandbox guild")
        return found

    def _channel(self, channel: ChannelLike | None) -> Json:
        if channel is None:
            return self.channel
        return OptionBuilder(self.http, self.guild, self.channel).channel_payload(channel)

    async def add_member(self, username: str, *, roles: Sequence[Json | int] = (), nick: str | None = None) -> Json:
        """A new guild member (GUILD_MEMBER_ADD is dispatched when the bot has the members intent)."""
        member = payloads.member(payloads.user(username, global_name=username.title()), roles=roles, nick=nick)
        self.http.add_member(self.guild["id"], member)
        await self.dispatch("GUILD_MEMBER_ADD", {**member, "guild_id": self.guild["id"]})
        return member

    async def add_role(
        self,
        name: str,
        *,
        permissions: int = payloads.EVERYONE_PERMISSIONS,
        managed: bool = False,
        position: int = 1,
    ) -> Json:
        """A new role in the sandbox guild (GUILD_ROLE_CREATE is dispatched). `managed` makes it an integration's
        role. At a position another role holds, the newer role sorts below it, as in discord.py's ordering."""
        role = payloads.role(name, permissions=permissions, position=position)
        if managed:
            role.update(managed=True, tags={"integration_id": str(payloads.snowflake())})
        self.guild["roles"].append(role)
        await self.dispatch("GUILD_ROLE_CREATE", {"guild_id": self.guild["id"], "role": role})
        return role

    async def add_thread(
        self, name: str, *, parent: ChannelLike | None = None, owner: UserLike | None = None, private: bool = False
    ) -> Json:
        """A thread created by a user (THREAD_CREATE is dispatched)."""
        owner_id = self._member(owner or STUDENT_ID)["user"]["id"]
        thread = payloads.thread(name, parent=self._channel(parent), owner_id=owner_id, private=private)
        self.http.add_channel(thread)
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    def attachment(self, filename: str, data: bytes, *, content_type: str | None = None) -> Json:
        """An attachment payload for an attachment option or a message; `Attachment.read()` returns `data`."""
        payload = payloads.attachment(filename, size=len(data), content_type=content_type)
        self.http.cdn[payload["url"]] = data
        return payload

    def messages_in(self, channel: ChannelLike) -> list[PostedMessage]:
        """Snapshots of the bot's live (not deleted) messages in a channel or thread, oldest first."""
        return [m.snapshot() for m in self.http.messages_in(self._channel_id(channel))]

    def dms_to(self, user: UserLike) -> list[PostedMessage]:
        """Snapshots of the direct messages the bot sent a user, oldest first."""
        channel_id = self.http.dm_channel_id(self._member(user)["user"]["id"])
        return [m.snapshot() for m in self.http.messages_in(channel_id)] if channel_id else []

    def _channel_id(self, channel: ChannelLike) -> int:
        if isinstance(channel, Mapping):
            return int(channel["id"])
        return int(channel.id if isinstance(channel, discord.abc.Snowflake) else channel)

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
        delivery = self._deliver(payload, label=label, user_id=user_id, source_message_id=source_message_id)
        try:
            await self._settle(delivery.tasks, label=label, answered=delivery.answered)
        except SandboxTimeout:
            raise SandboxTimeout(f"{label} got no response within {self.timeout} s\n{self.format_errors()}") from None
        return self._collect(delivery)

    def _deliver(self, payload: Json, *, label: str, user_id: int, source_message_id: int | None) -> _Delivery:
        record = self.http.register_interaction(payload)
        start, errors_start = len(self.http.calls), len(self.errors)
        tasks = self._feed("INTERACTION_CREATE", payload)
        return _Delivery(
            record, tasks, label, user_id, source_message_id, start, errors_start, self._answered_check(record, start)
        )

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

    def _find_command(self, qualified: str) -> _Command:
        tree = getattr(self.bot, "tree", None)
        if not isinstance(tree, app_commands.CommandTree):
            raise SandboxError(f"{type(self.bot).__name__} has no app command tree (a commands.Bot has one)")
        parts = qualified.strip().lstrip("/").split()
        guild = discord.Object(DEFAULT_GUILD_ID)
        root = tree.get_command(parts[0], guild=guild) if parts else None
        is_guild = root is not None
        if parts and root is None:
            root = tree.get_command(parts[0])
        node: Any = root
        for name in parts[1:]:
            node = node.get_command(name) if isinstance(node, app_commands.Group) else None
        if node is None or isinstance(node, app_commands.Group):
            known = sorted(
                c.qualified_name
                for scope in (guild, None)
                for c in tree.walk_commands(guild=scope)
                if not isinstance(c, app_commands.Group)
            )
            raise SandboxError(f"no slash command /{' '.join(parts)}; the tree has {known}")
        assert root is not None
        schema: Json = root.to_dict(tree)
        required = int(schema.get("default_member_permissions") or 0)
        for name in parts[1:]:
            schema = next(o for o in schema["options"] if o["name"] == name)
        guild_id = self.guild["id"] if is_guild else None
        command_id = self.http.command_id(root.name, guild_id=guild_id) or self._command_ids.setdefault(
            root.name, payloads.snowflake()
        )
        return _Command(node, schema.get("options", []), is_guild, command_id, required)

    def _check_visible(self, command: _Command, member: Json, channel: Json, permissions: int | None = None) -> None:
        # Discord hides a command from members lacking its default_member_permissions; discord.py never sees it.
        held = payloads.member_permissions(self.guild, member, channel) if permissions is None else permissions
        if held & discord.Permissions(administrator=True).value:
            return
        if held & command.required_permissions != command.required_permissions:
            missing = [n for n, v in discord.Permissions(command.required_permissions & ~held) if v]
            raise CommandHidden(
                f"{command.label} is hidden from {member['user']['username']}: it needs the permissions {missing}"
            )

    async def slash(
        self,
        command: str,
        /,
        *,
        user: UserLike | None = None,
        channel: ChannelLike | None = None,
        options: Mapping[str, Any] | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
        validate: bool = True,
        **kwargs: Any,
    ) -> Reply:
        """Run a slash command by qualified name ("teach course publish") and return what the bot answered.

        Options are keyword arguments by Python parameter or Discord option name (use `options={...}` for names
        that clash with these keywords). Users, channels and roles may be payloads, ids or discord objects;
        attachments come from `attachment()`. `user` defaults to the student; `permissions` overrides the member
        permissions Discord would compute. `validate=False` sends what Discord's client would refuse.
        Raises OptionRejected, NoResponse or SandboxTimeout.
        """
        member = self._member(user if user is not None else STUDENT_ID)
        where = self._channel(channel)
        found = self._find_command(command)
        if validate:
            self._check_visible(found, member, where, permissions)
        built = OptionBuilder(self.http, self.guild, where).build(
            found.label, found.schema, found.leaf.parameters, {**(options or {}), **kwargs}, validate=validate
        )
        payload = payloads.slash_interaction(
            found.leaf.qualified_name,
            built.options,
            user=member,
            guild=self.guild,
            channel=where,
            command_id=found.command_id,
            resolved=built.resolved,
            guild_command=found.is_guild,
            permissions=permissions,
            locale=locale,
            application_id=self.http.application_id,
        )
        return await self._interact(payload, label=found.label, user_id=int(member["user"]["id"]))

    async def autocomplete(
        self,
        command: str,
        option: str,
        value: str,
        /,
        *,
        user: UserLike | None = None,
        channel: ChannelLike | None = None,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[app_commands.Choice[Any]]:
        """The choices the bot suggests while `user` types `value` into `option` (other options as for slash)."""
        member = self._member(user if user is not None else STUDENT_ID)
        where = self._channel(channel)
        found = self._find_command(command)
        self._check_visible(found, member, where)
        focused = {p.name: p.display_name for p in found.leaf.parameters}.get(option, option)
        built = OptionBuilder(self.http, self.guild, where).build(
            found.label,
            found.schema,
            found.leaf.parameters,
            {**(options or {}), **kwargs, focused: value},
            validate=True,
            focused=focused,
        )
        payload = payloads.autocomplete_interaction(
            found.leaf.qualified_name,
            built.options,
            focused=focused,
            user=member,
            guild=self.guild,
            channel=where,
            command_id=found.command_id,
            guild_command=found.is_guild,
            application_id=self.http.application_id,
        )
        label = f"autocomplete of {found.label} {focused}"
        reply = await self._interact(payload, label=label, user_id=int(member["user"]["id"]))
        return list(reply.choices)

    # -- components and modals --------------------------------------------------------------------------------

    def _locate(self, source: Reply | PostedMessage, target: str) -> tuple[PostedMessage, ComponentInfo]:
        messages = [*source.messages, *source.posted] if isinstance(source, Reply) else [source]
        for message in reversed(messages):
            live = self.http.messages.get(message.id)
            if live is None:
                live = self.http.remember_message(message.raw)
            if live.deleted:
                continue
            for component in live.components:
                if component.matches(target):
                    return live, component
        available = [c.label or c.placeholder or c.custom_id for m in messages for c in m.components]
        raise SandboxError(
            f"no component {target!r} on {source.label if isinstance(source, Reply) else 'the message'}"
            f"; it has {available}"
        )

    def _component_user(self, message: PostedMessage, user: UserLike | None, default: int | None) -> Json:
        member = self._member(user if user is not None else (default or STUDENT_ID))
        owner = (message.raw.get("interaction_metadata") or {}).get("user", {}).get("id")
        if message.ephemeral and owner and owner != member["user"]["id"]:
            raise SandboxError(f"only user {owner} can see this ephemeral message, not {member['user']['username']}")
        return member

    async def click(
        self,
        reply: Reply | PostedMessage,
        target: str,
        /,
        *,
        user: UserLike | None = None,
        forged_custom_id: str | None = None,
    ) -> Reply:
        """Press the button labelled (or with custom_id) `target` on the reply's messages; returns the bot's answer.

        The interaction carries the message as Discord stores it now, so persistent views and DynamicItems route
        even in a bot that never saw the message. `user` defaults to the user the reply answered.
        `forged_custom_id` sends that custom_id instead of the button's, as a tampered client would (the button
        in the carried message gets it too, or discord.py would route nothing).
        """
        payload, member, message = self._press(reply, target, user, forged_custom_id)
        return await self._interact(
            payload,
            label=f"button {target!r}",
            user_id=int(member["user"]["id"]),
            source_message_id=message.id,
        )

    async def click_many(self, presses: Sequence[tuple[Reply | PostedMessage, str, UserLike | None]]) -> list[Reply]:
        """Deliver every press at once, as a burst reaching the bot together, and wait until all are handled.

        Each press is `(reply, target, user)` as for `click`; the replies come back in the same order. Their
        `calls` include what the other presses did meanwhile; `posted` leaves out the other presses' messages.
        Every handler must finish.
        """
        self._require_started()
        # Built first, delivered after: like Discord, which has the payloads ready when it sends them.
        built = [(target, *self._press(reply, target, user)) for reply, target, user in presses]
        deliveries = [
            self._deliver(
                payload,
                label=f"button {target!r} of {member['user']['username']}",
                user_id=int(member["user"]["id"]),
                source_message_id=message.id,
            )
            for target, payload, member, message in built
        ]
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

    def _press(
        self, reply: Reply | PostedMessage, target: str, user: UserLike | None, forged_custom_id: str | None = None
    ) -> tuple[Json, Json, PostedMessage]:
        message, component = self._locate(reply, target)
        if component.kind != "button":
            raise SandboxError(f"{target!r} is a {component.kind}, not a button")
        if component.disabled:
            raise SandboxError(f"button {target!r} is disabled; Discord would not let anyone press it")
        member = self._component_user(message, user, reply.user_id if isinstance(reply, Reply) else None)
        raw = copy.deepcopy(message.raw)
        if forged_custom_id is not None:
            pressed = next(c for c in _components_of(raw) if c.get("custom_id") == component.custom_id)
            pressed["custom_id"] = forged_custom_id
        where = self._channel(message.channel_id)
        payload = payloads.component_interaction(
            forged_custom_id if forged_custom_id is not None else component.custom_id or "",
            raw,
            user=member,
            guild=None if where.get("type") == DM_CHANNEL else self.guild,  # a press in a DM comes without a guild
            channel=where,
            application_id=self.http.application_id,
        )
        return payload, member, message

    async def select(
        self,
        reply: Reply | PostedMessage,
        target: str,
        values: Sequence[Any],
        /,
        *,
        user: UserLike | None = None,
    ) -> Reply:
        """Choose `values` in the select found by custom_id or placeholder; option labels work for string selects.

        For user, role, channel and mentionable selects pass payloads or ids; they are sent with `resolved` data.
        """
        message, component = self._locate(reply, target)
        if component.type not in _SELECT_TYPES:
            raise SandboxError(f"{target!r} is a {component.kind}, not a select")
        if component.disabled:
            raise SandboxError(f"select {target!r} is disabled")
        member = self._component_user(message, user, reply.user_id if isinstance(reply, Reply) else None)
        where = self._channel(message.channel_id)
        builder = OptionBuilder(self.http, self.guild, where)
        resolved: Json = {}
        if component.type == 3:
            by_label = {o["label"]: o["value"] for o in component.options}
            sent = [by_label.get(v, v) for v in map(str, values)]
            allowed = {o["value"] for o in component.options}
            if unknown := [v for v in sent if v not in allowed]:
                raise OptionRejected(f"select {target!r} has no options {unknown}; it has {sorted(allowed)}")
        else:
            role_ids = {r["id"] for r in self.guild["roles"]}
            sent = []
            for value in values:
                kind = component.type
                if kind == 7:  # mentionable: a role when the id is one, else a user
                    kind = (
                        6
                        if str(getattr(value, "id", value)) in role_ids
                        or (isinstance(value, Mapping) and value.get("id") in role_ids)
                        else 5
                    )
                add = {5: builder.add_user, 6: builder.add_role, 8: builder.add_channel}[kind]
                sent.append(add(resolved, value))
        raw = next(c for c in _components_of(message.raw) if c.get("custom_id") == component.custom_id)
        low, high = raw.get("min_values", 1), raw.get("max_values", 1)
        if not low <= len(sent) <= high:
            raise OptionRejected(f"select {target!r} takes {low}..{high} values, got {len(sent)}")
        payload = payloads.component_interaction(
            component.custom_id or "",
            copy.deepcopy(message.raw),
            user=member,
            guild=self.guild,
            channel=where,
            component_type=component.type,
            values=sent,
            resolved=resolved,
            application_id=self.http.application_id,
        )
        return await self._interact(
            payload,
            label=f"select {target!r}",
            user_id=int(member["user"]["id"]),
            source_message_id=message.id,
        )

    async def submit_modal(
        self,
        reply: Reply,
        fields: Mapping[str, Any],
        /,
        *,
        user: UserLike | None = None,
    ) -> Reply:
        """Fill the modal the bot opened in `reply` (keys: custom_id or label) and submit it.

        Text inputs take strings, selects lists. Unfilled inputs keep their pre-filled value; a required one
        left empty, or a value outside min_length/max_length, raises OptionRejected as Discord's client would.
        """
        if not reply.modal:
            raise SandboxError(f"{reply.label} did not open a modal (response type {reply.response_type})")
        inputs = _modal_inputs(reply.modal)
        known = {key for label, custom_id, _ in inputs for key in (label, custom_id) if key}
        if unknown := sorted(set(fields) - known):
            raise OptionRejected(f"the modal has no fields {unknown}; it has {sorted(known)}")

        def filled(component: Json, label: str | None) -> Json:
            kind = component["type"]
            if kind == 1:
                return {"type": 1, "components": [filled(c, label) for c in component.get("components", [])]}
            if kind == 18:
                return {"type": 18, "component": filled(component["component"], component.get("label"))}
            if "custom_id" not in component:
                return {"type": kind, "id": component.get("id", 0)}
            custom_id = component["custom_id"]
            label = label or component.get("label")
            value = fields.get(custom_id, fields.get(label or "", component.get("value")))
            if kind == 4:
                text = "" if value is None else str(value)
                low, high = component.get("min_length"), component.get("max_length")
                if component.get("required", True) and not text:
                    raise OptionRejected(f"modal field {label or custom_id!r} is required")
                if text and ((low and len(text) < low) or (high and len(text) > high)):
                    raise OptionRejected(f"modal field {label or custom_id!r} takes {low}..{high} characters")
                return {"type": 4, "custom_id": custom_id, "value": text}
            if isinstance(value, list | tuple):
                return {"type": kind, "custom_id": custom_id, "values": [str(v) for v in value]}
            return {"type": kind, "custom_id": custom_id, "value": value}

        components = [filled(c, None) for c in reply.modal.get("components", [])]
        member = self._member(user if user is not None else (reply.user_id or STUDENT_ID))
        source = self.http.messages.get(reply.source_message_id or 0)
        payload = payloads.modal_submit_interaction(
            reply.modal["custom_id"],
            components,
            user=member,
            guild=self.guild,
            channel=self._channel(source.channel_id) if source else self.channel,
            message=copy.deepcopy(source.raw) if source else None,
            application_id=self.http.application_id,
        )
        return await self._interact(
            payload,
            label=f"modal {reply.modal.get('title', reply.modal['custom_id'])!r}",
            user_id=int(member["user"]["id"]),
            source_message_id=reply.source_message_id,
        )

    # -- plain messages ---------------------------------------------------------------------------------------

    async def send_message(
        self,
        channel: ChannelLike,
        content: str,
        /,
        *,
        user: UserLike | None = None,
        attachments: Sequence[Json] = (),
        mentions: Sequence[UserLike] = (),
        wait_for_messages: int = 0,
    ) -> list[PostedMessage]:
        """Post a user message (MESSAGE_CREATE) and return the bot's messages created while handling it.

        Without the message_content intent the bot gets empty content unless it is mentioned, as on Discord.
        `wait_for_messages` waits for that many bot messages, for handlers that answer from a background task.
        """
        self._require_started()
        author = self._member(user if user is not None else STUDENT_ID)
        where = self._channel(channel)
        mentioned = [self._member(m) for m in mentions]
        payload = payloads.message_create(where, author, content, attachments=attachments, mentions=mentioned)
        self.http.remember_message(payload)
        intents = self.bot.intents
        bot_mentioned = any(m["user"]["id"] == self.http.bot_user["id"] for m in mentioned)
        if not intents.message_content and not bot_mentioned:
            payload.update(content="", embeds=[], attachments=[], components=[])
        if not delivered_with(intents, "MESSAGE_CREATE", payload):
            return []
        start = len(self.http.calls)
        timeout = self.timeout
        tasks = self._feed("MESSAGE_CREATE", payload)
        await self._settle(tasks, label=f"message {content!r}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(created := self._created_since(start)) < wait_for_messages:
            if (remaining := deadline - loop.time()) <= 0:
                raise SandboxTimeout(
                    f"message {content!r}: expected {wait_for_messages} bot message(s), got {len(created)}"
                    f" within {timeout} s\n{self.format_errors()}"
                )
            await self._wait_any(set(), remaining)
        return created

    def _created_since(self, start: int) -> list[PostedMessage]:
        ids = dict.fromkeys(
            c.message_id for c in self.http.calls[start:] if c.message_id is not None and c.method == "POST"
        )
        return [self.http.messages[i].snapshot() for i in ids if not self.http.messages[i].deleted]


def _components_of(raw: Json) -> list[Json]:
    found: list[Json] = []
    stack = list(raw.get("components") or [])
    while stack:
        component = stack.pop(0)
        found.append(component)
        stack.extend(component.get("components", []))
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                stack.append(component[key])
    return found
