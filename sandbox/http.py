"""A fake Discord REST API installed under discord.py's HTTP layer.

`FakeDiscordHTTP` replaces `discord.http.HTTPClient.request`, `HTTPClient.get_from_cdn` and
`discord.webhook.async_.AsyncWebhookAdapter.request` at class level while it is started, so every bot in the
process talks to it. It records every request as a `RecordedCall` and answers the routes a course bot uses with
the JSON Discord would send (messages echo back complete with ids, so they can be edited later), reading and
changing the world it inherits from `store.DiscordStore`: guilds, members, channels, threads, DMs, messages,
synced commands and uploaded files.

Unknown routes are recorded and answered with empty JSON (`[]` for collections, `{}` otherwise). Tests can make
any route fail with a real `discord.HTTPException` subclass through `fail()`.
"""

from __future__ import annotations

import asyncio
import copy
import fnmatch
import io
import json
import mimetypes
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import discord
from discord.http import HTTPClient, Route
from discord.webhook.async_ import AsyncWebhookAdapter

from sandbox import payloads
from sandbox.messages import EPHEMERAL, LOADING, PostedMessage, RecordedFile
from sandbox.store import DiscordStore, InteractionRecord

Json = dict[str, Any]

_STATUS_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}
_DEFAULT_ERRORS = {403: (50013, "Missing Permissions"), 404: (10008, "Unknown Message")}
_MESSAGE_ROUTE_TYPES = {4, 5, 7}


@dataclass(slots=True)
class RecordedCall:
    """One request the bot made. `path` is concrete ("/channels/1/messages"), `route` discord.py's template."""

    method: str
    path: str
    route: str
    json: Any
    files: list[RecordedFile]
    params: dict[str, Any]
    reason: str | None
    status: int = 200
    response: Any = None
    message_id: int | None = None  # the message this call created or edited, if any

    def matches(self, method: str | None, pattern: str) -> bool:
        """`method` (None for any) and a glob over the concrete path or the route template."""
        if method is not None and method.upper() != self.method:
            return False
        return fnmatch.fnmatchcase(self.path, pattern) or fnmatch.fnmatchcase(self.route, pattern)

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


@dataclass(slots=True)
class InjectedFailure:
    """A planned error response; `remaining` counts down per matching call (None: fail forever)."""

    method: str | None
    pattern: str
    status: int
    code: int
    message: str
    remaining: int | None

    def build(self, call: RecordedCall) -> discord.HTTPException:
        return http_error(self.status, self.message, code=self.code, method=call.method, path=call.path)


class FakeResponse:
    """The parts of `aiohttp.ClientResponse` that `discord.HTTPException` and error handlers read."""

    def __init__(self, status: int, *, method: str = "GET", url: str = "", reason: str | None = None) -> None:
        self.status = status
        self.reason = reason or _STATUS_REASONS.get(status, "Internal Server Error" if status >= 500 else "Error")
        self.method = method
        self.url = url
        self.headers: dict[str, str] = {"content-type": "application/json"}


def http_error(
    status: int, message: str, *, code: int = 0, method: str = "GET", path: str = ""
) -> discord.HTTPException:
    """The exception discord.py raises for `status`: Forbidden, NotFound, DiscordServerError or HTTPException."""
    response = FakeResponse(status, method=method, url=Route.BASE + path)
    body = {"message": message, "code": code}
    if status == 403:
        return discord.Forbidden(response, body)
    if status == 404:
        return discord.NotFound(response, body)
    if status >= 500:
        return discord.DiscordServerError(response, body)
    return discord.HTTPException(response, body)


def _to_json_value(value: Any) -> Any:
    # Round-trip like discord.py does before sending, so the record holds exactly what Discord would receive
    # and a non-serialisable payload fails here as it would in production.
    return None if value is None else json.loads(json.dumps(value))


def _read_upload(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, io.IOBase) or hasattr(value, "read"):
        data = value.read()
        return data if isinstance(data, bytes) else str(data).encode()
    return bytes(value)


def _read_form(form: Iterable[Mapping[str, Any]]) -> tuple[Any, list[RecordedFile]]:
    body: Any = None
    files: list[RecordedFile] = []
    for part in form:
        if part["name"] == "payload_json":
            body = json.loads(part["value"])
        elif "filename" in part:
            content_type = part.get("content_type")
            if content_type in (None, "application/octet-stream"):
                content_type = mimetypes.guess_type(part["filename"])[0] or content_type
            files.append(RecordedFile(part["filename"], _read_upload(part["value"]), content_type))
    return body, files


