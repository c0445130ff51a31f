"""`/tutor …` and the tutor threads: a private thread per session, answers streamed into it by message edits.

Only the session's student is answered in a thread; anyone else, and every bot, is ignored. One answer is
produced at a time per thread. Each answer ends with its sources and 👍/👎 buttons, plus branch buttons when
a model wrote it; a failed answer gets a Retry button. All buttons are `PersistentButton`s whose custom_id carries
what they need, so they keep working after a restart.

A 👎 offers "Ask a TA" (as does `/tutor escalate`): the human loop in `cogs/_escalation_views.py`. While a TA holds
the thread, the tutor stays quiet and what is written there is kept with the conversation.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from contextlib import aclosing, suppress
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.errors import CourseError
from bot.services.plaintext import without_unsafe_characters
from bot.tutor.answers import Answer, Source
from bot.tutor.sessions import NotYourThread, TutorSession
from bot.tutor.turn import Turn
from bot.tutor.tutor import Tutor
from cogs._autocomplete import courses_you_take, lessons_of_your_course
from cogs._escalation_views import ask_a_ta, ask_view, kept_for_the_ta
from cogs._limits import BUTTON_LABEL_MAX, BUTTONS_PER_ROW, EMBED_DESCRIPTION_MAX, THREAD_NAME_MAX
from cogs._text import EDIT_INTERVAL_SECONDS, StreamThrottle, split_for_discord, strip_mentions
from cogs._ui import clip, embed, success_embed
from cogs._views import DatabaseId, PersistentButton
from cogs.errors import report_in_thread
from db.models import GenerationStatus, SessionEndReason

log = logging.getLogger(__name__)

PLACEHOLDER = "✍️ …"
NO_ANSWER = "*(The tutor's answer was empty. Ask again in other words.)*"
STILL_ANSWERING = "⏳ Still answering your previous message. Send this one again when the answer is done."
CHECK_UNDERSTANDING_LABEL = "Check my understanding"
AUTO_ARCHIVE_MINUTES = 1440
CUT_OFF = " …"
NO_THREADS = (
    "I can't open a thread in this channel. Ask an admin to let me create private (or public) threads here, "
    "or run `/tutor start` in another channel."
)
NOT_A_TEXT_CHANNEL = "Run `/tutor start` in a text channel: the tutor opens a thread there."


class AnswerInProgress(CourseError):
    def __init__(self) -> None:
        super().__init__(STILL_ANSWERING)


def sources_embed(sources: Sequence[Source]) -> discord.Embed | None:
    if not sources:
        return None
    lines = [f"[{source.number}] {strip_mentions(source.label)}" for source in sources]
    return embed("Sources", clip("\n".join(lines), EMBED_DESCRIPTION_MAX))


def answer_view(answer: Answer) -> discord.ui.View:
    """Branch buttons (when a model wrote the answer) above 👍/👎."""
    view = discord.ui.View(timeout=None)
    if answer.status is GenerationStatus.COMPLETED and answer.by_model:
        branches = [*((str(n), label) for n, label in enumerate(answer.branches)), ("check", CHECK_UNDERSTANDING_LABEL)]
        for option, label in branches[:BUTTONS_PER_ROW]:
            button = BranchButton(answer.id, option, label)
            button.item.row = 0
            view.add_item(button)
    for rating in (1, -1):
        feedback = FeedbackButton(answer.id, rating)
        feedback.item.row = 1
        view.add_item(feedback)
    return view


def retry_view(answer: Answer) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RetryButton(answer.id, answer.retry_user_message_id or 0))
    return view


def pieces_of(text: str) -> list[str]:
    """`text` as messages Discord accepts, unable to ping anyone."""
    return split_for_discord(strip_mentions(text)) or [NO_ANSWER]


class StreamedAnswer:
    """An answer shown while it streams: a placeholder message edited at most once per `interval` seconds,
    continued in new messages past Discord's 2,000 characters. The final `show` is never throttled."""

    def __init__(self, channel: discord.abc.Messageable, *, interval: float) -> None:
        self._channel = channel
        self._throttle = StreamThrottle(interval=interval)
        self._messages: list[discord.Message] = []
        self._shown: list[str] = []

    @property
    def first_message_id(self) -> int | None:
        return self._messages[0].id if self._messages else None

    async def start(self) -> None:
        await self.show([PLACEHOLDER])
        self._throttle.record_edit()

    async def update(self, text: str) -> None:
        if self._throttle.claim_edit():
            await self.show(pieces_of(text))

    async def show(
        self, pieces: Sequence[str], *, last_embed: discord.Embed | None = None, view: discord.ui.View | None = None
    ) -> None:
        """Make the messages read `pieces`; the last one also gets `last_embed` and `view` when given."""
        finishing = last_embed is not None or view is not None
        for index, piece in enumerate(pieces):
            extras: dict[str, Any] = {}
            if finishing and index == len(pieces) - 1:
                extras = {"embeds": [last_embed] if last_embed else [], "view": view}
            if index >= len(self._messages):
                self._messages.append(await self._channel.send(piece, **extras))
                self._shown.append(piece)
            elif self._shown[index] != piece or extras:
                self._messages[index] = await self._messages[index].edit(content=piece, **extras)
                self._shown[index] = piece
        for message in self._messages[len(pieces) :]:
            await message.delete()
        del self._messages[len(pieces) :], self._shown[len(pieces) :]

    async def finish(self, answer: Answer) -> None:
        if answer.status is GenerationStatus.FAILED:
            problem = f"⚠️ {answer.problem}"
            if not answer.text.strip():
                await self.show([problem], view=retry_view(answer))
                return
            await self.show(pieces_of(answer.text + CUT_OFF))
            await self._channel.send(problem, view=retry_view(answer))
            return
        await self.show(pieces_of(answer.text), last_embed=sources_embed(answer.sources), view=answer_view(answer))


