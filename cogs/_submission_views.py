"""Staff review of material students submit (`/teach submissions`): Approve, Reject (with a reason, in a modal) and
Undo buttons. They are `PersistentButton`s carrying the submission id; each press checks the presser is staff,
because a button works for whoever can see it. The services decide exactly once; these only render."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.services import submissions
from bot.services.submissions import SubmissionView
from bot.tutor import materials
from cogs._escalation_views import bot_of, require
from cogs._limits import EMBED_DESCRIPTION_MAX
from cogs._text import strip_mentions
from cogs._ui import clip, embed, error_embed, send, success_embed
from cogs._views import DatabaseId, PersistentButton
from cogs.errors import report
from db.models import IndexingStatus, MemberRole, SubmissionStatus

log = logging.getLogger(__name__)

# Rows of buttons a message holds: one submission per row.
REVIEW_ROWS = 5


def submission_line(item: SubmissionView) -> str:
    note = f"\n  “{clip(strip_mentions(item.note), 120)}”" if item.note else ""
    state = "approved" if item.status is SubmissionStatus.APPROVED else "waiting"
    return (
        f"**#{item.id}** {clip(strip_mentions(item.title), 80)} · `{clip(item.filename, 60)}` · "
        f"{item.size_bytes / 1000:.0f} kB · <@{item.student_id}> · {state}{note}"
    )


async def send_submission_review(interaction: discord.Interaction, listed: list[SubmissionView]) -> None:
    if not listed:
        await send(interaction, embed=success_embed("Nothing to review", "No submission is waiting."))
        return
    view = discord.ui.View(timeout=None)
    for row, item in enumerate(listed[:REVIEW_ROWS]):
        buttons: list[Any] = (
            [ApproveButton(item.id), RejectButton(item.id)]
            if item.status is SubmissionStatus.PENDING
            else [UndoButton(item.id)]
        )
        for button in buttons:
            button.item.label = f"{button.item.label} #{item.id}"
            button.item.row = row
            view.add_item(button)
    lines = "\n".join(submission_line(item) for item in listed)
    code = listed[0].course_code
    await send(interaction, embed=embed(f"{code}: submitted material", clip(lines, EMBED_DESCRIPTION_MAX)), view=view)


class ApproveButton(PersistentButton, template=r"sub:approve:(?P<submission>\d+)"):
    """Approve: the file becomes a course material credited to the student, who earns XP once."""

    def __init__(self, submission: DatabaseId) -> None:
        super().__init__(
            discord.ui.Button(label="Approve", style=discord.ButtonStyle.success, custom_id=f"sub:approve:{submission}")
        )
        self.submission = submission

    async def handle(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await require(interaction, MemberRole.TA)
        bot = bot_of(interaction)
        async with bot.db.session_scope() as session:
            approval = await submissions.approve(
                session,
                submission_id=self.submission,
                guild_id=interaction.guild_id,
                actor_id=interaction.user.id,
                xp_amount=bot.settings.human.submission_xp,
                now=bot.clock.now(),
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        item = approval.submission
        # Registered with the decision; indexed now that it has committed (upload_material finds it by its bytes).
        material = await materials.upload_material(
            bot.db,
            guild_id=interaction.guild_id,
            course_code=item.course_code,
            uploader_id=item.student_id,
            filename=approval.filename,
            data=approval.data,
            title=approval.material_title,
            settings=bot.settings,
            clock=bot.clock,
        )
        indexed = (
            "The tutor can cite it now."
            if material.status is IndexingStatus.READY
            else f"Indexing failed: {material.failure_reason or 'no reason recorded'} (`/teach materials review`)."
        )
        await send(
            interaction,
            embed=success_embed(
                f"Approved #{item.id}",
                f"“{clip(strip_mentions(item.title), 100)}” is a material of {item.course_code}, credited to "
                f"<@{item.student_id}> ({item.xp_awarded} XP). {indexed}",
            ),
        )


class RejectButton(PersistentButton, template=r"sub:reject:(?P<submission>\d+)"):
    """Reject: asks for the reason the student is told."""

    def __init__(self, submission: DatabaseId) -> None:
        super().__init__(
            discord.ui.Button(label="Reject", style=discord.ButtonStyle.danger, custom_id=f"sub:reject:{submission}")
        )
        self.submission = submission

    async def handle(self, interaction: discord.Interaction) -> None:
        await require(interaction, MemberRole.TA)
        await interaction.response.send_modal(RejectReason(self.submission))


class RejectReason(discord.ui.Modal):
    reason: discord.ui.TextInput[RejectReason] = discord.ui.TextInput(
        label="Why (the student is told)", style=discord.TextStyle.paragraph, max_length=submissions.REASON_CHARS
    )

    def __init__(self, submission_id: int) -> None:
        super().__init__(title=f"Reject submission #{submission_id}")
        self.submission_id = submission_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await require(interaction, MemberRole.TA)
        bot = bot_of(interaction)
        async with bot.db.session_scope() as session:
            item = await submissions.reject(
                session,
                submission_id=self.submission_id,
                guild_id=interaction.guild_id,
                actor_id=interaction.user.id,
                reason=self.reason.value,
                now=bot.clock.now(),
            )
        await send(interaction, embed=success_embed(f"Rejected #{item.id}", "The student is told why."))

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report(interaction, error)


class UndoButton(PersistentButton, template=r"sub:undo:(?P<submission>\d+)"):
    """Undo an approval: the material goes, the XP is taken back (once, however many presses)."""

    def __init__(self, submission: DatabaseId) -> None:
        super().__init__(
            discord.ui.Button(label="Undo", style=discord.ButtonStyle.secondary, custom_id=f"sub:undo:{submission}")
        )
        self.submission = submission

    async def handle(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await require(interaction, MemberRole.TA)
        bot = bot_of(interaction)
        async with bot.db.session_scope() as session:
            decision = await submissions.undo(
                session,
                submission_id=self.submission,
                guild_id=interaction.guild_id,
                actor_id=interaction.user.id,
                now=bot.clock.now(),
            )
        item = decision.submission
        if not decision.changed:
            await send(
                interaction, embed=error_embed("It was undone already. Nothing changed.", title="Already undone")
            )
            return
        await send(
            interaction,
            embed=success_embed(
                f"Undid #{item.id}", f"The material is removed and the {item.xp_awarded} XP it earned taken back."
            ),
        )


DYNAMIC_ITEMS = (ApproveButton, RejectButton, UndoButton)
