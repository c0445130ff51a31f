"""Ask a TA on Discord: the button and command glue that puts a tutor thread in the staff queue, the staff post with
its Claim button, the Release and "Save as the answer" buttons a TA gets, and what a held thread does with messages.

Every button is a `PersistentButton` (its custom_id carries the escalation), so a staff post keeps working after a
restart; the level is checked on every press, since anyone who can see a message can press its buttons.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import discord

from bot.app import CourseBot
from bot.services.plaintext import without_unsafe_characters
from bot.tutor import escalations
from bot.tutor.escalations import EscalationView
from cogs._limits import EMBED_DESCRIPTION_MAX, EMBED_FIELD_VALUE_MAX, MESSAGE_MAX
from cogs._staff_views import bot_of, staff_press
from cogs._text import strip_mentions
from cogs._ui import add_fields, clip, embed, send, success_embed
from cogs._views import Form, RowButton
from db.models import EscalationStatus

log = logging.getLogger(__name__)

ASK_A_TA_LABEL = "Ask a TA"
INBOX_BUTTONS = 5


def escalation_embed(escalation: EscalationView, *, title: str = "🙋 A student asks for a TA") -> discord.Embed:
    """What staff read: who, where, what they asked, what the tutor said and cited."""
    where = f" · {escalation.course_code}" if escalation.course_code else ""
    lines = [f"<@{escalation.student_id}> in <#{escalation.thread_id}>{where}"]
    if escalation.note:
        lines.append(f"> {strip_mentions(escalation.note)}")
    if escalation.status is EscalationStatus.CLAIMED and escalation.claimed_by:
        lines.append(f"Claimed by <@{escalation.claimed_by}>.")
    elif escalation.status is EscalationStatus.RELEASED:
        lines.append("Handed back to the tutor.")
    page = embed(title, clip("\n".join(lines), EMBED_DESCRIPTION_MAX))
    sources = "\n".join(f"[{number}] {strip_mentions(label)}" for number, label in enumerate(escalation.sources, 1))
    page.set_footer(text=f"Escalation #{escalation.id}")
    return add_fields(
        page,
        [
            (
                "Student's last message",
                clip(strip_mentions(escalation.question) or "(none yet)", EMBED_FIELD_VALUE_MAX),
            ),
            ("Tutor's last answer", clip(strip_mentions(escalation.tutor_answer) or "(none)", EMBED_FIELD_VALUE_MAX)),
            ("Sources it cited", clip(sources or "none", EMBED_FIELD_VALUE_MAX)),
        ],
    )


def claim_view(escalation_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ClaimButton(escalation_id))
    return view


def holder_view(escalation: EscalationView) -> discord.ui.View:
    """What the TA holding a thread can do: hand it back, and save their answer when the path allows."""
    view = discord.ui.View(timeout=None)
    view.add_item(ReleaseButton(escalation.id))
    if escalation.on_guided_path:
        view.add_item(SaveAnswerButton(escalation.id))
    return view


async def ask_a_ta(interaction: discord.Interaction, *, thread_id: int, note: str | None) -> None:
    """Put the thread's conversation in the staff queue and post it in the staff channel (the student's turn)."""
    bot = bot_of(interaction)
    async with bot.db.session_scope() as session:
        asked = await escalations.escalate(
            session,
            thread_id=thread_id,
            user_id=interaction.user.id,
            note=note,
            now=bot.clock.now(),
            reannounce_after=timedelta(minutes=bot.settings.human.reannounce_after_minutes),
        )
    escalation = asked.escalation
    if not asked.created:
        state = "a TA is on it" if escalation.status is EscalationStatus.CLAIMED else "it is waiting for a TA"
        await send(interaction, embed=embed("Already asked", f"This conversation is in the staff queue: {state}."))
        return
    await post_for_staff(bot, escalation)
    await send(
        interaction,
        ephemeral=False,
        embed=success_embed(
            "A TA has been asked",
            "Your question and the tutor's answer went to the course staff. You'll see here when a TA takes it; "
            "meanwhile the tutor keeps answering.",
        ),
    )


async def post_for_staff(bot: CourseBot, escalation: EscalationView, *, again: bool = False) -> bool:
    """Post the escalation in the staff channel with its Claim button; False when there is no channel to post in
    (staff then find it in `/teach inbox`) or Discord refused."""
    if escalation.staff_channel_id is None:
        return False
    channel = bot.get_partial_messageable(escalation.staff_channel_id, guild_id=escalation.guild_id)
    title = "⏰ Still waiting for a TA" if again else "🙋 A student asks for a TA"
    try:
        posted = await channel.send(
            embed=escalation_embed(escalation, title=title),
            view=claim_view(escalation.id),
            allowed_mentions=discord.AllowedMentions.none(),
        )
    except discord.HTTPException as error:
        log.warning("Could not post escalation %d in channel %s (HTTP %s)", escalation.id, channel.id, error.status)
        return False
    if not again:
        async with bot.db.session_scope() as session:
            await escalations.record_staff_post(
                session, escalation_id=escalation.id, channel_id=channel.id, message_id=posted.id
            )
    return True


async def kept_for_the_ta(bot: CourseBot, message: discord.Message) -> bool:
    """Whether a TA holds the message's tutor thread: then the tutor stays quiet, and the TA's or the student's
    message is kept with the conversation (the TA's latest is what "Save as the answer" saves)."""
    async with bot.db.session_scope() as session:
        hold = await escalations.holder(session, thread_id=message.channel.id)
        if hold is None:
            return False
        if message.author.id in (hold.ta_id, hold.student_id):
            await escalations.record_held_message(
                session,
                hold=hold,
                author_id=message.author.id,
                text=message.content,
                discord_message_id=message.id,
                now=bot.clock.now(),
            )
    return True


class AskTAButton(RowButton, prefix="tutor:ta", label=ASK_A_TA_LABEL, emoji="🙋", style=discord.ButtonStyle.secondary):
    """The student hands their tutor thread (the row id is the thread's) to the staff queue."""

    async def handle(self, interaction: discord.Interaction) -> None:
        await ask_a_ta(interaction, thread_id=self.row_id, note=None)


def ask_view(thread_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(AskTAButton(thread_id))
    return view


class ClaimButton(RowButton, prefix="esc:claim", label="Claim", emoji="✋", style=discord.ButtonStyle.primary):
    """A TA takes the escalation: added to the thread, the student told, the tutor paused."""

    async def handle(self, interaction: discord.Interaction) -> None:
        press = await staff_press(interaction)
        bot = press.bot
        await bot.remember(interaction)  # a TA's first press may come before any command of theirs
        async with bot.db.session_scope() as session:
            claimed = await escalations.claim(
                session, escalation_id=self.row_id, guild_id=press.guild_id, ta_id=press.user_id, now=bot.clock.now()
            )
        escalation = claimed.escalation
        if not claimed.newly:
            await send(interaction, embed=embed("It's yours already", f"Answer in <#{escalation.thread_id}>."))
            return
        await interaction.response.edit_message(embed=escalation_embed(escalation), view=None)
        joined = await _join_thread(bot, escalation.thread_id, interaction.user.id)
        thread = bot.get_partial_messageable(escalation.thread_id, guild_id=escalation.guild_id)
        try:
            await thread.send(
                embed=embed(
                    "🧑‍🏫 A TA is coming",
                    f"<@{interaction.user.id}> is taking over this conversation. The tutor is paused until they hand "
                    "it back.",
                ),
                view=holder_view(escalation),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as error:
            log.info("Could not tell tutor thread %s about its TA (HTTP %s)", escalation.thread_id, error.status)
        if joined:
            how, view = f"Answer the student in <#{escalation.thread_id}>.", discord.utils.MISSING
        else:
            how = f"I couldn't add you to <#{escalation.thread_id}>: answer with **Reply through the bot**."
            view = discord.ui.View(timeout=None)
            view.add_item(ReplyButton(escalation.id))
        await send(
            interaction,
            embed=success_embed(
                "You have it",
                f"{how} Your answers are kept with the conversation; press **Release** when you are done, and the "
                "tutor takes over again.",
            ),
            view=view,
        )


async def _join_thread(bot: CourseBot, thread_id: int, user_id: int) -> bool:
    try:
        await bot.http.add_user_to_thread(thread_id, user_id)
    except discord.HTTPException as error:
        log.info("Could not add TA %s to tutor thread %s (HTTP %s)", user_id, thread_id, error.status)
        return False
    return True


class ReplyButton(
    RowButton, prefix="esc:reply", label="Reply through the bot", emoji="✉️", style=discord.ButtonStyle.primary
):
    """For a TA the bot could not add to the thread: write the answer in a form, and the bot posts it there."""

    async def handle(self, interaction: discord.Interaction) -> None:
        await staff_press(interaction)
        await interaction.response.send_modal(ReplyForm(self.row_id))


class ReplyForm(Form):
    answer: discord.ui.TextInput[ReplyForm] = discord.ui.TextInput(
        label="Your answer to the student", style=discord.TextStyle.paragraph, max_length=MESSAGE_MAX - 100
    )

    def __init__(self, escalation_id: int) -> None:
        super().__init__(title=f"Answer escalation #{escalation_id}")
        self.escalation_id = escalation_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        press = await staff_press(interaction)
        bot = press.bot
        async with bot.db.session_scope() as session:
            escalation = await escalations.view_of(session, escalation_id=self.escalation_id, guild_id=press.guild_id)
            hold = await escalations.holder(session, thread_id=escalation.thread_id)
        if hold is None or hold.ta_id != press.user_id:
            raise escalations.NotTheHolder()
        thread = bot.get_partial_messageable(escalation.thread_id, guild_id=escalation.guild_id)
        name = without_unsafe_characters(interaction.user.display_name)
        posted = await thread.send(
            f"🧑‍🏫 **{strip_mentions(name)}** (TA): {strip_mentions(self.answer.value)}",
            allowed_mentions=discord.AllowedMentions.none(),
        )
        async with bot.db.session_scope() as session:
            await escalations.record_held_message(
                session,
                hold=hold,
                author_id=press.user_id,
                text=self.answer.value,
                discord_message_id=posted.id,
                now=bot.clock.now(),
            )
        await send(interaction, embed=success_embed("Sent", f"Your answer is in <#{escalation.thread_id}>."))


class ReleaseButton(RowButton, prefix="esc:release", label="Release", emoji="🤖", style=discord.ButtonStyle.secondary):
    """The TA hands the thread back to the tutor."""

    async def handle(self, interaction: discord.Interaction) -> None:
        press = await staff_press(interaction)
        bot = press.bot
        escalation = await press.decide(
            escalations.release, escalation_id=self.row_id, may_release_any=press.acts_for_anyone
        )
        await send(interaction, embed=success_embed("Handed back", "The tutor answers in the thread again."))
        thread = bot.get_partial_messageable(escalation.thread_id, guild_id=escalation.guild_id)
        try:
            await thread.send(
                embed=embed("🤖 The tutor is back", "The TA handed this conversation back: the tutor answers again.")
            )
        except discord.HTTPException as error:
            log.info("Could not tell tutor thread %s the tutor is back (HTTP %s)", escalation.thread_id, error.status)


class SaveAnswerButton(
    RowButton, prefix="esc:save", label="Save as the answer", emoji="💾", style=discord.ButtonStyle.success
):
    """The TA's latest answer in the thread becomes the lesson's answer on this guided path, marked TA-approved."""

    async def handle(self, interaction: discord.Interaction) -> None:
        press = await staff_press(interaction)
        await press.decide(escalations.save_answer, escalation_id=self.row_id, may_save_any=press.acts_for_anyone)
        await send(
            interaction,
            embed=success_embed(
                "Saved as the answer",
                "The next student who takes the same path through this lesson gets your answer, marked TA-approved.",
            ),
        )


def inbox_page(listed: list[EscalationView], *, course_code: str | None) -> tuple[discord.Embed, discord.ui.View]:
    """The open and claimed escalations, oldest first, with Claim buttons for the first open ones and Release (and
    Save) buttons for the first held ones."""
    scope = f" · {course_code}" if course_code else ""
    if not listed:
        return success_embed(f"Inbox{scope}: nothing waiting", "No student is waiting for a TA."), discord.ui.View()
    lines = []
    for escalation in listed:
        state = f"claimed by <@{escalation.claimed_by}>" if escalation.claimed_by else "**open**"
        question = clip(strip_mentions(escalation.question or escalation.note or ""), 80)
        lines.append(
            f"#{escalation.id} · {discord.utils.format_dt(escalation.created_at, 'R')} · <@{escalation.student_id}> "
            f"in <#{escalation.thread_id}> · {state}" + (f"\n  {question}" if question else "")
        )
    # Claim the first open ones; hand back (or save) the first held ones, e.g. after writing in the thread.
    view = discord.ui.View(timeout=None)
    buttons: list[RowButton] = []
    for item in [item for item in listed if item.status is EscalationStatus.OPEN][:INBOX_BUTTONS]:
        buttons.append(ClaimButton(item.id))
    for item in [item for item in listed if item.status is EscalationStatus.CLAIMED][:INBOX_BUTTONS]:
        buttons.append(ReleaseButton(item.id))
        if item.on_guided_path:
            buttons.append(SaveAnswerButton(item.id))
    for button in buttons:
        view.add_item(button.numbered())
    return embed(f"Inbox{scope}: {len(listed)} waiting or held", clip("\n".join(lines), EMBED_DESCRIPTION_MAX)), view


DYNAMIC_ITEMS = (AskTAButton, ClaimButton, ReplyButton, ReleaseButton, SaveAnswerButton)
