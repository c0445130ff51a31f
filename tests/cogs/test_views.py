"""The persistent-button base: custom ids held to Discord's limit, and a press rebuilt from its custom id."""

from __future__ import annotations

import discord
import pytest

from cogs._escalation_views import AskTAButton, ClaimButton, ReleaseButton, ReplyButton, SaveAnswerButton
from cogs._input import ID_MAX, NO_SUCH_ID
from cogs._limits import CUSTOM_ID_MAX
from cogs._submission_views import ApproveButton, RejectButton, UndoButton
from cogs._views import DatabaseId, PersistentButton, RowButton
from cogs.feedback import VoteButton

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


# Messages already posted in servers carry these ids: a row button must keep building and reading them.
POSTED_ROW_BUTTON_IDS = [
    (ApproveButton, "sub:approve:42"),
    (RejectButton, "sub:reject:42"),
    (UndoButton, "sub:undo:42"),
    (AskTAButton, "tutor:ta:42"),
    (ClaimButton, "esc:claim:42"),
    (ReplyButton, "esc:reply:42"),
    (ReleaseButton, "esc:release:42"),
    (SaveAnswerButton, "esc:save:42"),
    (VoteButton, "fb:vote:42"),
]


@pytest.mark.parametrize(("button", "custom_id"), POSTED_ROW_BUTTON_IDS)
async def test_a_row_button_keeps_its_posted_custom_id_and_reads_the_row_back(
    button: type[RowButton], custom_id: str
) -> None:
    assert button(42).custom_id == custom_id
    pressed = discord.ui.Button(label=button.label, custom_id=custom_id)
    match = button.__discord_ui_compiled_template__.fullmatch(custom_id)
    assert match is not None

    rebuilt = await button.from_custom_id(None, pressed, match)  # type: ignore[arg-type]  # not read

    assert rebuilt.row_id == 42 and rebuilt.numbered().item.label == f"{button.label} #42"
