"""The persistent-button base: custom ids held to Discord's limit, and a press rebuilt from its custom id."""

from __future__ import annotations

import discord
import pytest

from cogs._input import ID_MAX, NO_SUCH_ID
from cogs._limits import CUSTOM_ID_MAX
from cogs._views import DatabaseId, PersistentButton

PREFIX = "test:note:1:"


class NoteButton(PersistentButton, template=r"test:note:(?P<note>\d+):(?P<text>.*)"):
    def __init__(self, note: DatabaseId, text: str, label: str = "Note") -> None:
        super().__init__(discord.ui.Button(label=label, custom_id=f"test:note:{note}:{text}"))
        self.note, self.text, self.label = note, text, label


def test_the_constructor_takes_a_custom_id_as_long_as_discord_allows_and_refuses_a_longer_one() -> None:
    longest = NoteButton(1, "x" * (CUSTOM_ID_MAX - len(PREFIX)))
    assert len(longest.custom_id) == CUSTOM_ID_MAX

    with pytest.raises(ValueError, match=f"101 characters; Discord takes {CUSTOM_ID_MAX}"):
        NoteButton(1, "x" * (CUSTOM_ID_MAX - len(PREFIX) + 1))


@pytest.mark.parametrize(("digits", "note"), [("42", 42), (str(ID_MAX + 1), NO_SUCH_ID)])
async def test_a_press_is_rebuilt_from_the_custom_id_and_the_label_of_the_button_pressed(
    digits: str, note: int
) -> None:
    pressed = discord.ui.Button(label="Read me", custom_id=f"test:note:{digits}:hello")
    match = NoteButton.__discord_ui_compiled_template__.fullmatch(pressed.custom_id or "")
    assert match is not None

    rebuilt = await NoteButton.from_custom_id(None, pressed, match)  # type: ignore[arg-type]  # not read

    assert (rebuilt.note, rebuilt.text, rebuilt.label) == (note, "hello", "Read me")
