"""Issue 13's "done when" in the console: a student sets a reminder, moves the clock to tomorrow 09:00, sees the
reminder arrive as a DM and opens the lesson with its Continue button; `/remind show` and `/remind off` work."""

from __future__ import annotations

from tests.e2e.conftest import ConsoleSession


async def test_a_student_sees_a_reminder_arrive_when_the_clock_moves_and_continues_from_it(
    console: ConsoleSession,
) -> None:
    await console.run("/course enroll course:PY101")
    await console.run("/lesson next")
    assert "Reminder set" in await console.run("/remind set time:09:00")
    assert "(the bot's clock: Mon 2026-11-23 10:00 UTC)" in await console.run("clock")

    arrived = await console.run("clock tomorrow 09:00")

    assert "now Tue 2026-11-24 09:00 UTC" in arrived
    assert "(direct message to Sam)" in arrived and "Study time: Python Basics" in arrived
    assert "You left off at **What is Python?**" in arrived
    opened = await console.run(str(console.buttons(arrived)["Continue"]))
    assert "What is Python?" in opened and "Item 1/" in opened

    shown = await console.run("/remind show")
    assert "**PY101** · 09:00 every day · next" in shown and "Wed 25 Nov, 09:00 UTC" in shown
    assert "UTC** is assumed" in shown
    assert "No more reminders for PY101" in await console.run("/remind off")
    assert "(nothing was sent)" in await console.run("clock +1d")


async def test_the_clock_reads_steps_and_refuses_what_it_cannot(console: ConsoleSession) -> None:
    assert "now Mon 2026-11-23 12:30 UTC" in await console.run("clock +2h +30m")
    assert "now Tue 2026-11-24 12:30 UTC" in await console.run("clock +1d")
    assert "now Wed 2026-11-25 09:00 UTC" in await console.run("clock tomorrow 09:00")
    assert "now Wed 2026-11-25 10:00 UTC" in await console.run("clock 10:00")
    assert "! can't read" in await console.run("clock someday")
    assert "! the clock only moves forward" in await console.run("clock 2026-01-01 09:00")
