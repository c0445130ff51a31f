"""What the fake Discord stores, and the gateway events its changes cause.

`DiscordStore` is the world under `FakeDiscordHTTP`: guilds with their roles, members and channels, threads, users,
DM channels, messages (the bot's and users'), interactions in flight, synced commands and uploaded files. It
creates, edits and deletes messages as Discord does and announces each change to `event_sink` as the dispatch
Discord would send (MESSAGE_CREATE, THREAD_CREATE...). The REST routes in `http.py` read and change it; tests
and the sandbox read it directly.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox import payloads
from sandbox.messages import EPHEMERAL, PostedMessage, RecordedFile

Json = dict[str, Any]
EventSink = Callable[[str, Json], None]


@dataclass(slots=True)
class InteractionRecord:
    """What the fake Discord remembers about one interaction so it can answer callbacks and followups."""

    id: int
    token: str
    type: int
    channel: Json
    guild_id: str | None
    user: Json
    name: str | None = None
    source_message_id: int | None = None
    response_type: int | None = None
    original_message_id: int | None = None
    awaiting_first_followup: bool = False
    modal: Json | None = None
    choices: list[Json] | None = None
    received_at: float = 0.0  # loop time the interaction was delivered
    responded_at: float | None = None  # loop time of the interaction callback (the acknowledgement)


class DiscordStore:
    """Discord's side of one sandboxed world, as the REST routes and the gateway see it."""

    def __init__(self, *, bot_user: Json | None = None, application_id: int = payloads.APPLICATION_ID) -> None:
        self.application_id = application_id
        self.bot_user: Json = bot_user or payloads.user("Coursebot", id=application_id, bot=True)
        self.guilds: dict[str, Json] = {}
        self.channels: dict[str, Json] = {}
        self.users: dict[str, Json] = {self.bot_user["id"]: self.bot_user}
        self.messages: dict[int, PostedMessage] = {}
        self.interactions: dict[str, InteractionRecord] = {}
        self.commands: dict[str | None, list[Json]] = {}
        self.cdn: dict[str, bytes] = {}
        # Receives the gateway events Discord would send after a REST change (THREAD_CREATE, MESSAGE_CREATE...).
        self.event_sink: EventSink | None = None
        self._dm_by_user: dict[str, str] = {}

    # -- world ------------------------------------------------------------------------------------------------

    def add_guild(self, guild: Json) -> None:
        """Know a GUILD_CREATE payload: its channels, threads, members and users become answerable."""
        self.guilds[guild["id"]] = guild
        for channel in [*guild["channels"], *guild.get("threads", [])]:
            channel.setdefault("guild_id", guild["id"])
            self.channels[channel["id"]] = channel
        for member in guild["members"]:
            self.users[member["user"]["id"]] = member["user"]

    def add_member(self, guild_id: int | str, member: Json) -> None:
        guild = self.guilds[str(guild_id)]
        guild["members"] = [m for m in guild["members"] if m["user"]["id"] != member["user"]["id"]] + [member]
        guild["member_count"] = len(guild["members"])
        self.users[member["user"]["id"]] = member["user"]

    def add_channel(self, channel: Json) -> None:
        """Know a channel or thread; guild channels are also added to their guild's payload."""
        self.channels[channel["id"]] = channel
        guild = self.guilds.get(channel.get("guild_id") or "")
        if guild is not None:
            key = "threads" if channel["type"] in (10, 11, 12) else "channels"
            guild[key] = [c for c in guild[key] if c["id"] != channel["id"]] + [channel]

    def member(self, guild_id: int | str, user_id: int | str) -> Json | None:
        guild = self.guilds.get(str(guild_id))
        if guild is None:
            return None
        return next((m for m in guild["members"] if m["user"]["id"] == str(user_id)), None)

    def bot_member(self, guild_id: int | str) -> Json | None:
        return self.member(guild_id, self.bot_user["id"])

    def remember_message(self, raw: Json) -> PostedMessage:
        """Store a message object seen elsewhere (e.g. from before a restart) so it can be edited."""
        known = self.messages.get(int(raw["id"]))
        if known is not None:
            return known
        stored = PostedMessage(copy.deepcopy(raw))
        self.messages[stored.id] = stored
        return stored

    def register_interaction(self, payload: Json) -> InteractionRecord:
        """Remember an INTERACTION_CREATE before it is dispatched, so callbacks and followups can be answered."""
        user = payload.get("member", {}).get("user") or payload.get("user") or {}
        partial: Json = payload.get("channel") or {"id": payload.get("channel_id", "0"), "type": 0}
        channel = self.channels.get(partial["id"], partial)
        message = payload.get("message")
        if message is not None:
            self.remember_message(message)
        record = InteractionRecord(
            id=int(payload["id"]),
            token=payload["token"],
            type=payload["type"],
            channel=channel,
            guild_id=payload.get("guild_id"),
            user=user,
            name=(payload.get("data") or {}).get("name"),
            source_message_id=int(message["id"]) if message else None,
            received_at=asyncio.get_running_loop().time(),
        )
        self.interactions[record.token] = record
        return record

    def history(self, channel_id: int | str) -> list[PostedMessage]:
        """Every message known in a channel, the bot's and users', oldest first, not deleted."""
        return sorted(
            (m for m in self.messages.values() if m.channel_id == int(channel_id) and not m.deleted),
            key=lambda m: m.id,
        )

    def messages_in(self, channel_id: int | str) -> list[PostedMessage]:
        """Messages the bot posted in a channel (including interaction responses), oldest first, not deleted."""
        return [m for m in self.history(channel_id) if m.raw["author"]["id"] == self.bot_user["id"]]

    def dm_channel_id(self, user_id: int | str) -> int | None:
        """The DM channel the bot opened with a user, if it did."""
        channel_id = self._dm_by_user.get(str(user_id))
        return int(channel_id) if channel_id else None

    def open_dm_channel(self, user_id: int | str) -> Json:
        """The DM channel between the bot and a user, opened the first time it is asked for."""
        user_id = str(user_id)
        if user_id not in self._dm_by_user:
            recipient = self.users.get(user_id) or payloads.user(f"user{user_id}", id=int(user_id))
            channel = payloads.dm_channel(recipient)
            self.channels[channel["id"]] = channel
            self._dm_by_user[user_id] = channel["id"]
        return self.channels[self._dm_by_user[user_id]]

    def command_id(self, name: str, *, guild_id: int | str | None = None) -> int | None:
        """The id Discord gave a synced top-level command, if it was synced."""
        for command in self.commands.get(str(guild_id) if guild_id else None, []):
            if command["name"] == name:
                return int(command["id"])
        return None

    # -- messages ---------------------------------------------------------------------------------------------

    def _channel(self, channel_id: str) -> Json:
        return self.channels.get(channel_id) or {"id": channel_id, "type": 0}

    def _attachments_for(self, files: list[RecordedFile]) -> list[Json]:
        attachments = []
        for f in files:
            attachment = payloads.attachment(f.filename, size=len(f.data), content_type=f.content_type)
            self.cdn[attachment["url"]] = f.data
            attachments.append(attachment)
        return attachments

    def _apply(self, message: PostedMessage, body: Json | None, files: list[RecordedFile], *, edit: bool) -> None:
        body = body or {}
        raw = message.raw
        for key in ("content", "embeds", "components", "poll", "message_reference", "tts"):
            if key in body:
                raw[key] = body[key] if body[key] is not None else ("" if key == "content" else [])
        if body.get("flags") is not None:
            # Ephemerality is fixed when a message is created; an edit cannot change it.
            flags = int(body["flags"])
            raw["flags"] = (flags & ~EPHEMERAL) | (raw.get("flags", 0) & EPHEMERAL) if edit else flags
        if "attachments" in body or files:
            kept_ids = {str(a.get("id")) for a in body.get("attachments", [])}
            kept = [a for a in raw.get("attachments", []) if a["id"] in kept_ids] if edit else []
            raw["attachments"] = kept + self._attachments_for(files)
            message.files = [*(message.files if edit else []), *files]
        if edit:
            raw["edited_timestamp"] = payloads.timestamp()

    def _create_message(
        self,
        channel_id: str,
        body: Json | None,
        files: list[RecordedFile],
        *,
        interaction: InteractionRecord | None = None,
        flags: int | None = None,
        message_type: int = 0,
        message_id: int | None = None,
    ) -> PostedMessage:
        channel = self._channel(channel_id)
        guild_id = channel.get("guild_id")
        author = (self.bot_member(guild_id) if guild_id else None) or self.bot_user
        raw = payloads.message(channel, author, id=message_id, type_=message_type)
        if interaction is not None:
            raw["webhook_id"] = str(self.application_id)
            raw["application_id"] = str(self.application_id)
            raw["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": interaction.user,
                "authorizing_integration_owners": {"0": guild_id} if guild_id else {},
            }
        message = PostedMessage(raw)
        self._apply(message, body, files, edit=False)
        if flags is not None:
            raw["flags"] = flags
        self.messages[message.id] = message
        if guild_id and not message.ephemeral:
            self._emit("MESSAGE_CREATE", raw)
        return message

    def _edit_message(self, message: PostedMessage, body: Json | None, files: list[RecordedFile]) -> PostedMessage:
        self._apply(message, body, files, edit=True)
        if message.raw.get("guild_id") and not message.ephemeral:
            self._emit("MESSAGE_UPDATE", message.raw)
        return message

    def _delete_message(self, message: PostedMessage) -> None:
        message.deleted = True
        if not message.ephemeral:
            raw = message.raw
            self._emit(
                "MESSAGE_DELETE", {"id": raw["id"], "channel_id": raw["channel_id"], "guild_id": raw.get("guild_id")}
            )

    def _emit(self, event: str, data: Json) -> None:
        if self.event_sink is not None:
            self.event_sink(event, copy.deepcopy(data))
