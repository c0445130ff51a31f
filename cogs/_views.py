"""Buttons and views: persistent buttons that survive a restart, and views that answer only the person they were
made for, report errors centrally, and tidy up on timeout."""

from __future__ import annotations

import contextlib
import functools
import re
from typing import Annotated, Any, Self, get_origin, get_type_hints

import discord

from cogs._input import custom_id_number
from cogs._limits import CUSTOM_ID_MAX
from cogs._ui import embed, error_embed, send
from cogs.errors import report

DatabaseId = Annotated[int, custom_id_number]
"""A `PersistentButton` argument read from its custom_id as an id to look up (see `custom_id_number`)."""


class PersistentButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A button that keeps working after a restart: its custom_id carries everything a press needs.

    A subclass gives a `template` with a named group for each argument of its `__init__`, and a `handle`. A press
    is rebuilt by `from_custom_id`: each group becomes the argument of its name, read as the argument is annotated
    (`int`, `str` or `DatabaseId`), and a `label` argument without a group gets the pressed button's label.
    Errors go to the one error handler (a DynamicItem's view has no `on_error` of ours). The base's own template
    matches nothing: only subclasses are registered.
    """

    def __init__(self, button: discord.ui.Button[Any]) -> None:
        if button.custom_id is not None and len(button.custom_id) > CUSTOM_ID_MAX:
            raise ValueError(
                f"custom_id {button.custom_id!r} has {len(button.custom_id)} characters; Discord takes {CUSTOM_ID_MAX}"
            )
        super().__init__(button)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> Self:
        annotations = _init_annotations(cls)
        arguments = {name: _read(annotations[name], text) for name, text in match.groupdict().items()}
        if "label" in annotations and "label" not in arguments:
            arguments["label"] = item.label or "?"
        return cls(**arguments)

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        try:
            await self.handle(interaction)
        except Exception as error:  # the one handler answers the user and logs what is unexpected
            await report(interaction, error)

    async def handle(self, interaction: discord.Interaction) -> None:
        raise NotImplementedError


class RowButton(PersistentButton, template=r"(?!)"):
    """A persistent button about one database row, whose custom_id is `{prefix}:{row id}`.

    A subclass names its prefix and looks (`class ClaimButton(RowButton, prefix="esc:claim", label="Claim",
    style=…)`) and reads the row's id as `self.row_id` in its `handle`. The prefix is part of ids already posted in
    servers: it never changes.
    """

    prefix: str
    label: str
    style: discord.ButtonStyle
    emoji: str | None

    def __init_subclass__(
        cls, *, prefix: str, label: str, style: discord.ButtonStyle, emoji: str | None = None, **options: Any
    ) -> None:
        super().__init_subclass__(template=re.escape(prefix) + r":(?P<row_id>\d+)", **options)
        cls.prefix, cls.label, cls.style, cls.emoji = prefix, label, style, emoji

    def __init__(self, row_id: DatabaseId) -> None:
        super().__init__(
            discord.ui.Button(label=self.label, emoji=self.emoji, style=self.style, custom_id=f"{self.prefix}:{row_id}")
        )
        self.row_id = row_id

    def numbered(self) -> Self:
        """The button with its row's id in its label, for a message that offers it for several rows."""
        self.item.label = f"{self.item.label} #{self.row_id}"
        return self


class Form(discord.ui.Modal):
    """A modal whose errors go to the one error handler, like every view's."""

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report(interaction, error)


@functools.cache
def _init_annotations(button: type[PersistentButton]) -> dict[str, Any]:
    """The annotations of `button.__init__`, resolved once per class: resolving them (evaluating their text) took
    about 0.1 to 0.2 ms, on every press, before the press could be acknowledged."""
    return get_type_hints(button.__init__, include_extras=True)


def _read(annotation: Any, text: str) -> Any:
    """`text` as `annotation` says: `Annotated[int, read]` through `read`, a plain type (`int`, `str`) by calling it."""
    if get_origin(annotation) is Annotated:
        return annotation.__metadata__[0](text)
    return annotation(text)


class OwnedView(discord.ui.View):
    """A view whose buttons work only for `owner_id`; on timeout its buttons are disabled in place."""

    message: discord.Message | discord.InteractionMessage | None = None

    def __init__(self, *, owner_id: int, timeout: float | None = 300) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await send(interaction, embed=error_embed("These buttons belong to someone else. Run the command yourself."))
        return False

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]) -> None:
        await report(interaction, error)

    async def on_timeout(self) -> None:
        for child in self.children:
            if isinstance(child, discord.ui.Button | discord.ui.Select):
                child.disabled = True
        if self.message is not None:
            # The message may be gone or its token expired; then there is nothing left to tidy.
            with contextlib.suppress(discord.HTTPException):
                await self.message.edit(view=self)