def tutor_cog(interaction: discord.Interaction) -> TutorThreads:
    cog = interaction.client.get_cog(TutorThreads.__cog_name__)  # type: ignore[attr-defined]
    if not isinstance(cog, TutorThreads):
        raise CourseError("The tutor is not running right now. Try again in a minute.")
    return cog


def thread_of(interaction: discord.Interaction) -> discord.Thread:
    if not isinstance(interaction.channel, discord.Thread):
        raise CourseError("This button only works in a tutor thread.")
    return interaction.channel


class FeedbackButton(PersistentButton, template=r"tutor:fb:(?P<message>\d+):(?P<rating>[+-]1)"):
    def __init__(self, message: DatabaseId, rating: int) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="👍" if rating > 0 else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"tutor:fb:{message}:{rating:+d}",
            )
        )
        self.message, self.rating = message, rating

    async def handle(self, interaction: discord.Interaction) -> None:
        await tutor_cog(interaction).tutor.rate(
            message_id=self.message, user_id=interaction.user.id, rating=self.rating
        )
        thanks = "Thanks! Glad it helped." if self.rating > 0 else "Thanks for telling me. Try asking in other words."
        if self.rating < 0 and isinstance(interaction.channel, discord.Thread):
            # Still stuck: a person can take over (cogs/_escalation_views.py).
            thanks += " Or ask a TA: the course staff see your question and the tutor's answer."
            view = ask_view(interaction.channel.id)
            await interaction.response.send_message(thanks, ephemeral=True, view=view)
            return
        await interaction.response.send_message(thanks, ephemeral=True)


class BranchButton(PersistentButton, template=r"tutor:br:(?P<answer>\d+):(?P<option>\d+|check)"):
    """A follow-up the tutor offered. The label is what the student sends; `check` is the fixed
    "check my understanding" branch."""

    def __init__(self, answer: DatabaseId, option: str, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=clip(label, BUTTON_LABEL_MAX),
                style=discord.ButtonStyle.primary,
                custom_id=f"tutor:br:{answer}:{option}",
            )
        )
        self.answer, self.option, self.label = answer, option, label

    async def handle(self, interaction: discord.Interaction) -> None:
        cog, thread = tutor_cog(interaction), thread_of(interaction)
        async with cog.answering(thread.id):
            turn = await cog.tutor.take_branch(
                thread_id=thread.id,
                user_id=interaction.user.id,
                answer_id=self.answer,
                option=None if self.option == "check" else self.label,
            )
            # The choice shows in the thread as the student's turn of the conversation.
            await interaction.response.send_message(f"➡️ {strip_mentions(self.label)}")
            await cog.deliver(thread, turn)


class RetryButton(PersistentButton, template=r"tutor:retry:(?P<answer>\d+):(?P<user_message>\d+)"):
    """Answer again the student message (0: the greeting) whose answer failed."""

    def __init__(self, answer: DatabaseId, user_message: DatabaseId) -> None:
        super().__init__(
            discord.ui.Button(
                label="Retry",
                emoji="🔁",
                style=discord.ButtonStyle.primary,
                custom_id=f"tutor:retry:{answer}:{user_message}",
            )
        )
        self.answer, self.user_message = answer, user_message

    async def handle(self, interaction: discord.Interaction) -> None:
        cog, thread = tutor_cog(interaction), thread_of(interaction)
        async with cog.answering(thread.id):
            turn = await cog.tutor.retry(
                thread_id=thread.id,
                user_id=interaction.user.id,
                answer_id=self.answer,
                user_message_id=self.user_message or None,
            )
            await interaction.response.edit_message(content="🔁 Trying again…", view=None)
            await cog.deliver(thread, turn)


