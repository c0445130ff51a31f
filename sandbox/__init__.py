"""An offline Discord for running the real bot through real discord.py parsing, in tests and in the console.

`harness.DiscordSandbox` is the entry point; `http.FakeDiscordHTTP` is the fake REST API underneath it,
`gateway.FakeGateway` a websocket gateway for end-to-end runs, and `payloads` builds gateway payloads.
"""

from sandbox.errors import CommandHidden, NoResponse, OptionRejected, SandboxError, SandboxTimeout
from sandbox.harness import DiscordSandbox, Reply
from sandbox.http import FakeDiscordHTTP, RecordedCall

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