class Paginator(OwnedView):
    """Pages of embeds with previous/next buttons; a single page shows no buttons at all."""

    def __init__(self, pages: list[discord.Embed], *, owner_id: int, timeout: float | None = 600) -> None:
        super().__init__(owner_id=owner_id, timeout=timeout)
        if not pages:
            raise ValueError("a paginator needs at least one page")
        self.pages = pages
        self.index = 0
        if len(pages) > 1:
            for number, page in enumerate(pages, start=1):
                footer = f"{page.footer.text} · " if page.footer.text else ""
                page.set_footer(text=f"{footer}Page {number}/{len(pages)}")
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index == len(self.pages) - 1

    @property
    def first_page(self) -> discord.Embed:
        return self.pages[0]

    async def start(self, interaction: discord.Interaction, **extra: Any) -> None:
        """Send the first page (ephemeral) with buttons when there is more than one page."""
        view = self if len(self.pages) > 1 else discord.utils.MISSING
        await send(interaction, embed=self.pages[0], view=view, **extra)
        if len(self.pages) > 1:
            self.message = await interaction.original_response()

    async def _show(self, interaction: discord.Interaction) -> None:
        self._update_buttons()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)

    @discord.ui.button(label="Previous", emoji="◀", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button[Paginator]) -> None:
        self.index = max(0, self.index - 1)
        await self._show(interaction)

    @discord.ui.button(label="Next", emoji="▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[Paginator]) -> None:
        self.index = min(len(self.pages) - 1, self.index + 1)
        await self._show(interaction)


class ConfirmView(OwnedView):
    """Confirm or cancel a destructive action; use it through `confirm()`."""

    def __init__(self, *, owner_id: int, confirm_label: str = "Confirm", timeout: float = 60) -> None:
        super().__init__(owner_id=owner_id, timeout=timeout)
        self.confirmed: bool | None = None
        self.confirm.label = confirm_label
        self.interaction: discord.Interaction | None = None

    async def _finish(self, interaction: discord.Interaction, confirmed: bool) -> None:
        self.confirmed = confirmed
        self.interaction = interaction
        for child in self.children:
            if isinstance(child, discord.ui.Button):
                child.disabled = True
        self.stop()

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        await self._finish(interaction, True)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        await self._finish(interaction, False)


async def confirm(
    interaction: discord.Interaction, question: discord.Embed, *, confirm_label: str, declined: str, untouched: str
) -> discord.Interaction | None:
    """Ask `question` privately with Confirm/Cancel buttons. Returns the Confirm press (answer it with
    `response.edit_message`); on Cancel or no answer in time the message becomes `declined` (a title such as
    "Nothing deleted") with `untouched` below it, and None is returned."""
    view = ConfirmView(owner_id=interaction.user.id, confirm_label=confirm_label)
    await send(interaction, embed=question, view=view)
    await view.wait()
    if view.interaction is None:
        await interaction.edit_original_response(
            embed=embed("Nothing changed", f"No answer in time. {untouched}"), view=None
        )
        return None
    if not view.confirmed:
        await view.interaction.response.edit_message(embed=embed(declined, untouched), view=None)
        return None
    return view.interaction
