"""An offline Discord for running the real bot through real discord.py parsing, in tests and in the console.

`harness.DiscordSandbox` is the entry point, stacked on `world` (the default guild, its members, roles and
channels) and `driver` (slash commands, autocomplete, buttons, selects, modals, messages); each act returns a
`reply.Reply`. Underneath, `http.FakeDiscordHTTP` is the fake REST API over `store.DiscordStore`, what Discord
keeps; `gateway.FakeGateway` is a websocket gateway for end-to-end runs; `payloads` builds gateway payloads and
`options` a slash command's options.
"""

from sandbox.errors import CommandHidden, NoResponse, OptionRejected, SandboxError, SandboxTimeout
from sandbox.harness import DiscordSandbox
from sandbox.http import FakeDiscordHTTP, RecordedCall
from sandbox.reply import Reply

__all__ = [
    "CommandHidden",
    "DiscordSandbox",
    "FakeDiscordHTTP",
    "NoResponse",
    "OptionRejected",
    "RecordedCall",
    "Reply",
    "SandboxError",
    "SandboxTimeout",
]
