"""`/feedback`: members report a bug, an idea or a content problem in a modal and get a reference number; with a
feedback channel set in `/admin setup`, each request is also posted there with a +1 button.

This cog also delivers what the human loop sends on its own through the outbox (`bot.notification_senders`): the
one re-announcement of an Ask-a-TA post nobody claimed, and a member's DM when their request changes status or
staff decide on material they submitted. It registers the buttons of `cogs/_escalation_views.py` and
`cogs/_submission_views.py`, so they work after a restart.
"""

from __future__ import annotations

import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.services import feedback, outbox, tenancy
from bot.services.feedback import KIND_NAMES, STATUS_NAMES, RequestView
from bot.services.outbox import Claimed
from bot.tutor import escalations
from cogs import _escalation_views, _submission_views
from cogs._autocomplete import lessons_of_your_course, published_courses
from cogs._escalation_views import post_for_staff
from cogs._limits import EMBED_DESCRIPTION_MAX, MODAL_TITLE_MAX
from cogs._staff_views import bot_of
from cogs._text import strip_mentions
from cogs._ui import clip, embed, send, success_embed
from cogs._views import Form, RowButton
from db.models import NotificationKind, RequestKind

log = logging.getLogger(__name__)

HUMAN_LOOP_KINDS = (
    NotificationKind.ESCALATION_REANNOUNCE,
    NotificationKind.REQUEST_STATUS,
    NotificationKind.SUBMISSION_DECISION,
)
KIND_OPTIONS: dict[str, RequestKind] = {
    "bug": RequestKind.BUG,
    "idea": RequestKind.IDEA,
    "content": RequestKind.CONTENT,
}


def request_embed(request: RequestView) -> discord.Embed:
    """A request as staff and members read it; a content problem links to its lesson."""
    lines = [strip_mentions(request.details)]
    if request.lesson_slug and request.course_code:
        title = strip_mentions(request.lesson_title or request.lesson_slug)
        lines.append(
            f"\n📖 Lesson: **{title}** · `/lesson open course:{request.course_code} lesson:{request.lesson_slug}`"
        )
    elif request.course_code:
        lines.append(f"\nCourse: {request.course_code}")
    if request.admin_note:
        lines.append(f"\nStaff note: {strip_mentions(request.admin_note)}")
    page = embed(
        clip(f"#{request.id} · {strip_mentions(request.title)}", 256), clip("\n".join(lines), EMBED_DESCRIPTION_MAX)
    )
    page.set_footer(
        text=f"{KIND_NAMES[request.kind]} · {STATUS_NAMES[request.status]} · 👍 {request.votes}",
    )
    return page


class FeedbackForm(Form):
    title_input: discord.ui.TextInput[FeedbackForm] = discord.ui.TextInput(
        label="Title", max_length=feedback.TITLE_CHARS, placeholder="In a few words"
    )
    details: discord.ui.TextInput[FeedbackForm] = discord.ui.TextInput(
        label="Details",
        style=discord.TextStyle.paragraph,
        max_length=feedback.DETAILS_CHARS,
        placeholder="What happened, or what you would like",
    )

    def __init__(self, kind: RequestKind, course: str | None, lesson: str | None) -> None:
        super().__init__(title=clip(f"Send feedback: {KIND_NAMES[kind]}", MODAL_TITLE_MAX))
        self.kind, self.course, self.lesson = kind, course, lesson

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.send(interaction, title=self.title_input.value, details=self.details.value)

    async def send(self, interaction: discord.Interaction, *, title: str, details: str) -> None:
        """Record the request, give its reference, and post it in the feedback channel when there is one."""
        assert interaction.guild_id is not None
        bot = bot_of(interaction)
        async with bot.db.session_scope() as session:
            request = await feedback.send_feedback(
                session,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                kind=self.kind,
                title=title,
                details=details,
                course_code=self.course,
                lesson=self.lesson,
                now=bot.clock.now(),
                per_hour=bot.settings.human.feedback_per_hour,
            )
            channel_id = (await tenancy.guild_config(session, interaction.guild_id)).feedback_channel_id
        await send(
            interaction,
            embed=success_embed(
                f"Thanks! Your reference is #{request.id}",
                "The people who run this server will read it. You'll get a DM when its status changes.",
            ),
        )
        if channel_id is not None:
            await post_request(bot, request, channel_id)


