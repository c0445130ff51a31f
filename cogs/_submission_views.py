"""Staff review of material students submit (`/teach submissions`): Approve, Reject (with a reason, in a modal) and
Undo buttons. They are `PersistentButton`s carrying the submission id; each press checks the presser is staff,
because a button works for whoever can see it. The services decide exactly once; these only render."""

from __future__ import annotations

import logging

import discord

from bot.services import submissions
from bot.services.submissions import SubmissionView
from bot.tutor import materials
from cogs._limits import EMBED_DESCRIPTION_MAX
from cogs._staff_views import staff_press
from cogs._text import strip_mentions
from cogs._ui import clip, embed, error_embed, send, success_embed
from cogs._views import Form, RowButton
from db.models import IndexingStatus, SubmissionStatus

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
        buttons: list[RowButton] = (
            [ApproveButton(item.id), RejectButton(item.id)]
            if item.status is SubmissionStatus.PENDING
            else [UndoButton(item.id)]
        )
        for button in buttons:
            button.item.row = row
            view.add_item(button.numbered())
    lines = "\n".join(submission_line(item) for item in listed)
    code = listed[0].course_code
    await send(interaction, embed=embed(f"{code}: submitted material", clip(lines, EMBED_DESCRIPTION_MAX)), view=view)


class ApproveButton(RowButton, prefix="sub:approve", label="Approve", style=discord.ButtonStyle.success):
    """Approve: the file becomes a course material credited to the student, who earns XP once."""

    async def handle(self, interaction: discord.Interaction) -> None:
        press = await staff_press(interaction)
        bot = press.bot
        approval = await press.decide(
            submissions.approve, submission_id=self.row_id, xp_amount=bot.settings.human.submission_xp
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        item = approval.submission
        # Registered with the decision; indexed now that it has committed (upload_material finds it by its bytes).
        material = await materials.upload_material(
            bot.db,
            guild_id=press.guild_id,
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


class RejectButton(RowButton, prefix="sub:reject", label="Reject", style=discord.ButtonStyle.danger):
    """Reject: asks for the reason the student is told."""

    async def handle(self, interaction: discord.Interaction) -> None:
        await staff_press(interaction)
        await interaction.response.send_modal(RejectReason(self.row_id))


class RejectReason(Form):
    reason: discord.ui.TextInput[RejectReason] = discord.ui.TextInput(
        label="Why (the student is told)", style=discord.TextStyle.paragraph, max_length=submissions.REASON_CHARS
    )

    def __init__(self, submission_id: int) -> None:
        super().__init__(title=f"Reject submission #{submission_id}")
        self.submission_id = submission_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        press = await staff_press(interaction)
        item = await press.decide(submissions.reject, submission_id=self.submission_id, reason=self.reason.value)
        await send(interaction, embed=success_embed(f"Rejected #{item.id}", "The student is told why."))


class UndoButton(RowButton, prefix="sub:undo", label="Undo", style=discord.ButtonStyle.secondary):
    """Undo an approval: the material goes, the XP is taken back (once, however many presses)."""

    async def handle(self, interaction: discord.Interaction) -> None:
        press = await staff_press(interaction)
        decision = await press.decide(submissions.undo, submission_id=self.row_id)
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
