"""`/lesson …`: read a course in order, jump to a lesson, or pick up where you left off."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.services import navigation
from bot.services.navigation import CourseEnd, LessonPage, Move
from cogs._autocomplete import courses_you_take, lessons_of_your_course
from cogs._limits import EMBED_DESCRIPTION_MAX
from cogs._text import split_for_discord, strip_mentions
from cogs._ui import embed, send, success_embed
from cogs._views import Paginator
from db.models import ContentKind

# Room for the objectives line above the body on the first page.
PAGE_CHARS = EMBED_DESCRIPTION_MAX - 400


def lesson_pages(lesson: LessonPage) -> list[discord.Embed]:
    """A lesson as embeds: one per page, split at paragraph boundaries, code blocks kept whole."""
    if lesson.kind is ContentKind.QUIZ:
        body = f"{lesson.body}\n\nThis is a quiz. Start it with `/quiz start quiz:{lesson.slug}`."
    else:
        body = lesson.body
    chunks = split_for_discord(strip_mentions(body), PAGE_CHARS) or [""]
    if lesson.objectives:
        goals = "\n".join(f"• {objective}" for objective in lesson.objectives)
        chunks[0] = f"**You will learn**\n{strip_mentions(goals)}\n\n{chunks[0]}"
    minutes = f" · about {lesson.estimated_minutes} min" if lesson.estimated_minutes else ""
    done = " · done ✓" if lesson.completed else ""
    pages = []
    for chunk in chunks:
        page = embed(f"{lesson.title}", chunk)
        page.set_author(name=f"{lesson.course_code} · {lesson.module_title}")
        page.set_footer(text=f"Item {lesson.position}/{lesson.total}{minutes}{done}")
        pages.append(page)
    return pages


@app_commands.guild_only()
class Lessons(commands.GroupCog, group_name="lesson", group_description="Read your course"):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    async def _show(
        self, interaction: discord.Interaction, to: Move, course: str | None, lesson: str | None = None
    ) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            page = await navigation.move(
                session,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                course_code=course,
                to=to,
                lesson=lesson,
                now=self.bot.clock.now(),
                settings=self.bot.settings,
            )
        if isinstance(page, CourseEnd):
            text = (
                "You finished every item. Congratulations! 🎉"
                if page.course_completed
                else "That was the last item. `/course progress` shows what is left to finish."
            )
            if page.xp_awarded:
                text += f"\n+{page.xp_awarded} XP"
            await send(interaction, embed=success_embed(f"End of {page.course_code}", text))
            return
        pages = lesson_pages(page)
        if page.xp_awarded:
            pages[0].set_footer(text=f"{pages[0].footer.text} · +{page.xp_awarded} XP for the last lesson")
        if page.course_completed:
            pages[0].description = f"🎉 You completed {page.course_code}!\n\n{pages[0].description}"
        await Paginator(pages, owner_id=interaction.user.id).start(interaction)

    @app_commands.command(description="Open the next lesson (and mark this one done)")
    @app_commands.autocomplete(course=courses_you_take)
    async def next(self, interaction: discord.Interaction, course: str | None = None) -> None:
        await self._show(interaction, "next", course)

    @app_commands.command(description="Go back to the previous lesson")
    @app_commands.autocomplete(course=courses_you_take)
    async def prev(self, interaction: discord.Interaction, course: str | None = None) -> None:
        await self._show(interaction, "prev", course)

    @app_commands.command(description="Open a lesson by name")
    @app_commands.describe(lesson="Start typing the lesson's title")
    @app_commands.autocomplete(lesson=lessons_of_your_course, course=courses_you_take)
    async def open(self, interaction: discord.Interaction, lesson: str, course: str | None = None) -> None:
        await self._show(interaction, "open", course, lesson)

    @app_commands.command(description="Reopen the lesson you were reading")
    @app_commands.autocomplete(course=courses_you_take)
    async def resume(self, interaction: discord.Interaction, course: str | None = None) -> None:
        await self._show(interaction, "resume", course)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Lessons(bot))
