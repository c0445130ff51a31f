"""Turn a test's keyword arguments into the options Discord's client would send for a slash command.

The command's own schema (`Command.to_dict`, the JSON that `tree.sync()` uploads) decides option names and types,
so a test exercises the same contract Discord enforces. Discord's client refuses some input before it reaches the
bot (missing required options, values outside min/max or min_length/max_length, anything not among fixed choices,
channels of the wrong type); with `validate=True` those raise `OptionRejected` here, since discord.py itself
does not re-check them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from discord import app_commands

from sandbox import payloads
from sandbox.errors import OptionRejected
from sandbox.http import FakeDiscordHTTP

Json = dict[str, Any]

STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11
_TYPE_NAMES = {
    STRING: "string",
    INTEGER: "integer",
    BOOLEAN: "boolean",
    USER: "user",
    CHANNEL: "channel",
    ROLE: "role",
    MENTIONABLE: "mentionable",
    NUMBER: "number",
    ATTACHMENT: "attachment",
}


@dataclass(slots=True)
class BuiltOptions:
    """Leaf options (`{"name", "type", "value"}`) and the `resolved` block for users, channels, roles, files."""

    options: list[Json] = field(default_factory=list)
    resolved: Json = field(default_factory=dict)


def _id_of(value: Any) -> str | None:
    if isinstance(value, Mapping):
        inner = value.get("user", value)
        return str(inner["id"]) if "id" in inner else None
    if isinstance(value, int | str) and str(value).isdigit():
        return str(value)
    if hasattr(value, "id"):
        return str(value.id)
    return None


class OptionBuilder:
    """Builds options against one guild and channel of a `FakeDiscordHTTP` world."""

    def __init__(self, http: FakeDiscordHTTP, guild: Json | None, channel: Json) -> None:
        self.http = http
        self.guild = guild
        self.channel = channel

    # -- lookups shared with component selects ----------------------------------------------------------------

    def member_or_user(self, value: Any) -> Json:
        """A member payload when the user is in the guild, else a user payload; raises if unknown."""
        user_id = _id_of(value)
        if user_id is None:
            raise OptionRejected(f"cannot tell which user {value!r} is; pass a member payload or an id")
        if self.guild is not None and (member := self.http.member(self.guild["id"], user_id)) is not None:
            return member
        if isinstance(value, Mapping) and "username" in value.get("user", value):
            return dict(value)
        if user_id in self.http.users:
            return self.http.users[user_id]
        raise OptionRejected(f"user {user_id} is unknown to the sandbox; add them with sandbox.add_member()")

    def channel_payload(self, value: Any) -> Json:
        channel_id = _id_of(value)
        if channel_id is None or channel_id not in self.http.channels:
            raise OptionRejected(f"channel {value!r} is unknown to the sandbox")
        return self.http.channels[channel_id]

    def role_payload(self, value: Any) -> Json:
        role_id = _id_of(value)
        roles = self.guild["roles"] if self.guild else []
        role = next((r for r in roles if r["id"] == role_id), None)
        if role is None:
            raise OptionRejected(f"role {value!r} is not a role of the guild; roles: {[r['name'] for r in roles]}")
        return role

    def add_user(self, resolved: Json, value: Any) -> str:
        found = self.member_or_user(value)
        user = found.get("user", found)
        resolved.setdefault("users", {})[user["id"]] = user
        if "user" in found and self.guild is not None:
            member = {k: v for k, v in found.items() if k != "user"}
            member["permissions"] = str(payloads.member_permissions(self.guild, found, self.channel))
            resolved.setdefault("members", {})[user["id"]] = member
        return user["id"]

    def add_channel(self, resolved: Json, value: Any) -> str:
        channel = self.channel_payload(value)
        permissions = self.channel_permissions(channel)
        resolved.setdefault("channels", {})[channel["id"]] = {**channel, "permissions": str(permissions)}
        return channel["id"]

    def add_role(self, resolved: Json, value: Any) -> str:
        role = self.role_payload(value)
        resolved.setdefault("roles", {})[role["id"]] = role
        return role["id"]

    def channel_permissions(self, channel: Json) -> int:
        if self.guild is None:
            return payloads.EVERYONE_PERMISSIONS
        bot = self.http.bot_member(self.guild["id"])
        return payloads.member_permissions(self.guild, bot, channel) if bot else payloads.BOT_PERMISSIONS

    # -- slash command options -------------------------------------------------------------------------------

    def build(
        self,
        label: str,
        schema: Sequence[Json],
        parameters: Sequence[app_commands.Parameter],
        given: Mapping[str, Any],
        *,
        validate: bool,
        focused: str | None = None,
    ) -> BuiltOptions:
        """Typed options for `given` (keyed by Python parameter name or Discord option name)."""
        by_name = {o["name"]: o for o in schema}
        display = {p.name: p.display_name for p in parameters}
        built = BuiltOptions()
        for key, value in given.items():
            name = display.get(key, key)
            if name not in by_name:
                raise OptionRejected(f"{label} has no option {key!r}; it has {sorted(by_name) or 'none'}")
            if value is None:
                continue
            option = by_name[name]
            if name == focused:
                built.options.append({"name": name, "type": option["type"], "value": str(value)})
                continue
            built.options.append(
                {"name": name, "type": option["type"], "value": self._value(label, option, value, built, validate)}
            )
        sent = {o["name"] for o in built.options}
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in sent]
        if validate and focused is None and missing:
            raise OptionRejected(f"{label} needs {missing}; Discord would not send it without them")
        return built

    def _value(self, label: str, option: Json, value: Any, built: BuiltOptions, validate: bool) -> Any:
        kind, name = option["type"], option["name"]
        where = f"{label} option {name!r} ({_TYPE_NAMES.get(kind, kind)})"
        if isinstance(value, app_commands.Choice):
            value = value.value
        choices = option.get("choices") or []
        if isinstance(value, enum.Enum):
            value = next((c["value"] for c in choices if c["name"] == value.name), value.value)
        if choices and not any(c["value"] == value for c in choices):
            by_label = next((c["value"] for c in choices if c["name"] == value), None)
            if by_label is not None:
                value = by_label
            elif validate:
                raise OptionRejected(f"{where}: {value!r} is not one of {[c['value'] for c in choices]}")
        try:
            if kind == STRING:
                value = str(value)
            elif kind == INTEGER:
                if isinstance(value, bool) or int(value) != value:
                    raise ValueError(value)
                value = int(value)
            elif kind == NUMBER:
                value = float(value)
            elif kind == BOOLEAN:
                if not isinstance(value, bool):
                    raise ValueError(value)
            elif kind == USER:
                return self.add_user(built.resolved, value)
            elif kind == ROLE:
                return self.add_role(built.resolved, value)
            elif kind == MENTIONABLE:
                role_ids = {r["id"] for r in (self.guild or {}).get("roles", [])}
                if _id_of(value) in role_ids:
                    return self.add_role(built.resolved, value)
                return self.add_user(built.resolved, value)
            elif kind == CHANNEL:
                channel_id = self.add_channel(built.resolved, value)
                allowed = option.get("channel_types")
                actual = built.resolved["channels"][channel_id]["type"]
                if validate and allowed and actual not in allowed:
                    raise OptionRejected(f"{where}: channel type {actual} is not one of {allowed}")
                return channel_id
            elif kind == ATTACHMENT:
                if not isinstance(value, Mapping) or "filename" not in value:
                    raise OptionRejected(f"{where}: pass an attachment from sandbox.attachment(filename, data)")
                built.resolved.setdefault("attachments", {})[value["id"]] = dict(value)
                return value["id"]
        except (TypeError, ValueError):
            raise OptionRejected(f"{where}: Discord's client cannot send {value!r}") from None
        if validate:
            self._check_bounds(where, option, value)
        return value

    @staticmethod
    def _check_bounds(where: str, option: Json, value: Any) -> None:
        if isinstance(value, str):
            low, high, measured = option.get("min_length"), option.get("max_length"), len(value)
            unit = " characters"
        else:
            low, high, measured = option.get("min_value"), option.get("max_value"), value
            unit = ""
        if (low is not None and measured < low) or (high is not None and measured > high):
            raise OptionRejected(f"{where}: {value!r} is outside {low}..{high}{unit}; Discord's client refuses it")
