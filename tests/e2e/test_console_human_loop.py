"""Issue 15's walk-through in the console: a student asks a TA from a tutor thread, the instructor claims it from
the inbox, answers in the thread (the tutor stays quiet) and hands it back; the student submits material the
instructor approves, and sends feedback that is posted for +1s."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ConsoleSession

GENERAL = 1_080_000_000_000_000_300  # the sandbox's #general


# The walk-through shows the console; tests/cogs/test_human_loop.py runs every flow on both backends.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_ask_a_ta_submit_material_and_send_feedback(console: ConsoleSession, tmp_path: Path) -> None:
    await console.run("as admin")
    await console.run(f"/admin setup staff_channel:{GENERAL} feedback_channel:{GENERAL}")
    await console.run("as student")
    await console.run("/course enroll course:PY101")
    await console.run("/tutor start lesson:variables")
    answer = await console.run("say What is a variable?")
    unhappy = await console.run(str(console.buttons(answer)["👎"]))
    asked = await console.run(str(console.buttons(unhappy)["Ask a TA"]))
    assert "A TA has been asked" in asked and "A student asks for a TA" in asked

    await console.run("as instructor")
    inbox = await console.run("/teach inbox")
    claimed = await console.run(str(console.buttons(inbox)["Claim #1"]))
    assert "You have it" in claimed and "A TA is coming" in claimed
    assert await console.run("say A variable is a name for a value.") == ""  # kept; the tutor is paused
    held = await console.run("/teach inbox")
    assert "Handed back" in await console.run(str(console.buttons(held)["Release #1"]))

    notes = tmp_path / "loops.md"
    notes.write_text("# Loops\n\nA loop repeats its body.\n")
    await console.run("as student")
    assert "Submitted #1 to PY101" in await console.run(f"/course submit course:PY101 file:@{notes} title:Loops")
    sent = await console.run("/feedback kind:idea title:Dark mode details:Please add one")
    assert "Your reference is #1" in sent and "Dark mode" in sent
    await console.run("as instructor")
    review = await console.run("/teach submissions course:PY101")
    approved = await console.run(str(console.buttons(review)["Approve #1"]))
    assert "Approved #1" in approved and "25 XP" in approved

    # A form the bot opens is filled in the console too: a rejection's reason.
    notes.write_text("# Loops again\n\nSame as before.\n")
    await console.run("as student")
    await console.run(f"/course submit course:PY101 file:@{notes} title:Loops again")
    await console.run("as instructor")
    review = await console.run("/teach submissions course:PY101")
    form = await console.run(str(console.buttons(review)["Reject #2"]))
    assert "[1] " in form and "fill 1:text" in form
    rejected = await console.run("fill 1:It repeats the first one")
    assert "Rejected #2" in rejected, rejected
