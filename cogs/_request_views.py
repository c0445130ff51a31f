"""`/admin requests`: the feedback members sent, a page at a time, with a select to pick a request, a select to
move it to a status, and a modal for the note its requester reads. Only the admin who ran the command can use it."""

from __future__ import annotations

from typing import Any

import discord

from bot.services import feedback
from bot.services.feedback import KIND_NAMES, STATUS_NAMES, RequestView
from cogs._limits import EMBED_DESCRIPTION_MAX
from cogs._staff_views import staff_press
from cogs._text import strip_mentions
from cogs._ui import clip, embed, send, success_embed
from cogs._views import Form, OwnedView
from db.models import MemberRole, RequestStatus

PAGE_SIZE = 5


def request_line(request: RequestView) -> str:
    where = ""
    if request.lesson_slug and request.course_code:
        where = f" · 📖 `/lesson open course:{request.course_code} lesson:{request.lesson_slug}`"
    elif request.course_code:
        where = f" · {request.course_code}"
    return (
        f"**#{request.id}** {clip(strip_mentions(request.title), 80)} · {KIND_NAMES[request.kind]} · "
        f"**{STATUS_NAMES[request.status]}** · 👍 {request.votes} · <@{request.requester_id}>{where}\n"
        f"  {clip(strip_mentions(request.details), 150)}"
    )


class RequestsView(OwnedView):
    """Pages of requests; pick one, then move it to a status, or add a note (a modal)."""

    def __init__(self, requests: list[RequestView], *, owner_id: int, heading: str) -> None:
        super().__init__(owner_id=owner_id, timeout=600)
        self.requests, self.heading, self.index = requests, heading, 0
        self.chosen: int | None = None
        self.status.options = [
            discord.SelectOption(label=STATUS_NAMES[status].capitalize(), value=status.value)
            for status in RequestStatus
        ]
        self._refresh()

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.requests) // PAGE_SIZE))

    def _shown(self) -> list[RequestView]:
        return self.requests[self.index * PAGE_SIZE : (self.index + 1) * PAGE_SIZE]

    def page(self) -> discord.Embed:
        lines = "\n".join(request_line(request) for request in self._shown()) or "No requests."
        page = embed(self.heading, clip(lines, EMBED_DESCRIPTION_MAX))
        chosen = f"#{self.chosen} chosen: set its status or add a note" if self.chosen else "pick a request first"
        page.set_footer(text=f"Page {self.index + 1}/{self.pages} · {chosen}")
        return page

    def _refresh(self) -> None:
        shown = self._shown()
        self.pick.options = [
            discord.SelectOption(label=clip(f"#{request.id} {request.title}", 100), value=str(request.id))
            for request in shown
        ] or [discord.SelectOption(label="No requests", value="0")]
        self.pick.disabled = self.status.disabled = self.add_note.disabled = not shown
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= self.pages - 1

    @discord.ui.select(placeholder="Pick a request", row=0)
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select[Any]) -> None:
        self.chosen = int(select.values[0])
        await interaction.response.edit_message(embed=self.page(), view=self)

    @discord.ui.select(placeholder="Move it to…", row=1)
    async def status(self, interaction: discord.Interaction, select: discord.ui.Select[Any]) -> None:
        if self.chosen is None:
            await send(interaction, embed=embed("Pick a request first", "Choose it in the first list."))
            return
        change = await change_status(interaction, self.chosen, RequestStatus(select.values[0]), note=None)
        self.requests = [change.request if item.id == change.request.id else item for item in self.requests]
        await interaction.response.edit_message(embed=self.page(), view=self)
        await send(interaction, embed=status_changed(change))

    @discord.ui.button(label="Add a note…", emoji="📝", style=discord.ButtonStyle.secondary, row=2)
    async def add_note(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        chosen = next((item for item in self.requests if item.id == self.chosen), None)
        if chosen is None:
            await send(interaction, embed=embed("Pick a request first", "Choose it in the first list."))
            return
        await interaction.response.send_modal(StatusNote(chosen.id, chosen.status))

    @discord.ui.button(label="Previous", emoji="◀", style=discord.ButtonStyle.secondary, row=3)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.index, self.chosen = max(0, self.index - 1), None
        self._refresh()
        await interaction.response.edit_message(embed=self.page(), view=self)

    @discord.ui.button(label="Next", emoji="▶", style=discord.ButtonStyle.secondary, row=3)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.index, self.chosen = min(self.pages - 1, self.index + 1), None
        self._refresh()
        await interaction.response.edit_message(embed=self.page(), view=self)


async def change_status(
    interaction: discord.Interaction, request_id: int, status: RequestStatus, *, note: str | None
) -> feedback.StatusChange:
    press = await staff_press(interaction, MemberRole.ADMIN)
    return await press.decide(feedback.set_status, request_id=request_id, status=status, note=note)


def status_changed(change: feedback.StatusChange) -> discord.Embed:
    request = change.request
    said = "Its requester will get a DM." if change.changed else "It already was: nothing changed."
    return success_embed(f"#{request.id} is {STATUS_NAMES[request.status]}", said)


class StatusNote(Form):
    """The note the requester reads with the request's status."""

    note: discord.ui.TextInput[StatusNote] = discord.ui.TextInput(
        label="Note for the requester", style=discord.TextStyle.paragraph, max_length=feedback.NOTE_CHARS
    )

    def __init__(self, request_id: int, status: RequestStatus) -> None:
        super().__init__(title=clip(f"#{request_id}: {STATUS_NAMES[status]}", 45))
        self.request_id, self.new_status = request_id, status

    async def on_submit(self, interaction: discord.Interaction) -> None:
        change = await change_status(interaction, self.request_id, self.new_status, note=self.note.value)
        await send(interaction, embed=status_changed(change))
