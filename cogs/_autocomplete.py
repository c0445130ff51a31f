"""Autocomplete for course, lesson and quiz options. Each reads what the member may pick, and never fails
loudly: a broken suggestion list must not stop someone from typing the value by hand.

`matching` turns (value, label) pairs into the choices Discord shows for what was typed; `/admin`'s own
autocompletes use it too."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

import discord
from discord import app_commands

from bot.errors import CourseError
from bot.services import courses, navigation, practice, quizzes
from cogs._limits import AUTOCOMPLETE_CHOICES_MAX, CHOICE_NAME_MAX
from cogs._ui import clip

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.app import CourseBot

log = logging.getLogger(__name__)
Choices = list[app_commands.Choice[str]]
Value = TypeVar("Value", str, int)
Found = TypeVar("Found")
Found_co = TypeVar("Found_co", covariant=True)


def matching(pairs: Sequence[tuple[Value, str]], typed: str) -> list[app_commands.Choice[Value]]:
    """(value, label) pairs whose value or label contains what was typed, as Discord choices: the first ones,
    as many as Discord shows."""
    needle = typed.strip().lower()
    found = [(value, label) for value, label in pairs if needle in str(value).lower() or needle in label.lower()]
    return [
        app_commands.Choice(name=clip(label, CHOICE_NAME_MAX), value=value)
        for value, label in found[:AUTOCOMPLETE_CHOICES_MAX]
    ]


async def _course_pairs(interaction: discord.Interaction, *, include_unpublished: bool) -> list[tuple[str, str]]:
    bot: CourseBot = interaction.client  # type: ignore[assignment]
    if interaction.guild_id is None:
        return []
    async with bot.db.session_scope() as session:
        listed = await courses.list_courses(
            session, guild_id=interaction.guild_id, user_id=interaction.user.id, include_unpublished=include_unpublished
        )
    return [(course.code, f"{course.code} · {course.title}") for course in listed]


async def published_courses(interaction: discord.Interaction, current: str) -> Choices:
    return matching(await _course_pairs(interaction, include_unpublished=False), current)


async def courses_you_take(interaction: discord.Interaction, current: str) -> Choices:
    bot: CourseBot = interaction.client  # type: ignore[assignment]
    if interaction.guild_id is None:
        return []
    async with bot.db.session_scope() as session:
        listed = await courses.list_courses(session, guild_id=interaction.guild_id, user_id=interaction.user.id)
    return matching(
        [(course.code, f"{course.code} · {course.title}") for course in listed if course.enrollment_status], current
    )


async def courses_you_teach(interaction: discord.Interaction, current: str) -> Choices:
    return matching(await _course_pairs(interaction, include_unpublished=True), current)


class CourseReader(Protocol[Found_co]):
    """A service read of what a member has in one of their courses (their latest when `course_code` is None)."""

    def __call__(
        self, session: AsyncSession, *, guild_id: int, user_id: int, course_code: str | None
    ) -> Awaitable[Found_co]: ...


async def _in_your_course(interaction: discord.Interaction, read: CourseReader[Found]) -> Found | None:
    """What `read` finds for the course named in the `course` option (or the member's latest); None outside a
    server or where they are not enrolled: nothing to suggest."""
    bot: CourseBot = interaction.client  # type: ignore[assignment]
    if interaction.guild_id is None:
        return None
    try:
        async with bot.db.session_scope() as session:
            return await read(
                session,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                course_code=getattr(interaction.namespace, "course", None),
            )
    except CourseError:
        return None


async def lessons_of_your_course(interaction: discord.Interaction, current: str) -> Choices:
    outline = await _in_your_course(interaction, navigation.outline_titles)
    return matching(outline or [], current)


async def quiz_titles_choices(interaction: discord.Interaction, current: str) -> Choices:
    found = await _in_your_course(interaction, quizzes.quiz_titles)
    return matching(found or [], current)


async def concepts_of_your_course(interaction: discord.Interaction, current: str) -> Choices:
    """The concepts of the student's course with their mastery; one that needs another mastered first says so."""
    concepts = await _in_your_course(interaction, practice.mastery_bars)
    by_id = {concept.concept_id: concept for concept in concepts or []}

    def label(concept: practice.ConceptStanding) -> str:
        if practice.locked_by(concept, by_id):
            return f"🔒 {concept.name} (needs another concept first)"
        return f"{concept.name} · {concept.level.value.replace('_', ' ').lower()} {round(concept.confidence * 100)}%"

    return matching([(concept.slug, label(concept)) for concept in by_id.values() if concept.questions], current)