@app_commands.guild_only()
class TutorThreads(
    commands.GroupCog, name="Tutor", group_name="tutor", group_description="Talk with the course's AI tutor"
):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot
        self.tutor = Tutor(bot.db, bot.settings, bot.clock)
        self.edit_interval = EDIT_INTERVAL_SECONDS
        # One answer at a time per thread; a lock lives only while someone holds it.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def cog_unload(self) -> None:
        await self.tutor.aclose()

    def lock_for(self, thread_id: int) -> asyncio.Lock:
        lock = self._locks.get(thread_id)
        if lock is None:
            lock = self._locks[thread_id] = asyncio.Lock()
        return lock

    def answering(self, thread_id: int) -> asyncio.Lock:
        """The thread's lock, for `async with`; `AnswerInProgress` when an answer is being produced already."""
        lock = self.lock_for(thread_id)
        if lock.locked():
            raise AnswerInProgress()
        return lock

    async def deliver(self, thread: discord.Thread, turn: Turn) -> None:
        """Stream the turn into the thread and finish it (STOPPED when Discord stops taking the messages)."""
        shown = StreamedAnswer(thread, interval=self.edit_interval)
        text = ""
        try:
            await shown.start()
            async with aclosing(turn.deltas()) as deltas:
                async for delta in deltas:
                    text += delta
                    await shown.update(text)
        except discord.HTTPException as error:
            log.warning("Tutor thread %s stopped taking messages (HTTP %s); answer stopped", thread.id, error.status)
            await turn.finish(discord_message_id=shown.first_message_id, stopped=True)
            return
        await shown.finish(await turn.finish(discord_message_id=shown.first_message_id))

    # -- commands ---------------------------------------------------------------------------------------------

    @app_commands.command(name="start", description="Open a private thread with the course's AI tutor")
    @app_commands.describe(
        lesson="The lesson to talk about; by default the one you are reading",
        course="Which of your courses; by default your latest",
    )
    @app_commands.autocomplete(lesson=lessons_of_your_course, course=courses_you_take)
    async def start(
        self, interaction: discord.Interaction, lesson: str | None = None, course: str | None = None
    ) -> None:
        assert interaction.guild is not None
        channel = interaction.channel
        if not isinstance(channel, discord.TextChannel):
            raise CourseError(NOT_A_TEXT_CHANNEL)
        plan = await self.tutor.plan_session(
            guild_id=interaction.guild.id, user_id=interaction.user.id, course_code=course, lesson=lesson
        )
        if plan.existing is not None:
            current = interaction.guild.get_thread(plan.existing.thread_id)
            if current is not None and not current.archived:
                raise CourseError(
                    f"You already have a tutor thread open: {current.mention}. Continue there, "
                    "or close it with `/tutor end` first."
                )
            # Its thread was deleted or archived by hand: that session is over.
            await self.tutor.end(session_id=plan.existing.id, reason=SessionEndReason.THREAD_GONE)
        await interaction.response.defer(ephemeral=True, thinking=True)
        student = without_unsafe_characters(interaction.user.display_name)
        name = clip(f"Tutor · {student} · {plan.topic}", THREAD_NAME_MAX)
        thread, private = await self._open_thread(channel, name)
        async with self.lock_for(thread.id):
            try:
                await self.tutor.open_session(plan, thread_id=thread.id)
            except CourseError:
                with suppress(discord.HTTPException):
                    await thread.delete()
                raise
            await thread.add_user(interaction.user)
            await self.deliver(thread, await self.tutor.greet(thread_id=thread.id))
        visibility = (
            "" if private else " Private threads aren't allowed here, so this one is public: others can read it."
        )
        await interaction.followup.send(
            embed=success_embed(
                "Your tutor thread is open",
                f"Ask your questions in {thread.mention}.{visibility} Close it with `/tutor end` when you are done.",
            ),
            ephemeral=True,
        )

    @app_commands.command(name="end", description="Close your tutor thread")
    async def end(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        channel = interaction.channel
        session = await self.tutor.session_for_thread(channel.id) if isinstance(channel, discord.Thread) else None
        in_thread = session is not None
        if session is not None:
            if session.user_id != interaction.user.id:
                raise NotYourThread()
            if not session.is_open:
                raise CourseError("This tutor session has already ended. Start a new one with `/tutor start`.")
        else:
            session = await self.tutor.open_session_of(guild_id=interaction.guild_id, user_id=interaction.user.id)
            if session is None:
                raise CourseError("You have no tutor thread open. Start one with `/tutor start`.")
        ended = await self.tutor.end(session_id=session.id, reason=SessionEndReason.USER)
        await interaction.response.send_message(
            embed=success_embed(
                "Tutor session ended",
                "The thread is archived and locked; you can still read it. "
                "Start a new one any time with `/tutor start`.",
            ),
            ephemeral=not in_thread,
        )
        await self.archive(ended)

    @app_commands.command(name="escalate", description="Ask a TA to take over this tutor thread")
    @app_commands.describe(note="What you need help with, for the TA (optional)")
    async def escalate(
        self, interaction: discord.Interaction, note: app_commands.Range[str, 1, 500] | None = None
    ) -> None:
        if not isinstance(interaction.channel, discord.Thread):
            raise CourseError("Run `/tutor escalate` in your tutor thread: the TA sees that conversation.")
        await ask_a_ta(interaction, thread_id=interaction.channel.id, note=note)

    # -- events -----------------------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        thread = message.channel
        if (
            message.author.bot
            or not isinstance(thread, discord.Thread)
            or self.bot.user is None
            or thread.owner_id != self.bot.user.id
            or message.type not in (discord.MessageType.default, discord.MessageType.reply)
            or not message.content.strip()
        ):
            return
        session = await self.tutor.session_for_thread(thread.id)
        if session is not None and session.is_open and await kept_for_the_ta(self.bot, message):
            return  # a TA holds the thread: the tutor is paused
        if session is None or not session.is_open or session.user_id != message.author.id:
            return
        try:
            async with self.answering(thread.id):
                turn = await self.tutor.answer(
                    thread_id=thread.id, user_id=message.author.id, text=message.content, discord_message_id=message.id
                )
                await self.deliver(thread, turn)
        except Exception as error:  # the student is told, in the thread; bugs are logged with an id
            await report_in_thread(message, error)

    @commands.Cog.listener()
    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        session = await self.tutor.session_for_thread(payload.thread_id)
        if session is not None and session.is_open:
            await self.tutor.end(session_id=session.id, reason=SessionEndReason.THREAD_GONE)

    @commands.Cog.listener()
    async def on_tutor_sessions_ended(self, ended: list[TutorSession]) -> None:
        """From the inactivity sweep (bot/scheduler.py): tell each thread, then archive it."""
        minutes = self.bot.settings.tutor.inactivity_minutes
        for session in ended:
            await self.archive(
                session,
                notice=f"💤 This tutor session closed after {minutes} minutes without a message. "
                "Start a new one with `/tutor start`.",
            )

    async def archive(self, session: TutorSession, *, notice: str | None = None) -> None:
        """Archive and lock the session's thread; a thread that is gone or out of reach is left alone."""
        try:
            thread = self.bot.get_channel(session.thread_id) or await self.bot.fetch_channel(session.thread_id)
            if not isinstance(thread, discord.Thread):
                return
            if notice:
                await thread.send(notice)
            await thread.edit(archived=True, locked=True, reason="Tutor session ended")
        except discord.HTTPException as error:
            log.info("Could not archive tutor thread %s (HTTP %s)", session.thread_id, error.status)

    async def _open_thread(self, channel: discord.TextChannel, name: str) -> tuple[discord.Thread, bool]:
        """A private thread, else a public one; `CourseError` when the channel allows neither."""
        try:
            thread = await channel.create_thread(
                name=name,
                type=discord.ChannelType.private_thread,
                invitable=False,
                auto_archive_duration=AUTO_ARCHIVE_MINUTES,
                reason="Tutor session",
            )
            return thread, True
        except discord.HTTPException as refused:
            log.info("Private thread refused in channel %s (HTTP %s); trying a public one", channel.id, refused.status)
        try:
            thread = await channel.create_thread(
                name=name,
                type=discord.ChannelType.public_thread,
                auto_archive_duration=AUTO_ARCHIVE_MINUTES,
                reason="Tutor session",
            )
            return thread, False
        except discord.HTTPException:
            raise CourseError(NO_THREADS) from None


async def setup(bot: CourseBot) -> None:
    bot.add_dynamic_items(FeedbackButton, BranchButton, RetryButton)
    await bot.add_cog(TutorThreads(bot))
