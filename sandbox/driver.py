"""How a test or the console acts in the sandbox: slash commands, autocomplete, buttons, selects, modals, messages.

`SandboxDriver`, the second layer of `DiscordSandbox`, builds the payload Discord would send for each act after
the checks Discord's client makes first (commands hidden by their default permissions, the option rules in
`options.py`, disabled components, modal field limits), then hands it to the harness, which delivers it to the
bot and waits for the answer.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import discord
from discord import app_commands

from sandbox import payloads
from sandbox.errors import CommandHidden, OptionRejected, SandboxError
from sandbox.http import FakeDiscordHTTP
from sandbox.messages import ComponentInfo, PostedMessage
from sandbox.options import OptionBuilder
from sandbox.reply import Reply, modal_inputs
from sandbox.world import DEFAULT_GUILD_ID, DM_CHANNEL, STUDENT_ID, ChannelLike, SandboxWorld, UserLike

Json = dict[str, Any]

_SELECT_TYPES = {3, 5, 6, 7, 8}


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


class Act(NamedTuple):
    """One interaction to deliver: its payload, the label its Reply and errors carry, who sent it, from where."""

    payload: Json
    label: str
    user_id: int
    source_message_id: int | None = None


class SandboxDriver(SandboxWorld):
    """The acts of a user in the sandbox's world, each returning what the bot answered.

    `DiscordSandbox` (harness.py) delivers what is built here: `_interact` one interaction, `_interact_together`
    a burst of them, `_deliver_message` a user message.
    """

    def __init__(self, bot: discord.Client, http: FakeDiscordHTTP) -> None:
        super().__init__(http)
        self.bot = bot
        self._command_ids: dict[str, int] = {}  # ids of commands never synced, stable for this sandbox

    @abstractmethod
    def _require_started(self) -> None:
        """Raise SandboxError unless the bot is logged in and receiving dispatches."""

    @abstractmethod
    async def _interact(
        self, payload: Json, *, label: str, user_id: int, source_message_id: int | None = None
    ) -> Reply:
        """Deliver one INTERACTION_CREATE and return the bot's answer to it."""

    @abstractmethod
    async def _interact_together(self, acts: Sequence[Act]) -> list[Reply]:
        """Deliver every interaction at once, wait until all are handled, and return their answers in order."""

    @abstractmethod
    async def _deliver_message(self, payload: Json, *, label: str, wait_for_messages: int) -> list[PostedMessage]:
        """Deliver one MESSAGE_CREATE and return the bot's messages created while handling it."""

    # -- slash commands ---------------------------------------------------------------------------------------

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

    async def click_many(
        self,
        presses: Sequence[tuple[Reply | PostedMessage, str, UserLike | None]],
        *,
        forged_custom_id: str | None = None,
    ) -> list[Reply]:
        """Deliver every press at once, as a burst reaching the bot together, and wait until all are handled.

        Each press is `(reply, target, user)` as for `click`; the replies come back in the same order. Their
        `calls` include what the other presses did meanwhile; `posted` leaves out the other presses' messages.
        Every handler must finish. `forged_custom_id` is sent by every press, as for `click`.
        """
        self._require_started()
        # Built first, delivered after: like Discord, which has the payloads ready when it sends them.
        built = [(target, *self._press(reply, target, user, forged_custom_id)) for reply, target, user in presses]
        acts = [
            Act(payload, f"button {target!r} of {member['user']['username']}", int(member["user"]["id"]), message.id)
            for target, payload, member, message in built
        ]
        return await self._interact_together(acts)

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
        inputs = modal_inputs(reply.modal)
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
        bot_mentioned = any(m["user"]["id"] == self.http.bot_user["id"] for m in mentioned)
        if not self.bot.intents.message_content and not bot_mentioned:
            payload.update(content="", embeds=[], attachments=[], components=[])
        return await self._deliver_message(payload, label=f"message {content!r}", wait_for_messages=wait_for_messages)


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
