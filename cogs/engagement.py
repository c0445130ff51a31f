"""`/streak` and `/leaderboard`: the daily habit and the friendly competition."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.services import courses, leaderboard, reviews, streaks
from cogs._autocomplete import published_courses
from cogs._ui import embed, in_pages
from cogs._views import Paginator

PERIOD_NAMES = {"week": "this week", "month": "this month", "all": "all time"}
MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}
PAGES = 5


def calendar(days: tuple[bool, ...]) -> str:
    """Four rows of seven days, oldest first; today is the last square."""
    squares = ["🟩" if active else "⬜" for active in days]
    return "\n".join("".join(squares[week : week + 7]) for week in range(0, len(squares), 7))


class Engagement(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @app_commands.command(description="Your daily study streak and the last four weeks")
    async def streak(self, interaction: discord.Interaction) -> None:
        async with self.bot.db.session_scope() as session:
            shown = await streaks.streak_today(session, user_id=interaction.user.id, now=self.bot.clock.now())
            cards = await reviews.outlook(
                session, user_id=interaction.user.id, now=self.bot.clock.now(), settings=self.bot.settings.reviews
            )
        view = shown.view
        flame = "🔥" if view.current else "·"
        reply = embed(
            f"{flame} {view.current}-day streak",
            f"{calendar(view.last_28_days)}\n\nLongest: **{view.longest}** days · active days: "
            f"**{view.total_active_days}** · freezes: **{view.freezes_available}** 🧊\n"
            f"Days follow your time zone ({shown.time_zone}); change it with `/profile timezone zone:`.",
        )
        if cards.cards:
            recall = f" · you would recall **{cards.recall_share:.0%}** now" if cards.recall_share is not None else ""
            reply.add_field(
                name="Reviews",
                value=f"Due today: **{cards.due_today}** · this week: **{cards.due_this_week}**{recall}. `/review`",
                inline=False,
            )
        await interaction.response.send_message(embed=reply, ephemeral=True)

    @app_commands.command(description="Who earned the most XP")
    @app_commands.describe(course="Only this course (default: the whole server)", period="Which time span")
    @app_commands.autocomplete(course=published_courses)
    @app_commands.guild_only()
    async def leaderboard(
        self,
        interaction: discord.Interaction,
        course: str | None = None,
        period: Literal["week", "month", "all"] = "week",
    ) -> None:
        assert interaction.guild_id is not None
        page_size = self.bot.settings.leaderboard.page_size
        async with self.bot.db.session_scope() as session:
            board = await leaderboard.board(
                session,
                guild_id=interaction.guild_id,
                course_code=course,
                period=period,
                now=self.bot.clock.now(),
                limit=page_size * PAGES,
                viewer_id=interaction.user.id,
            )
        scope = courses.normalise_code(course) if course else "this server"
        title = f"Leaderboard · {scope} · {PERIOD_NAMES[period]}"
        you = (
            f"You: **#{board.viewer.rank}** with {board.viewer.xp} XP"
            if board.viewer
            else "You have no XP here yet (or you hid yourself with `/profile leaderboard visible:off`)."
        )
        if not board.entries:
            await interaction.response.send_message(embed=embed(title, f"No XP earned yet.\n\n{you}"), ephemeral=True)
            return
        pages = []
        for page in in_pages(board.entries, page_size):
            lines = [
                f"{MEDALS.get(entry.rank, f'`#{entry.rank}`')} {discord.utils.escape_markdown(entry.display_name)}"
                f" — {entry.xp} XP" + (" ← you" if entry.user_id == interaction.user.id else "")
                for entry in page
            ]
            pages.append(embed(title, "\n".join(lines) + f"\n\n{you}"))
        await Paginator(pages, owner_id=interaction.user.id).start(interaction)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Engagement(bot))
