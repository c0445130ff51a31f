"""Factories for Discord gateway payloads that discord.py 2.7 parses as it would parse Discord's own.

Every factory returns a fresh plain dict (JSON-shaped, ids as strings) that a caller may mutate. Snowflakes come
from a process-wide counter anchored at the wall clock, so ids are unique, increasing and decode to "now", which
keeps `Interaction.is_expired()` and `created_at` believable.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import discord

Json = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000
# The bot's user id doubles as its application id, as it does for every application created since 2019.
APPLICATION_ID = 1_080_000_000_000_000_001
BOT_USER_ID = APPLICATION_ID
# Discord's default upload limit for guilds without boosts, sent in every interaction.
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

EVERYONE_PERMISSIONS = discord.Permissions(
    create_instant_invite=True,
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_external_emojis=True,
    read_message_history=True,
    use_application_commands=True,
    change_nickname=True,
    connect=True,
    speak=True,
).value
INSTRUCTOR_PERMISSIONS = (
    EVERYONE_PERMISSIONS
    | discord.Permissions(
        manage_messages=True, manage_threads=True, create_private_threads=True, mention_everyone=True
    ).value
)
BOT_PERMISSIONS = (
    EVERYONE_PERMISSIONS
    | discord.Permissions(
        manage_roles=True,
        manage_messages=True,
        manage_threads=True,
        create_private_threads=True,
    ).value
)
ALL_PERMISSIONS = discord.Permissions.all().value

_last_ms = 0
_sequence = itertools.count()


def snowflake() -> int:
    """A new id, greater than every id handed out before in this process."""
    global _last_ms, _sequence
    now = int(time.time() * 1000) - DISCORD_EPOCH_MS
    if now > _last_ms:
        _last_ms, _sequence = now, itertools.count()
    seq = next(_sequence)
    if seq >= 4096:  # Discord's increment is 12 bits; borrow the next millisecond instead of wrapping.
        _last_ms, _sequence = _last_ms + 1, itertools.count(1)
        seq = 0
    return (_last_ms << 22) | seq


def timestamp(snowflake_id: int | str | None = None) -> str:
    """ISO-8601 time of a snowflake (or now), as Discord writes timestamps."""
    if snowflake_id is None:
        return dt.datetime.now(dt.UTC).isoformat()
    return discord.utils.snowflake_time(int(snowflake_id)).isoformat()


def user(username: str, *, id: int | None = None, global_name: str | None = None, bot: bool = False) -> Json:
    """A user object (`discriminator` "0" as for every migrated account)."""
    return {
        "id": str(id or snowflake()),
        "username": username,
        "discriminator": "0",
        "global_name": global_name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }


def role(
    name: str,
    *,
    id: int | None = None,
    permissions: int = EVERYONE_PERMISSIONS,
    position: int = 1,
    color: int = 0,
    hoist: bool = False,
    mentionable: bool = False,
    bot_id: int | None = None,
) -> Json:
    """A role; with `bot_id` it is the managed role Discord creates for a bot."""
    payload: Json = {
        "id": str(id or snowflake()),
        "name": name,
        "color": color,
        "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
        "hoist": hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": bot_id is not None,
        "mentionable": mentionable,
        "flags": 0,
    }
    if bot_id is not None:
        payload["tags"] = {"bot_id": str(bot_id)}
    return payload


def everyone_role(guild_id: int, *, permissions: int = EVERYONE_PERMISSIONS) -> Json:
    """The @everyone role, whose id is the guild's id."""
    return role("@everyone", id=guild_id, permissions=permissions, position=0)


