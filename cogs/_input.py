"""Input at the edges: every slash command's options held to their limits before the command runs.

Discord's client enforces `app_commands.Range` and string lengths, but an interaction can be sent past them, so
`check_options` (called for every command by `CourseTree.interaction_check`) enforces them again:

- a string keeps to its declared length (at most `DEFAULT_MAX_LENGTH` when none is declared) and holds no
  control characters or text-direction overrides (`bot.services.plaintext`);
- an integer or a number keeps to its declared bounds (else Discord's own, ±2^53) and is finite.

A refused option raises `InvalidOption`, whose message names the option and its limit; nothing runs. Numbers
read back from a button's custom_id go through `custom_id_number`.
"""

from __future__ import annotations

import math

import discord
from discord import app_commands
from discord.enums import AppCommandOptionType

from bot.errors import InvalidOption
from bot.services.plaintext import describe_character, unsafe_character
from cogs._limits import NUMBER_OPTION_MAX

# Names, codes and other one-line values: an option with longer text declares its own `Range`.
DEFAULT_MAX_LENGTH = 100
# Our ids and Discord's snowflakes are signed 64-bit (BIGINT on PostgreSQL, INTEGER on SQLite), and start at 1:
# 0 names nothing, and still matches a custom_id template's `\d+`.
ID_MAX = 2**63 - 1
NO_SUCH_ID = 0

_NUMBERS = (AppCommandOptionType.integer, AppCommandOptionType.number)


def check_options(interaction: discord.Interaction) -> None:
    """Raise `InvalidOption` for the first option of the invoked slash command that breaks its limits."""
    if interaction.type is not discord.InteractionType.application_command:
        return  # autocomplete sees half-typed values, and its suggestions can't carry a message
    command = interaction.command
    if not isinstance(command, app_commands.Command):
        return  # context menus take no typed options
    namespace = interaction.namespace
    for parameter in command.parameters:
        value = getattr(namespace, parameter.display_name)
        if value is not None:
            check_option(parameter, value)


def check_option(parameter: app_commands.Parameter, value: object) -> None:
    """Raise `InvalidOption` when `value` breaks the limits of `parameter` (see the module docstring)."""
    name = parameter.display_name
    if parameter.type is AppCommandOptionType.string and isinstance(value, str):
        if (character := unsafe_character(value)) is not None:
            raise InvalidOption(
                name,
                f"can't contain control characters or text-direction marks (it has {describe_character(character)}). "
                "Type it again without them.",
            )
        longest = parameter.max_value if parameter.max_value is not None else DEFAULT_MAX_LENGTH
        if len(value) > longest:
            raise InvalidOption(name, f"takes at most {longest:,} characters; this one has {len(value):,}.")
        shortest = parameter.min_value or 0
        if len(value) < shortest:
            raise InvalidOption(name, f"needs at least {shortest:,} characters.")
    elif parameter.type in _NUMBERS and isinstance(value, int | float) and not isinstance(value, bool):
        low = parameter.min_value if parameter.min_value is not None else -NUMBER_OPTION_MAX
        high = parameter.max_value if parameter.max_value is not None else NUMBER_OPTION_MAX
        if not math.isfinite(value) or not low <= value <= high:
            raise InvalidOption(name, f"must be between {low:,} and {high:,}.")


def custom_id_number(digits: str) -> int:
    """The id in a custom_id's `\\d+` group; `NO_SUCH_ID` when it is past what the database stores.

    A forged id is then looked up, and not found, like any other unknown id, instead of overflowing the
    database driver.
    """
    number = int(digits)
    return number if number <= ID_MAX else NO_SUCH_ID
