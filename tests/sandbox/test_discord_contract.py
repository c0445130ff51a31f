"""The private parts of discord.py the sandbox relies on. If one of these fails, discord.py changed under us:
the message names the sandbox module to adapt. Nothing here tests the bot."""

from __future__ import annotations

import inspect
import io
from typing import Any

import discord
import discord.utils
import pytest
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient, Route, handle_message_parameters
from discord.state import AutoShardedConnectionState, ConnectionState
from discord.webhook.async_ import AsyncWebhookAdapter

from sandbox.http import http_error

PARSERS_USED = (
    "READY",
    "GUILD_CREATE",
    "INTERACTION_CREATE",
    "MESSAGE_CREATE",
    "MESSAGE_UPDATE",
    "MESSAGE_DELETE",
    "THREAD_CREATE",
    "GUILD_MEMBER_ADD",
    "GUILD_MEMBER_UPDATE",
    "GUILD_ROLE_CREATE",
)


def parameters(function: Any) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(function).parameters)


def test_discord_py_is_the_version_the_sandbox_was_written_for() -> None:
    assert discord.version_info[:2] == (2, 7), (
        f"discord.py {discord.__version__}: re-run this contract suite and the sandbox tests before trusting them"
    )


def test_http_client_request_is_patchable_with_the_same_signature() -> None:
    assert "request" in HTTPClient.__dict__, "HTTPClient.request moved; sandbox/http.py patches it on the class"
    params = parameters(HTTPClient.request)
    assert list(params)[:2] == ["self", "route"], "HTTPClient.request(self, route, ...) changed"
    assert params["files"].kind is params["form"].kind is inspect.Parameter.KEYWORD_ONLY, (
        "HTTPClient.request no longer takes files=/form= keywords; sandbox/http.py reads multipart from form="
    )
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()), (
        "HTTPClient.request lost **kwargs (json=, params=, reason=); sandbox/http.py reads them from there"
    )


def test_http_client_fetches_cdn_files_through_one_method() -> None:
    assert list(parameters(HTTPClient.get_from_cdn)) == ["self", "url"], (
        "HTTPClient.get_from_cdn(self, url) changed; sandbox/http.py serves Attachment.read() through it"
    )


def test_webhook_adapter_request_is_patchable_with_the_same_signature() -> None:
    assert "request" in AsyncWebhookAdapter.__dict__, "AsyncWebhookAdapter.request moved (sandbox/http.py)"
    params = parameters(AsyncWebhookAdapter.request)
    assert list(params)[:3] == ["self", "route", "session"], "AsyncWebhookAdapter.request(self, route, session)"
    for keyword in ("payload", "multipart", "params", "reason", "files"):
        assert params[keyword].kind is inspect.Parameter.KEYWORD_ONLY, (
            f"AsyncWebhookAdapter.request lost {keyword}=; sandbox/http.py forwards it"
        )


def test_routes_expose_method_template_and_url() -> None:
    route = Route("PATCH", "/channels/{channel_id}/messages/{message_id}", channel_id=1, message_id=2)
    assert (route.method, route.path) == ("PATCH", "/channels/{channel_id}/messages/{message_id}")
    assert route.url == Route.BASE + "/channels/1/messages/2", "Route.url is no longer BASE + formatted path"


def test_uploads_are_sent_as_payload_json_plus_file_parts() -> None:
    params = handle_message_parameters(content="hi", file=discord.File(io.BytesIO(b"x"), filename="a.txt"))
    names = [part["name"] for part in params.multipart or []]
    assert names == ["payload_json", "files[0]"], f"multipart layout changed to {names} (sandbox/http.py)"
    assert params.multipart is not None and params.multipart[1]["filename"] == "a.txt"


def test_connection_state_has_the_parsers_the_sandbox_feeds() -> None:
    client = discord.Client(intents=discord.Intents.default())
    state = client._connection
    assert isinstance(state, ConnectionState), "Client._connection is gone (sandbox/harness.py feeds it)"
    missing = [event for event in PARSERS_USED if event not in state.parsers]
    assert not missing, f"ConnectionState.parsers lacks {missing} (sandbox/harness.py and gateway.py)"
    assert isinstance(state.guild_ready_timeout, float), "ConnectionState.guild_ready_timeout is gone (harness.py)"


def test_auto_sharded_state_takes_its_shards_from_attributes() -> None:
    client = discord.AutoShardedClient(intents=discord.Intents.default())
    state = client._connection
    assert isinstance(state, AutoShardedConnectionState)
    assert hasattr(state, "shard_ids") and hasattr(state, "shard_count") and hasattr(client, "shard_count"), (
        "the sandbox sets shard_ids/shard_count itself because it skips launch_shards() (harness.py)"
    )
    assert "data['shard']" in inspect.getsource(AutoShardedConnectionState.parse_ready), (
        "AutoShardedConnectionState.parse_ready no longer reads READY's shard (payloads.ready)"
    )


def test_event_handler_tasks_are_named_for_the_event() -> None:
    source = inspect.getsource(discord.Client._schedule_event)
    assert "name=f'discord.py: {event_name}'" in source, (
        "Client._schedule_event stopped naming tasks 'discord.py: <event>'; harness.start() awaits on_ready by it"
    )


def test_plain_clients_connect_to_the_class_default_gateway() -> None:
    assert isinstance(DiscordWebSocket.DEFAULT_GATEWAY, yarl.URL)
    source = inspect.getsource(DiscordWebSocket.from_client)
    assert "cls.DEFAULT_GATEWAY" in source, (
        "DiscordWebSocket.from_client no longer falls back to DEFAULT_GATEWAY; sandbox/gateway.py points it"
    )


def test_gateway_compression_is_one_the_fake_gateway_understands() -> None:
    kind = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    assert kind in ("zlib-stream", "zstd-stream"), f"discord.py now asks for {kind} (sandbox/gateway.py)"


def test_intents_can_be_rebuilt_from_their_value() -> None:
    value = discord.Intents.default().value
    assert discord.Intents._from_value(value).value == value, "Intents._from_value changed (gateway.py)"


def test_commands_render_the_schema_discord_holds() -> None:
    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.default()))

    @tree.command(description="d")
    async def rate(interaction: discord.Interaction, stars: app_commands.Range[int, 1, 5]) -> None: ...

    schema = rate.to_dict(tree)
    assert schema["options"][0] == {
        "type": 4,
        "name": "stars",
        "description": "…",
        "required": True,
        "min_value": 1,
        "max_value": 5,
    }, "Command.to_dict(tree) output changed (sandbox/options.py builds options from it)"


@pytest.mark.parametrize(
    ("status", "kind"), [(403, discord.Forbidden), (404, discord.NotFound), (500, discord.DiscordServerError)]
)
def test_http_errors_build_from_a_minimal_response(status: int, kind: type[discord.HTTPException]) -> None:
    error = http_error(status, "Missing Permissions", code=50013)
    assert isinstance(error, kind) and error.status == status and error.code == 50013
    assert error.text == "Missing Permissions", "HTTPException(response, data) reads more of the response now"
