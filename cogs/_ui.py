"""Shared Discord rendering: embed builders, colours, progress bars, and one way to reply.

Nothing here decides anything; it only shapes what services returned so Discord accepts it (its limits are in
`cogs._limits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import discord

from cogs._limits import (
    EMBED_DESCRIPTION_MAX,
    EMBED_FIELD_NAME_MAX,
    EMBED_FIELD_VALUE_MAX,
    EMBED_FIELDS_MAX,
    EMBED_TITLE_MAX,
    EMBED_TOTAL_MAX,
)

Listed = TypeVar("Listed")

BRAND = discord.Colour.blurple()
SUCCESS = discord.Colour.green()
FAILURE = discord.Colour.red()


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def embed(title: str, description: str = "", *, colour: discord.Colour = BRAND) -> discord.Embed:
    return discord.Embed(
        title=clip(title, EMBED_TITLE_MAX), description=clip(description, EMBED_DESCRIPTION_MAX), colour=colour
    )


def add_fields(target: discord.Embed, fields: Sequence[tuple[str, str]], *, inline: bool = False) -> discord.Embed:
    """Add as many (name, value) fields as Discord allows in one embed; the rest is summarised."""
    room = EMBED_TOTAL_MAX - len(target)
    for index, (name, value) in enumerate(fields):
        name, value = clip(name, EMBED_FIELD_NAME_MAX), clip(value or "—", EMBED_FIELD_VALUE_MAX)
        left = len(fields) - index
        if (len(target.fields) == EMBED_FIELDS_MAX - 1 and left > 1) or len(name) + len(value) + 40 > room:
            target.add_field(name="…", value=f"and {left} more", inline=False)
            break
        target.add_field(name=name, value=value, inline=inline)
        room -= len(name) + len(value)
    return target


def error_embed(message: str, *, title: str = "Can't do that") -> discord.Embed:
    return embed(title, message, colour=FAILURE)


def success_embed(title: str, description: str = "") -> discord.Embed:
    return embed(title, description, colour=SUCCESS)


def in_pages(items: Sequence[Listed], per_page: int) -> list[Sequence[Listed]]:
    """`items` cut into pages of `per_page` (the last may hold fewer), in order; no items, no pages."""
    return [items[start : start + per_page] for start in range(0, len(items), per_page)]


def progress_bar(done: int, total: int, width: int = 10) -> str:
    """`▰▰▰▱▱▱▱▱▱▱ 3/10 (30%)`; an empty total reads as nothing to do."""
    if total <= 0:
        return "▱" * width + " 0/0"
    filled = round(width * done / total)
    return f"{'▰' * filled}{'▱' * (width - filled)} {done}/{total} ({round(100 * done / total)}%)"


async def send(interaction: discord.Interaction, *, ephemeral: bool = True, **message: object) -> None:
    """Reply whether or not the interaction was already answered or deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(ephemeral=ephemeral, **message)  # type: ignore[arg-type]
    else:
        await interaction.response.send_message(ephemeral=ephemeral, **message)  # type: ignore[arg-type]