_Handler = Callable[["FakeDiscordHTTP", RecordedCall, dict[str, str]], Any]
_ROUTES: list[tuple[str, re.Pattern[str], _Handler]] = []


_TOKEN, _SNOWFLAKE = r"[^/]+", r"\d+"


def _placeholder(match: re.Match[str]) -> str:
    name = match.group(1)
    return f"(?P<{name}>{_TOKEN if name == 'token' else _SNOWFLAKE})"


def _route(method: str, pattern: str) -> Callable[[_Handler], _Handler]:
    """Register a handler for `method` on `pattern`; `{token}` matches a token, other `{name}`s a snowflake."""
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", _placeholder, pattern) + "$")

    def register(handler: _Handler) -> _Handler:
        _ROUTES.append((method, regex, handler))
        return handler

    return register


class FakeDiscordHTTP(DiscordStore):
    """The fake REST side of Discord. Use as `async with FakeDiscordHTTP() as http:` or `start()`/`stop()`.

    Only one instance can be started at a time because the patches are class-level. An instance can be started
    again after `stop()`, keeping its world; that is how a test simulates a bot restart.
    """

    _active: ClassVar[FakeDiscordHTTP | None] = None

    def __init__(self, *, bot_user: Json | None = None, application_id: int = payloads.APPLICATION_ID) -> None:
        super().__init__(bot_user=bot_user, application_id=application_id)
        self.calls: list[RecordedCall] = []
        self.failures: list[InjectedFailure] = []
        self.gateway_url = "wss://gateway.discord.gg"
        self.shard_count = 1
        # Discord rejects interaction callbacks after 3 s; None leaves responses untimed.
        self.response_deadline: float | None = None
        self._activity: list[asyncio.Future[RecordedCall]] = []
        self._originals: dict[tuple[type, str], Any] = {}

    # -- installing -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Patch discord.py so all REST traffic in this process reaches this fake."""
        if FakeDiscordHTTP._active is self:
            return
        if FakeDiscordHTTP._active is not None:
            raise RuntimeError("another FakeDiscordHTTP is started; stop it (close its sandbox) first")
        fake = self

        async def http_request(
            client: HTTPClient,
            route: Route,
            *,
            files: Any = None,
            form: Iterable[Mapping[str, Any]] | None = None,
            **kwargs: Any,
        ) -> Any:
            return await fake.handle(
                route, json_body=kwargs.get("json"), form=form, params=kwargs.get("params"), reason=kwargs.get("reason")
            )

        async def webhook_request(
            adapter: AsyncWebhookAdapter,
            route: Route,
            session: Any,
            *,
            payload: Json | None = None,
            multipart: list[Json] | None = None,
            params: Json | None = None,
            reason: str | None = None,
            **kwargs: Any,
        ) -> Any:
            return await fake.handle(route, json_body=payload, form=multipart, params=params, reason=reason)

        async def get_from_cdn(client: HTTPClient, url: str) -> bytes:
            try:
                return fake.cdn[url]
            except KeyError:
                raise http_error(404, "asset not found", path=url) from None

        for owner, name, replacement in (
            (HTTPClient, "request", http_request),
            (HTTPClient, "get_from_cdn", get_from_cdn),
            (AsyncWebhookAdapter, "request", webhook_request),
        ):
            self._originals[(owner, name)] = owner.__dict__[name]
            setattr(owner, name, replacement)
        FakeDiscordHTTP._active = self

    def stop(self) -> None:
        """Restore discord.py's real HTTP methods. Safe to call twice."""
        if FakeDiscordHTTP._active is not self:
            return
        for (owner, name), original in self._originals.items():
            setattr(owner, name, original)
        self._originals.clear()
        FakeDiscordHTTP._active = None

    async def __aenter__(self) -> FakeDiscordHTTP:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    # -- recording and waiting ------------------------------------------------------------------------------

    def fail(
        self,
        method: str | None,
        pattern: str,
        *,
        status: int = 403,
        code: int | None = None,
        message: str | None = None,
        times: int | None = 1,
    ) -> InjectedFailure:
        """Answer the next `times` matching calls (None: all) with an error, raised as discord.py would raise it.

        `pattern` globs the concrete path or the route template, e.g. "/guilds/*/members/*/roles/*".
        """
        default_code, default_message = _DEFAULT_ERRORS.get(status, (0, _STATUS_REASONS.get(status, "Server Error")))
        failure = InjectedFailure(
            method.upper() if method else None,
            pattern,
            status,
            default_code if code is None else code,
            message or default_message,
            times,
        )
        self.failures.append(failure)
        return failure

    def calls_to(self, method: str | None, pattern: str = "*", *, since: int = 0) -> list[RecordedCall]:
        """Recorded calls matching `method` and the glob `pattern`, from index `since` on."""
        return [c for c in self.calls[since:] if c.matches(method, pattern)]

    def activity(self) -> asyncio.Future[RecordedCall]:
        """A future resolved with the next recorded call."""
        future = asyncio.get_running_loop().create_future()
        self._activity.append(future)
        return future

    async def wait_for_call(
        self,
        method: str | None,
        pattern: str = "*",
        *,
        since: int = 0,
        timeout: float = 5.0,  # noqa: ASYNC109 - the error lists the calls seen, which asyncio.timeout() cannot
    ) -> RecordedCall:
        """The first call from index `since` on that matches, waiting for it up to `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.calls_to(method, pattern, since=since)
            if found:
                return found[0]
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = ", ".join(str(c) for c in self.calls[since:]) or "nothing"
                raise TimeoutError(f"no {method or 'any'} {pattern} call within {timeout} s; saw {seen}")
            since = len(self.calls)
            next_call = self.activity()
            try:
                await asyncio.wait_for(asyncio.shield(next_call), remaining)
            except TimeoutError:
                next_call.cancel()

    async def handle(
        self,
        route: Route,
        *,
        json_body: Any = None,
        form: Iterable[Mapping[str, Any]] | None = None,
        params: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> Any:
        """Record one request and answer it (or raise the injected error)."""
        # A real request yields to the loop on its way out and again while its answer comes back: handlers that race
        # with their own responses see the first; in a burst, the other interactions' requests reach Discord before
        # this one's caller goes on (as they would: theirs were sent while this answer travelled).
        await asyncio.sleep(0)
        try:
            return self._handle_now(route, json_body=json_body, form=form, params=params, reason=reason)
        finally:
            await asyncio.sleep(0)

    def _handle_now(
        self,
        route: Route,
        *,
        json_body: Any,
        form: Iterable[Mapping[str, Any]] | None,
        params: Mapping[str, Any] | None,
        reason: str | None,
    ) -> Any:
        path = route.url[len(Route.BASE) :] if route.url.startswith(Route.BASE) else urlsplit(route.url).path
        body, files = _read_form(form) if form else (_to_json_value(json_body), [])
        call = RecordedCall(route.method, unquote(path), route.path, body, files, dict(params or {}), reason)
        self.calls.append(call)
        try:
            failure = self._take_failure(call)
            if failure is not None:
                raise failure.build(call)
            call.response = self._respond(call)
            if call.response is None:
                call.status = 204
            return copy.deepcopy(call.response)
        except discord.HTTPException as error:
            call.status = error.status
            raise
        finally:
            waiters, self._activity = self._activity, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(call)

    def _take_failure(self, call: RecordedCall) -> InjectedFailure | None:
        for failure in self.failures:
            if failure.remaining != 0 and call.matches(failure.method, failure.pattern):
                if failure.remaining is not None:
                    failure.remaining -= 1
                return failure
        return None

    def _respond(self, call: RecordedCall) -> Any:
        for method, regex, handler in _ROUTES:
            if method == call.method and (match := regex.match(call.path)):
                return handler(self, call, match.groupdict())
        if call.method == "DELETE":
            return None
        if call.method == "GET" and not call.route.endswith("}") and call.route.rstrip("/").endswith("s"):
            return []
        return {}

    # -- route handlers ---------------------------------------------------------------------------------------

    def _message(self, message_id: str | int, *, channel_id: str | None = None) -> PostedMessage:
        message = self.messages.get(int(message_id))
        if message is None or message.deleted or (channel_id and message.raw["channel_id"] != channel_id):
            raise http_error(404, "Unknown Message", code=10008)
        return message

    def _interaction(self, token: str) -> InteractionRecord:
        record = self.interactions.get(token)
        if record is None:
            raise http_error(404, "Unknown Webhook", code=10015)
        return record

    @_route("GET", "/users/@me")
    def _get_me(self, call: RecordedCall, _: dict[str, str]) -> Json:
        return self.bot_user

    @_route("GET", "/oauth2/applications/@me")
    def _get_application(self, call: RecordedCall, _: dict[str, str]) -> Json:
        owner_id = next((g["owner_id"] for g in self.guilds.values()), None)
        owner = self.users.get(owner_id or "") or payloads.user("owner")
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": owner,
            "team": None,
            "flags": 0,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "bot": self.bot_user,
        }

    @_route("GET", "/gateway")
    def _get_gateway(self, call: RecordedCall, _: dict[str, str]) -> Json:
        return {"url": self.gateway_url}

    @_route("GET", "/gateway/bot")
    def _get_bot_gateway(self, call: RecordedCall, _: dict[str, str]) -> Json:
        return {
            "url": self.gateway_url,
            "shards": self.shard_count,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
        }

    @_route("GET", "/users/{user_id}")
    def _get_user(self, call: RecordedCall, p: dict[str, str]) -> Json:
        if p["user_id"] not in self.users:
            raise http_error(404, "Unknown User", code=10013)
        return self.users[p["user_id"]]

    @_route("POST", "/users/@me/channels")
    def _open_dm(self, call: RecordedCall, _: dict[str, str]) -> Json:
        return self.open_dm_channel(call.json["recipient_id"])

    @_route("GET", "/channels/{channel_id}")
    def _get_channel(self, call: RecordedCall, p: dict[str, str]) -> Json:
        return self._known_channel(p["channel_id"])

    @_route("PATCH", "/channels/{channel_id}")
    def _edit_channel(self, call: RecordedCall, p: dict[str, str]) -> Json:
        channel = self._known_channel(p["channel_id"])
        body = call.json or {}
        is_thread = channel["type"] in (10, 11, 12)
        for key, value in body.items():
            if is_thread and key in ("archived", "locked", "invitable", "auto_archive_duration"):
                channel["thread_metadata"][key] = value
            elif key in ("name", "topic", "nsfw", "rate_limit_per_user", "position", "parent_id"):
                channel[key] = value
        self._emit("THREAD_UPDATE" if is_thread else "CHANNEL_UPDATE", channel)
        return channel

    @_route("POST", "/channels/{channel_id}/typing")
    def _typing(self, call: RecordedCall, _: dict[str, str]) -> None:
        return None

    @_route("POST", "/channels/{channel_id}/messages")
    def _send_message(self, call: RecordedCall, p: dict[str, str]) -> Json:
        recipients = self.channels.get(p["channel_id"], {}).get("recipients") or []
        if recipients and not any(self.member(guild_id, recipients[0]["id"]) for guild_id in self.guilds):
            # Discord lets a bot DM only users who share a server with it.
            raise http_error(403, "Cannot send messages to this user", code=50007)
        message = self._create_message(p["channel_id"], call.json, call.files)
        call.message_id = message.id
        return message.raw

    @_route("GET", "/channels/{channel_id}/messages")
    def _history(self, call: RecordedCall, p: dict[str, str]) -> list[Json]:
        limit = int(call.params.get("limit", 50))
        found = [m.raw for m in reversed(self.history(p["channel_id"]))]
        if "before" in call.params:
            found = [m for m in found if int(m["id"]) < int(call.params["before"])]
        if "after" in call.params:
            found = [m for m in found if int(m["id"]) > int(call.params["after"])]
        return found[:limit]

    @_route("GET", "/channels/{channel_id}/messages/{message_id}")
    def _get_message(self, call: RecordedCall, p: dict[str, str]) -> Json:
        return self._message(p["message_id"], channel_id=p["channel_id"]).raw

    @_route("PATCH", "/channels/{channel_id}/messages/{message_id}")
    def _edit_channel_message(self, call: RecordedCall, p: dict[str, str]) -> Json:
        message = self._message(p["message_id"], channel_id=p["channel_id"])
        if message.ephemeral:
            # Discord only lets the interaction webhook edit an ephemeral message.
            raise http_error(404, "Unknown Message", code=10008)
        call.message_id = message.id
        return self._edit_message(message, call.json, call.files).raw

    @_route("DELETE", "/channels/{channel_id}/messages/{message_id}")
    def _delete_channel_message(self, call: RecordedCall, p: dict[str, str]) -> None:
        self._delete_message(self._message(p["message_id"], channel_id=p["channel_id"]))

    @_route("POST", "/channels/{channel_id}/threads")
    def _start_thread(self, call: RecordedCall, p: dict[str, str]) -> Json:
        body = call.json or {}
        thread = self._new_thread(p["channel_id"], body, thread_id=None, private=body.get("type") == 12)
        if "message" in body:  # forum and media channels start a thread with its first message
            starter = self._create_message(thread["id"], body["message"], call.files, message_id=int(thread["id"]))
            thread["message"] = starter.raw
            call.message_id = starter.id
        return thread

    @_route("POST", "/channels/{channel_id}/messages/{message_id}/threads")
    def _start_thread_on_message(self, call: RecordedCall, p: dict[str, str]) -> Json:
        # A thread started from a message shares the message's id.
        return self._new_thread(p["channel_id"], call.json or {}, thread_id=int(p["message_id"]), private=False)

    def _new_thread(self, parent_id: str, body: Json, *, thread_id: int | None, private: bool) -> Json:
        parent = self.channels.get(parent_id)
        if parent is None or not parent.get("guild_id"):
            raise http_error(404, "Unknown Channel", code=10003)
        thread = payloads.thread(
            body.get("name", "thread"),
            parent=parent,
            owner_id=self.bot_user["id"],
            id=thread_id,
            private=private,
            auto_archive_duration=body.get("auto_archive_duration") or 1440,
        )
        if private and "invitable" in body:
            thread["thread_metadata"]["invitable"] = bool(body["invitable"])
        self.add_channel(thread)
        self._emit("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    @_route("PUT", "/channels/{channel_id}/thread-members/@me")
    @_route("DELETE", "/channels/{channel_id}/thread-members/@me")
    @_route("PUT", "/channels/{channel_id}/thread-members/{user_id}")
    @_route("DELETE", "/channels/{channel_id}/thread-members/{user_id}")
    def _thread_member(self, call: RecordedCall, p: dict[str, str]) -> None:
        self._known_channel(p["channel_id"])

    @_route("GET", "/guilds/{guild_id}")
    def _get_guild(self, call: RecordedCall, p: dict[str, str]) -> Json:
        guild = self._guild(p["guild_id"])
        skip = {"members", "channels", "threads", "presences", "voice_states"}
        return {k: v for k, v in guild.items() if k not in skip}

    @_route("GET", "/guilds/{guild_id}/channels")
    def _get_guild_channels(self, call: RecordedCall, p: dict[str, str]) -> list[Json]:
        return self._guild(p["guild_id"])["channels"]

    @_route("GET", "/guilds/{guild_id}/threads/active")
    def _get_active_threads(self, call: RecordedCall, p: dict[str, str]) -> Json:
        threads = [t for t in self._guild(p["guild_id"]).get("threads", []) if not t["thread_metadata"]["archived"]]
        return {"threads": threads, "members": []}

    @_route("GET", "/guilds/{guild_id}/roles")
    def _get_roles(self, call: RecordedCall, p: dict[str, str]) -> list[Json]:
        return self._guild(p["guild_id"])["roles"]

    @_route("POST", "/guilds/{guild_id}/roles")
    def _create_role(self, call: RecordedCall, p: dict[str, str]) -> Json:
        guild = self._guild(p["guild_id"])
        body = call.json or {}
        role = payloads.role(
            body.get("name") or "new role",
            permissions=int(body.get("permissions") or 0),
            color=int(body.get("color") or 0),
            hoist=bool(body.get("hoist")),
            mentionable=bool(body.get("mentionable")),
        )
        guild["roles"].append(role)
        self._emit("GUILD_ROLE_CREATE", {"guild_id": guild["id"], "role": role})
        return role

    @_route("GET", "/guilds/{guild_id}/members")
    def _get_members(self, call: RecordedCall, p: dict[str, str]) -> list[Json]:
        members = sorted(self._guild(p["guild_id"])["members"], key=lambda m: int(m["user"]["id"]))
        after = int(call.params.get("after", 0))
        return [m for m in members if int(m["user"]["id"]) > after][: int(call.params.get("limit", 1))]

    @_route("GET", "/guilds/{guild_id}/members/{user_id}")
    def _get_member(self, call: RecordedCall, p: dict[str, str]) -> Json:
        return self._member(p["guild_id"], p["user_id"])

    @_route("PATCH", "/guilds/{guild_id}/members/{user_id}")
    def _edit_member(self, call: RecordedCall, p: dict[str, str]) -> Json:
        member = self._member(p["guild_id"], p["user_id"])
        body = call.json or {}
        if "roles" in body:
            for role_id in body["roles"]:
                self._role(p["guild_id"], str(role_id))
            member["roles"] = [str(r) for r in body["roles"]]
        if "nick" in body:
            member["nick"] = body["nick"]
        self._emit_member_update(p["guild_id"], member)
        return member

    @_route("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
    def _add_role(self, call: RecordedCall, p: dict[str, str]) -> None:
        member = self._member(p["guild_id"], p["user_id"])
        self._role(p["guild_id"], p["role_id"])
        if p["role_id"] not in member["roles"]:
            member["roles"].append(p["role_id"])
            self._emit_member_update(p["guild_id"], member)

    @_route("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
    def _remove_role(self, call: RecordedCall, p: dict[str, str]) -> None:
        member = self._member(p["guild_id"], p["user_id"])
        self._role(p["guild_id"], p["role_id"])
        if p["role_id"] in member["roles"]:
            member["roles"].remove(p["role_id"])
            self._emit_member_update(p["guild_id"], member)

    def _guild(self, guild_id: str) -> Json:
        if guild_id not in self.guilds:
            raise http_error(404, "Unknown Guild", code=10004)
        return self.guilds[guild_id]

    def _known_channel(self, channel_id: str) -> Json:
        """The channel, or Discord's 404 (the store's `_channel` makes up one for a message to an unknown id)."""
        if channel_id not in self.channels:
            raise http_error(404, "Unknown Channel", code=10003)
        return self.channels[channel_id]

    def _member(self, guild_id: str, user_id: str) -> Json:
        self._guild(guild_id)
        member = self.member(guild_id, user_id)
        if member is None:
            raise http_error(404, "Unknown Member", code=10007)
        return member

    def _role(self, guild_id: str, role_id: str) -> Json:
        role = next((r for r in self._guild(guild_id)["roles"] if r["id"] == role_id), None)
        if role is None:
            raise http_error(404, "Unknown Role", code=10011)
        return role

    def _emit_member_update(self, guild_id: str, member: Json) -> None:
        self._emit("GUILD_MEMBER_UPDATE", {**member, "guild_id": guild_id})

    @_route("GET", "/applications/{application_id}/commands")
    @_route("GET", "/applications/{application_id}/guilds/{guild_id}/commands")
    def _get_commands(self, call: RecordedCall, p: dict[str, str]) -> list[Json]:
        return self.commands.get(p.get("guild_id"), [])

    @_route("PUT", "/applications/{application_id}/commands")
    @_route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
    def _sync_commands(self, call: RecordedCall, p: dict[str, str]) -> list[Json]:
        guild_id = p.get("guild_id")
        known = {(c["name"], c.get("type", 1)): c["id"] for c in self.commands.get(guild_id, [])}
        synced = []
        for command in call.json or []:
            entry = {
                "default_member_permissions": None,
                "nsfw": False,
                "options": [],
                **command,
                "id": known.get((command["name"], command.get("type", 1))) or str(payloads.snowflake()),
                "application_id": str(self.application_id),
                "version": str(payloads.snowflake()),
            }
            if guild_id:
                entry["guild_id"] = guild_id
            synced.append(entry)
        self.commands[guild_id] = synced
        return synced

    # -- interactions -----------------------------------------------------------------------------------------

    @_route("POST", "/interactions/{interaction_id}/{token}/callback")
    def _callback(self, call: RecordedCall, p: dict[str, str]) -> Json | None:
        record = self._interaction(p["token"])
        deadline = self.response_deadline
        if deadline is not None and asyncio.get_running_loop().time() - record.received_at > deadline:
            raise http_error(404, "Unknown interaction", code=10062)
        if record.response_type is not None:
            raise http_error(400, "Interaction has already been acknowledged.", code=40060)
        body = call.json or {}
        kind = int(body["type"])
        data = body.get("data") or {}
        record.response_type = kind
        record.responded_at = asyncio.get_running_loop().time()
        summary: Json = {
            "id": str(record.id),
            "type": record.type,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL),
        }
        resource: Json | None = None
        if kind == 4:
            message_type = 20 if record.type == 2 else 0
            message = self._create_message(
                record.channel["id"], data, call.files, interaction=record, message_type=message_type
            )
            record.original_message_id = message.id
        elif kind == 5:
            flags = (int(data.get("flags") or 0) & EPHEMERAL) | LOADING
            message = self._create_message(record.channel["id"], {}, [], interaction=record, flags=flags)
            record.original_message_id = message.id
            record.awaiting_first_followup = True
        elif kind in (6, 7) and record.source_message_id is not None:
            record.original_message_id = record.source_message_id
            message = self._message(record.source_message_id)
            if kind == 7:
                self._edit_message(message, data, call.files)
        elif kind == 8:
            record.choices = list(data.get("choices", []))
        elif kind == 9:
            record.modal = data
        if kind in _MESSAGE_ROUTE_TYPES and record.original_message_id is not None:
            message = self.messages[record.original_message_id]
            call.message_id = message.id
            summary["response_message_id"] = str(message.id)
            resource = {"type": kind, "message": message.raw}
        elif kind == 12:
            resource = {"type": kind, "activity_instance": {"id": str(payloads.snowflake())}}
        return {"interaction": summary} | ({"resource": resource} if resource else {})

    def _require_acknowledged(self, token: str) -> InteractionRecord:
        record = self._interaction(token)
        if record.response_type is None:
            # Until the interaction is acknowledged its webhook does not exist.
            raise http_error(404, "Unknown Webhook", code=10015)
        return record

    @_route("POST", "/webhooks/{application_id}/{token}")
    def _followup(self, call: RecordedCall, p: dict[str, str]) -> Json | None:
        record = self._require_acknowledged(p["token"])
        if record.awaiting_first_followup and record.original_message_id is not None:
            # After a "thinking" deferral the first followup replaces the placeholder and keeps its ephemerality.
            record.awaiting_first_followup = False
            message = self.messages[record.original_message_id]
            message.raw["flags"] = message.flags & ~LOADING
            message = self._edit_message(
                message, {k: v for k, v in (call.json or {}).items() if k != "flags"}, call.files
            )
        else:
            message = self._create_message(record.channel["id"], call.json, call.files, interaction=record)
        call.message_id = message.id
        return message.raw if str(call.params.get("wait", "1")) in ("1", "True", "true") else None

    def _webhook_message(self, token: str, message_id: str) -> tuple[InteractionRecord, PostedMessage]:
        record = self._require_acknowledged(token)
        if message_id == "@original":
            if record.original_message_id is None:
                raise http_error(404, "Unknown Message", code=10008)
            return record, self._message(record.original_message_id)
        return record, self._message(message_id)

    @_route("GET", "/webhooks/{application_id}/{token}/messages/@original")
    @_route("GET", "/webhooks/{application_id}/{token}/messages/{message_id}")
    def _get_webhook_message(self, call: RecordedCall, p: dict[str, str]) -> Json:
        return self._webhook_message(p["token"], p.get("message_id", "@original"))[1].raw

    @_route("PATCH", "/webhooks/{application_id}/{token}/messages/@original")
    @_route("PATCH", "/webhooks/{application_id}/{token}/messages/{message_id}")
    def _edit_webhook_message(self, call: RecordedCall, p: dict[str, str]) -> Json:
        record, message = self._webhook_message(p["token"], p.get("message_id", "@original"))
        if message.id == record.original_message_id and record.awaiting_first_followup:
            record.awaiting_first_followup = False
            message.raw["flags"] = message.flags & ~LOADING
        call.message_id = message.id
        return self._edit_message(message, call.json, call.files).raw

    @_route("DELETE", "/webhooks/{application_id}/{token}/messages/@original")
    @_route("DELETE", "/webhooks/{application_id}/{token}/messages/{message_id}")
    def _delete_webhook_message(self, call: RecordedCall, p: dict[str, str]) -> None:
        self._delete_message(self._webhook_message(p["token"], p.get("message_id", "@original"))[1])