def member(
    user_payload: Json,
    *,
    roles: Iterable[int | str | Json] = (),
    nick: str | None = None,
    joined_at: str | None = None,
    permissions: int | None = None,
) -> Json:
    """A guild member with its user; `permissions` is only present in interaction payloads."""
    payload: Json = {
        "user": user_payload,
        "roles": [str(r["id"]) if isinstance(r, Mapping) else str(r) for r in roles],
        "nick": nick,
        "avatar": None,
        "banner": None,
        "joined_at": joined_at or timestamp(user_payload["id"]),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def text_channel(
    name: str,
    *,
    guild_id: int | str,
    id: int | None = None,
    position: int = 0,
    topic: str | None = None,
    parent_id: int | str | None = None,
    overwrites: Sequence[Json] = (),
) -> Json:
    """A guild text channel (type 0)."""
    return {
        "id": str(id or snowflake()),
        "type": 0,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "permission_overwrites": list(overwrites),
        "nsfw": False,
        "parent_id": str(parent_id) if parent_id else None,
        "topic": topic,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "default_auto_archive_duration": 1440,
        "flags": 0,
    }


def overwrite(target_id: int | str, *, member: bool = False, allow: int = 0, deny: int = 0) -> Json:
    """A permission overwrite for a role (default) or a member."""
    return {"id": str(target_id), "type": 1 if member else 0, "allow": str(allow), "deny": str(deny)}


def thread(
    name: str,
    *,
    parent: Json,
    owner_id: int | str,
    id: int | None = None,
    private: bool = False,
    archived: bool = False,
    auto_archive_duration: int = 1440,
) -> Json:
    """A thread channel (type 11 public, 12 private) under `parent`."""
    thread_id = str(id or snowflake())
    return {
        "id": thread_id,
        "type": 12 if private else 11,
        "guild_id": parent["guild_id"],
        "parent_id": parent["id"],
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "applied_tags": [],
        "thread_metadata": {
            "archived": archived,
            "auto_archive_duration": auto_archive_duration,
            "archive_timestamp": timestamp(thread_id),
            "locked": False,
            "invitable": not private,
            "create_timestamp": timestamp(thread_id),
        },
    }


def dm_channel(recipient: Json, *, id: int | None = None) -> Json:
    """A direct-message channel (type 1) with one recipient."""
    return {"id": str(id or snowflake()), "type": 1, "recipients": [recipient], "last_message_id": None, "flags": 0}


def guild(
    name: str,
    *,
    owner_id: int | str,
    roles: Sequence[Json],
    channels: Sequence[Json] = (),
    members: Sequence[Json] = (),
    threads: Sequence[Json] = (),
    id: int | None = None,
) -> Json:
    """A full GUILD_CREATE payload; `member_count` equals the members given so the guild counts as chunked."""
    guild_id = str(id or snowflake())
    return {
        "id": guild_id,
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(owner_id),
        "application_id": None,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "system_channel_id": channels[0]["id"] if channels else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "vanity_url_code": None,
        "max_members": 500_000,
        "max_video_channel_users": 25,
        "features": [],
        "joined_at": timestamp(guild_id),
        "large": False,
        "unavailable": False,
        "member_count": len(members),
        "roles": list(roles),
        "channels": list(channels),
        "threads": list(threads),
        "members": list(members),
        "emojis": [],
        "stickers": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def attachment(
    filename: str,
    *,
    size: int,
    content_type: str | None = None,
    id: int | None = None,
    url: str | None = None,
) -> Json:
    """An attachment object as found in messages and in an interaction's `resolved.attachments`."""
    attachment_id = str(id or snowflake())
    url = url or f"https://cdn.discordapp.com/attachments/0/{attachment_id}/{filename}"
    return {
        "id": attachment_id,
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
        "content_type": content_type,
    }


def member_permissions(guild_payload: Json, member_payload: Json, channel: Json | None = None) -> int:
    """What Discord puts in `member.permissions` of an interaction: role permissions plus channel overwrites.

    Threads use their parent's overwrites, as Discord does.
    """
    user_id = member_payload["user"]["id"]
    if user_id == guild_payload["owner_id"]:
        return ALL_PERMISSIONS
    roles = {r["id"]: int(r["permissions"]) for r in guild_payload["roles"]}
    value = roles.get(guild_payload["id"], 0)
    for role_id in member_payload["roles"]:
        value |= roles.get(role_id, 0)
    if value & discord.Permissions(administrator=True).value:
        return ALL_PERMISSIONS
    if channel is not None and channel.get("type") in (10, 11, 12):
        channel = next((c for c in guild_payload["channels"] if c["id"] == channel.get("parent_id")), None)
    if channel is None:
        return value
    overwrites = {o["id"]: o for o in channel.get("permission_overwrites", [])}
    everyone = overwrites.get(guild_payload["id"])
    if everyone:
        value = (value & ~int(everyone["deny"])) | int(everyone["allow"])
    allow = deny = 0
    for role_id in member_payload["roles"]:
        if role_id in overwrites:
            allow |= int(overwrites[role_id]["allow"])
            deny |= int(overwrites[role_id]["deny"])
    value = (value & ~deny) | allow
    own = overwrites.get(user_id)
    if own:
        value = (value & ~int(own["deny"])) | int(own["allow"])
    return value


def _interaction(
    type_: int,
    data: Json,
    *,
    user: Json,
    guild: Json | None,
    channel: Json,
    permissions: int | None,
    locale: str,
    app_permissions: int | None = None,
    resolved: Json | None = None,
    message: Json | None = None,
    application_id: int = APPLICATION_ID,
) -> Json:
    """The payload every interaction type shares; `resolved` (the users, roles, channels, attachments the options
    or values name) goes into `data`."""
    if resolved:
        data = {**data, "resolved": resolved}
    interaction_id = snowflake()
    payload: Json = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": type_,
        "data": data,
        "token": f"sandbox-token-{interaction_id}",
        "version": 1,
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if guild is not None:
        # `user` must be a member payload here; Discord sends `member` in guilds and `user` in DMs.
        perms = member_permissions(guild, user, channel) if permissions is None else permissions
        bot = next((m for m in guild["members"] if m["user"]["id"] == str(application_id)), None)
        if app_permissions is None:
            app_permissions = member_permissions(guild, bot, channel) if bot else BOT_PERMISSIONS
        payload.update(
            guild_id=guild["id"],
            guild={"id": guild["id"], "locale": guild.get("preferred_locale", "en-US"), "features": []},
            guild_locale=guild.get("preferred_locale", "en-US"),
            member={**user, "permissions": str(perms)},
            app_permissions=str(app_permissions),
            context=0,
            authorizing_integration_owners={"0": guild["id"]},
            channel={**channel, "permissions": str(perms)},
            channel_id=channel["id"],
        )
    else:
        payload.update(
            user=user.get("user", user),
            app_permissions=str(app_permissions if app_permissions is not None else BOT_PERMISSIONS),
            context=1,
            authorizing_integration_owners={"1": (user.get("user", user))["id"]},
            channel=channel,
            channel_id=channel["id"],
        )
    if message is not None:
        payload["message"] = message
    return payload


def nest_options(command: str, options: Sequence[Json]) -> tuple[str, list[Json]]:
    """Split "root group sub" into the root name and the options list Discord nests under it.

    A path of two words is a subcommand (type 1); of three, a group (type 2) holding a subcommand.
    """
    root, *path = command.split()
    nested: list[Json] = list(options)
    for depth, name in reversed(list(enumerate(path))):
        is_leaf = depth == len(path) - 1
        nested = [{"type": 1 if is_leaf else 2, "name": name, "options": nested}]
    return root, nested


def slash_interaction(
    command: str,
    options: Sequence[Json] = (),
    *,
    user: Json,
    guild: Json | None,
    channel: Json,
    command_id: int | None = None,
    resolved: Json | None = None,
    guild_command: bool = False,
    permissions: int | None = None,
    app_permissions: int | None = None,
    locale: str = "en-US",
    application_id: int = APPLICATION_ID,
) -> Json:
    """An INTERACTION_CREATE for a chat-input command (type 2).

    `command` is the qualified name ("teach course publish"); `options` are the leaf options, already typed
    (`{"name", "type", "value"}`). `user` is a member payload in a guild and a user payload in DMs.
    """
    root, nested = nest_options(command, options)
    data: Json = {"id": str(command_id or snowflake()), "name": root, "type": 1, "options": nested}
    if guild_command and guild is not None:
        data["guild_id"] = guild["id"]
    return _interaction(
        2,
        data,
        user=user,
        guild=guild,
        channel=channel,
        permissions=permissions,
        app_permissions=app_permissions,
        resolved=resolved,
        locale=locale,
        application_id=application_id,
    )


def autocomplete_interaction(
    command: str,
    options: Sequence[Json],
    *,
    focused: str,
    user: Json,
    guild: Json | None,
    channel: Json,
    command_id: int | None = None,
    guild_command: bool = False,
    permissions: int | None = None,
    locale: str = "en-US",
    application_id: int = APPLICATION_ID,
) -> Json:
    """An INTERACTION_CREATE of type 4; the option named `focused` is marked and its value sent as typed text."""
    marked = [{**o, "focused": True, "value": str(o["value"])} if o["name"] == focused else o for o in options]
    if not any(o["name"] == focused for o in options):
        raise ValueError(f"focused option {focused!r} is not among the options")
    payload = slash_interaction(
        command,
        marked,
        user=user,
        guild=guild,
        channel=channel,
        command_id=command_id,
        guild_command=guild_command,
        permissions=permissions,
        locale=locale,
        application_id=application_id,
    )
    payload["type"] = 4
    return payload


def component_interaction(
    custom_id: str,
    message: Json,
    *,
    user: Json,
    guild: Json | None,
    channel: Json,
    component_type: int = 2,
    values: Sequence[str] | None = None,
    resolved: Json | None = None,
    permissions: int | None = None,
    locale: str = "en-US",
    application_id: int = APPLICATION_ID,
) -> Json:
    """An INTERACTION_CREATE of type 3 for a button (component_type 2) or a select (3, 5-8) on `message`.

    `message` must be a full message object: discord.py drops an unparsable one silently and then no view routes.
    """
    data: Json = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:
        data["values"] = list(values)
    return _interaction(
        3,
        data,
        user=user,
        guild=guild,
        channel=channel,
        permissions=permissions,
        resolved=resolved,
        locale=locale,
        message=message,
        application_id=application_id,
    )


def modal_submit_interaction(
    custom_id: str,
    components: Sequence[Json],
    *,
    user: Json,
    guild: Json | None,
    channel: Json,
    message: Json | None = None,
    resolved: Json | None = None,
    permissions: int | None = None,
    locale: str = "en-US",
    application_id: int = APPLICATION_ID,
) -> Json:
    """An INTERACTION_CREATE of type 5; `components` are the submitted rows/labels with `value`/`values` filled."""
    return _interaction(
        5,
        {"custom_id": custom_id, "components": list(components)},
        user=user,
        guild=guild,
        channel=channel,
        permissions=permissions,
        resolved=resolved,
        locale=locale,
        message=message,
        application_id=application_id,
    )


def message(
    channel: Json,
    author: Json,
    content: str = "",
    *,
    id: int | None = None,
    embeds: Sequence[Json] = (),
    components: Sequence[Json] = (),
    attachments: Sequence[Json] = (),
    flags: int = 0,
    type_: int = 0,
) -> Json:
    """A message object. `author` is a member payload (guild channels) or a user payload."""
    message_id = str(id or snowflake())
    author_user = author.get("user", author)
    payload: Json = {
        "id": message_id,
        "channel_id": channel["id"],
        "type": type_,
        "author": author_user,
        "content": content,
        "timestamp": timestamp(message_id),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": list(attachments),
        "embeds": list(embeds),
        "components": list(components),
        "reactions": [],
        "pinned": False,
        "flags": flags,
    }
    if channel.get("guild_id"):
        payload["guild_id"] = channel["guild_id"]
        if "user" in author:
            payload["member"] = {k: v for k, v in author.items() if k not in ("user", "permissions")}
    return payload


def message_create(
    channel: Json,
    author: Json,
    content: str,
    *,
    attachments: Sequence[Json] = (),
    mentions: Sequence[Json] = (),
) -> Json:
    """A MESSAGE_CREATE dispatch from `author` (a member payload in guild channels)."""
    payload = message(channel, author, content, attachments=attachments)
    payload["mentions"] = [m.get("user", m) for m in mentions]
    return payload


def ready(
    bot_user: Json,
    *,
    guild_ids: Iterable[int | str],
    session_id: str,
    resume_gateway_url: str,
    shard: tuple[int, int] | None = None,
    application_id: int = APPLICATION_ID,
) -> Json:
    """A READY dispatch with every guild listed as unavailable, to be followed by one GUILD_CREATE each."""
    payload: Json = {
        "v": 10,
        "user": bot_user,
        "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_gateway_url,
        "application": {"id": str(application_id), "flags": 0},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "user_settings": {},
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["local"],
        "auth": {},
        "_trace": ['["sandbox-gateway",{"micros":0}]'],
    }
    if shard is not None:
        payload["shard"] = list(shard)
    return payload
