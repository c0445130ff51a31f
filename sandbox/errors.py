"""Why the sandbox could not do what a test asked. All are AssertionErrors, so pytest reports them as failures."""

from __future__ import annotations


class SandboxError(AssertionError):
    """The sandbox could not carry out a step; the message says what was wrong and what exists instead."""


class OptionRejected(SandboxError):
    """Discord's client would refuse to send this: unknown or missing option, value out of range, hidden command."""


class CommandHidden(OptionRejected):
    """Discord hides the command from this member (its default permissions); the client cannot send it."""


class NoResponse(SandboxError):
    """The bot's handlers finished without answering the interaction ("The application did not respond")."""


class SandboxTimeout(SandboxError):
    """The bot neither answered nor finished within the timeout."""
