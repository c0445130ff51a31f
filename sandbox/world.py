"""The sandbox's Discord world: the default guild, who and what is in it, and how a test adds to it.

`add_default_guild` builds the guild every sandbox starts in. `SandboxWorld`, the first layer of `DiscordSandbox`,
names its members, roles and channel, resolves what a test passes for a user or a channel (payloads, ids, discord
objects), adds members, roles, threads and attachments, and reads back what the bot posted and sent by DM.
Everything lives in the `FakeDiscordHTTP` underneath, so a restarted sandbox on the same `http` finds it again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import discord

from sandbox import payloads
from sandbox.errors import SandboxError
from sandbox.http import FakeDiscordHTTP, RecordedCall
from sandbox.messages import PostedMessage
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

DM_CHANNEL = 1  # the channel type of a direct message


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


class SandboxWorld(ABC):
    """The default guild of `http` (added if missing) and what happens in it, as a test sees it.

    Adding a member, role or thread is announced to the bot by a gateway dispatch, which `dispatch` delivers.
    """

    def __init__(self, http: FakeDiscordHTTP) -> None:
        self.http = http
        if str(DEFAULT_GUILD_ID) not in self.http.guilds:
            add_default_guild(self.http)
        self.guild: Json = self.http.guilds[str(DEFAULT_GUILD_ID)]

    @abstractmethod
    async def dispatch(self, event: str, payload: Json) -> list[RecordedCall]:
        """Deliver a gateway dispatch to the bot and wait for its handlers; returns their REST calls."""

    # -- who and what is there --------------------------------------------------------------------------------

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

    def _channel_id(self, channel: ChannelLike) -> int:
        if isinstance(channel, Mapping):
            return int(channel["id"])
        return int(channel.id if isinstance(channel, discord.abc.Snowflake) else channel)

    # -- adding to it -----------------------------------------------------------------------------------------

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

    # -- what the bot posted ----------------------------------------------------------------------------------

    def messages_in(self, channel: ChannelLike) -> list[PostedMessage]:
        """Snapshots of the bot's live (not deleted) messages in a channel or thread, oldest first."""
        return [m.snapshot() for m in self.http.messages_in(self._channel_id(channel))]

    def dms_to(self, user: UserLike) -> list[PostedMessage]:
        """Snapshots of the direct messages the bot sent a user, oldest first."""
        channel_id = self.http.dm_channel_id(self._member(user)["user"]["id"])
        return [m.snapshot() for m in self.http.messages_in(channel_id)] if channel_id else []