async def post_request(bot: CourseBot, request: RequestView, channel_id: int) -> None:
    """Post the request in the feedback channel with its +1 button (members vote there)."""
    channel = bot.get_partial_messageable(channel_id, guild_id=request.guild_id)
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(request.id))
    try:
        posted = await channel.send(
            embed=request_embed(request), view=view, allowed_mentions=discord.AllowedMentions.none()
        )
    except discord.HTTPException as error:
        log.warning("Could not post request %d in channel %s (HTTP %s)", request.id, channel_id, error.status)
        return
    async with bot.db.session_scope() as session:
        await feedback.record_public_post(session, request_id=request.id, channel_id=channel_id, message_id=posted.id)


class VoteButton(RowButton, prefix="fb:vote", label="+1", emoji="👍", style=discord.ButtonStyle.secondary):
    """+1 a request: each member counts once."""

    async def handle(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        bot = bot_of(interaction)
        await bot.remember(interaction)  # a member's first press may come before any command of theirs
        async with bot.db.session_scope() as session:
            counted = await feedback.vote(
                session, request_id=self.row_id, guild_id=interaction.guild_id, user_id=interaction.user.id
            )
        said = "Counted: thanks!" if counted.counted else "You +1'd this already: each member counts once."
        await send(interaction, embed=embed(f"👍 {counted.votes}", said))


class Feedback(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        for kind in HUMAN_LOOP_KINDS:
            self.bot.notification_senders[kind] = self.deliver

    async def cog_unload(self) -> None:
        for kind in HUMAN_LOOP_KINDS:
            if self.bot.notification_senders.get(kind) == self.deliver:
                del self.bot.notification_senders[kind]

    @app_commands.command(name="feedback", description="Report a bug, suggest an idea, or flag a problem in a course")
    @app_commands.guild_only()
    @app_commands.describe(
        kind="What it is",
        course="The course it is about (optional)",
        lesson="The lesson it is about (optional)",
        title="In a few words (with details: sent at once, without the form)",
        details="What happened, or what you would like",
    )
    @app_commands.autocomplete(course=published_courses, lesson=lessons_of_your_course)
    async def send_feedback(
        self,
        interaction: discord.Interaction,
        kind: Literal["bug", "idea", "content"],
        course: str | None = None,
        lesson: str | None = None,
        title: app_commands.Range[str, 1, feedback.TITLE_CHARS] | None = None,
        details: app_commands.Range[str, 1, feedback.DETAILS_CHARS] | None = None,
    ) -> None:
        form = FeedbackForm(KIND_OPTIONS[kind], course, lesson)
        if title and details:
            await form.send(interaction, title=title, details=details)
            return
        await interaction.response.send_modal(form)

    # -- delivery ----------------------------------------------------------------------------------------------

    async def deliver(self, claimed: Claimed) -> None:
        """Send one claimed outbox row of the human loop and report how it went (at most once, like every row)."""
        try:
            outcome = await self._send(claimed)
        except discord.HTTPException as error:
            outcome = f"failed: Discord {error.status} (code {error.code})"
        async with self.bot.db.session_scope() as session:
            if outcome == "sent":
                await outbox.mark_sent(session, claimed.id, now=self.bot.clock.now())
            elif outcome.startswith("failed"):
                await outbox.mark_failed(session, claimed.id, error=outcome)
            else:
                await outbox.mark_skipped(session, claimed.id, reason=outcome)

    async def _send(self, claimed: Claimed) -> str:
        if claimed.kind is NotificationKind.ESCALATION_REANNOUNCE:
            async with self.bot.db.session_scope() as session:
                waiting = await escalations.still_open(session, escalation_id=int(claimed.payload["escalation"]))
            if waiting is None:
                return "claimed already"
            return "sent" if await post_for_staff(self.bot, waiting, again=True) else "no staff channel to post in"
        if claimed.user_id is None:
            return "failed: nobody to tell"
        direct = await self.bot.create_dm(discord.Object(claimed.user_id))
        try:
            await direct.send(
                embed=embed(strip_mentions(claimed.payload["title"]), strip_mentions(claimed.payload["text"]))
            )
        except discord.Forbidden:
            return "failed: the member's DMs are closed"
        return "sent"


async def setup(bot: CourseBot) -> None:
    bot.add_dynamic_items(*_escalation_views.DYNAMIC_ITEMS, *_submission_views.DYNAMIC_ITEMS, VoteButton)
    await bot.add_cog(Feedback(bot))
