"""`/lesson` through real discord.py parsing: reading a course in order, paging through a long lesson, and what
finishing lessons earns."""

from __future__ import annotations

from bot.clock import FixedClock
from sandbox import DiscordSandbox


async def test_a_long_lesson_pages_and_only_its_reader_can_turn_pages(classroom: DiscordSandbox) -> None:
    await classroom.slash("course enroll", course="PY101")
    first = await classroom.slash("lesson open", lesson="functions")
    assert "Page 1/2" in first.text
    assert all(len(embed["description"]) <= 4096 for embed in first.embeds)
    assert first.embeds[0]["description"].count("```") % 2 == 0  # no code block cut open
    second = await classroom.click(first, "Next")
    assert "Page 2/2" in second.text


async def test_finishing_lessons_earns_xp_once_and_counts_the_day(classroom: DiscordSandbox, clock: FixedClock) -> None:
    await classroom.slash("course enroll", course="PY101")
    for move in ["next", "next", "next", "prev", "next"]:  # the last one leaves a lesson already done
        clock.advance(minutes=5)
        await classroom.slash(f"lesson {move}")
    board = await classroom.slash("leaderboard", period="all")
    assert "with 20 XP" in board.text  # two lessons left behind, 10 XP each
    streak = await classroom.slash("streak")
    assert "1-day streak" in streak.text


async def test_opening_a_lesson_that_does_not_exist_says_so(classroom: DiscordSandbox) -> None:
    await classroom.slash("course enroll", course="PY101")

    reply = await classroom.slash("lesson open", lesson="quantum-loops")

    assert reply.ephemeral and "No lesson called `quantum-loops`" in reply.text and "Check the spelling" in reply.text


async def test_reading_before_enrolling_points_to_the_course_list(classroom: DiscordSandbox) -> None:
    reply = await classroom.slash("lesson next")

    assert reply.ephemeral and "You are not enrolled in any course" in reply.text and "/course enroll" in reply.text
