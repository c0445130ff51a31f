"""`/streak` and `/leaderboard` through real discord.py parsing: the daily habit, in a server or in a DM, and who is
shown on the board."""

from __future__ import annotations

from sandbox import DiscordSandbox, payloads


async def test_a_streak_earned_in_the_server_shows_in_a_dm(classroom: DiscordSandbox) -> None:
    await classroom.slash("course enroll", course="PY101")
    await classroom.slash("lesson next")
    await classroom.slash("lesson next")  # leaving the first lesson finishes it: today counts
    student = classroom.student["user"]
    dm = classroom.http.open_dm_channel(student["id"])
    payload = payloads.slash_interaction(
        "streak", [], user=student, guild=None, channel=dm, application_id=classroom.http.application_id
    )

    reply = await classroom._interact(payload, label="/streak", user_id=int(student["id"]))

    assert reply.ephemeral and "1-day streak" in reply.text and "(UTC)" in reply.text


async def test_a_member_who_hides_is_left_off_the_board_and_told_why_they_are_missing(
    classroom: DiscordSandbox,
) -> None:
    kim = await classroom.add_member("kim")
    for member, lessons in ((classroom.student, 2), (kim, 3)):
        await classroom.slash("course enroll", course="PY101", user=member)
        for _ in range(lessons):
            await classroom.slash("lesson next", user=member)
    await classroom.slash("profile leaderboard", visible="off", user=kim)

    seen_by_sam = await classroom.slash("leaderboard", period="all")
    seen_by_kim = await classroom.slash("leaderboard", period="all", user=kim)

    assert "🥇 Sam — 10 XP ← you" in seen_by_sam.text and "Kim" not in seen_by_sam.text
    assert "You: **#1** with 10 XP" in seen_by_sam.text
    assert "🥇 Sam — 10 XP" in seen_by_kim.text and "you hid yourself" in seen_by_kim.text
