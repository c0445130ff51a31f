"""The one error handler: every failed command, button or modal ends here and gets a clear, private answer.

`describe` decides the answer and logs; `report` gives it to an interaction, `report_in_thread` to a message
posted in a thread (the tutor's).

This module is loaded as an extension (its `setup` wires `tree.on_error`), and discord.py executes
extensions afresh: so it defines no class that other modules import — `MissingLevel` lives in
`cogs._checks`, where it is raised.

Handlers are tried in order and the first whose type matches answers (the registry shape of
python-discord's bot-core). Domain errors show their own message; a database that is down, locked or too
slow (`is_database_fault`) gets one message saying nothing was lost, and a warning line in the log; anything
unexpected shows a short error id while the log gets the traceback with guild, user and command.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.app import interaction_failed
from bot.errors import CourseError, DatabaseUnavailable
from cogs._checks import MissingLevel, NotBotOperator
from cogs._ui import error_embed, send
from db.session import is_database_fault

if TYPE_CHECKING:
    from bot.app import CourseBot

log = logging.getLogger(__name__)


def _cooldown(error: app_commands.CommandOnCooldown) -> str:
    return f"You're going a bit fast. Try again in {error.retry_after:.0f} s."


def _transform(error: app_commands.TransformerError) -> str:
    return f"`{error.value}` isn't a valid {error.type.name.lower().replace('_', ' ')} here."


ERROR_MESSAGES: list[tuple[type[BaseException], Callable[[BaseException], str]]] = [
    (CourseError, str),
    (
        MissingLevel,
        lambda error: (
            f"Only members with the {error.needed.lower()} level can use this. "  # type: ignore[attr-defined]
            "Ask a server admin if you think you should."
        ),
    ),
    (
        NotBotOperator,
        lambda _: "This setting is shared by every server the bot is in, so only the bot's operator can change it.",
    ),
    (app_commands.NoPrivateMessage, lambda _: "Use this command in a server, not in DMs."),
    (app_commands.CommandOnCooldown, _cooldown),  # type: ignore[arg-type]
    (app_commands.TransformerError, _transform),  # type: ignore[arg-type]
    (app_commands.CheckFailure, lambda _: "You can't use this command here."),
]


def user_message(error: BaseException) -> str | None:
    """What to tell the user about `error`, or None when it is unexpected (a bug)."""
    for error_type, message_for in ERROR_MESSAGES:
        if isinstance(error, error_type):
            return message_for(error)
    if is_database_fault(error):
        return str(DatabaseUnavailable())
    return None


def unwrap(error: BaseException) -> BaseException:
    """The error a command, check or transformer raised, out of discord.py's wrappers."""
    while True:
        if isinstance(error, app_commands.CommandInvokeError):
            error = error.original
        elif isinstance(error, app_commands.TransformerError) and is_database_fault(error.__cause__ or error):
            error = error.__cause__ or error  # the value may be fine: the database that checks it did not answer
        else:
            return error


def describe(error: BaseException, *, context: str) -> discord.Embed:
    """What to show the user about `error`, logged as the module docstring says; `context` says, for the log,
    what failed for whom (e.g. "quiz start (guild 1, user 2)")."""
    error = unwrap(error)
    if is_database_fault(error):
        # Not a bug, and many users hit it at once: a line each for the operator, no traceback.
        log.warning("Database not answering in %s: %r", context, error)
    message = user_message(error)
    if message is not None:
        return error_embed(message)
    error_id = secrets.token_hex(4)
    log.error("Unexpected error %s in %s", error_id, context, exc_info=error)
    return error_embed(
        "Something went wrong on our side. Nothing you did was lost. If it keeps happening, tell an admin "
        f"the error id `{error_id}`.",
        title="Unexpected error",
    )


async def report(interaction: discord.Interaction, error: BaseException) -> None:
    """Answer the interaction privately with what went wrong (see `describe`)."""
    if interaction.command is None:  # a button, select or modal; commands are counted by `CourseTree`
        interaction_failed(interaction)
    command = interaction.command.qualified_name if interaction.command else (interaction.data or {}).get("custom_id")
    embed = describe(error, context=f"{command} (guild {interaction.guild_id}, user {interaction.user.id})")
    try:
        await send(interaction, embed=embed)
    except discord.HTTPException:
        log.warning("Could not deliver an error message to user %s (interaction expired?)", interaction.user.id)


async def report_in_thread(message: discord.Message, error: BaseException) -> None:
    """`report` for a message posted in a thread, which has no interaction to answer: the reply says it."""
    guild_id = message.guild.id if message.guild else None
    embed = describe(error, context=f"thread {message.channel.id} (guild {guild_id}, user {message.author.id})")
    with suppress(discord.HTTPException):  # the thread may be gone or locked: nobody is left to tell
        await message.reply(embed=embed, mention_author=False)


async def setup(bot: CourseBot) -> None:
    bot.tree.on_error = report  # type: ignore[method-assign,assignment]
