"""`/teach analytics`, `/teach gradebook` and the weekly digest through real discord.py parsing, on the sample course
after a student has taken a quiz."""

from __future__ import annotations

import csv
import io
import struct

import pytest

from bot import scheduler
from bot.clock import FixedClock
from bot.services.analytics.charts import SIZE
from sandbox import DiscordSandbox
from tests.cogs.test_quiz import answer_everything

DISCORD_UPLOAD_LIMIT = 10 * 1024 * 1024


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header, which must be one."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
async def quiz_taken(classroom: DiscordSandbox) -> DiscordSandbox:
    await classroom.slash("course enroll", course="PY101")
    await answer_everything(classroom, await classroom.slash("quiz start", quiz="first-steps-check"))
    return classroom


async def test_an_instructor_sees_figures_charts_and_drill_downs(quiz_taken: DiscordSandbox) -> None:
    sandbox = quiz_taken
    shown = await sandbox.slash("teach analytics", user=sandbox.instructor, course="PY101")

    assert shown.ephemeral and shown.deferred
    assert "PY101 analytics" in shown.text
    assert "**1** enrolled · **1** active today" in shown.text
    assert "Quizzes: **1** attempt(s) submitted" in shown.text
    assert [file.filename for file in shown.files] == [
        "active-students.png",
        "completion-by-module.png",
        "lowest-mastery.png",
        "quiz-scores.png",
    ]
    for file in shown.files:
        assert png_size(file.data) == SIZE and len(file.data) < DISCORD_UPLOAD_LIMIT // 20

    at_risk = await sandbox.click(shown, "Students at risk", user=sandbox.instructor)
    assert at_risk.ephemeral and "students at risk" in at_risk.text
    items = await sandbox.select(shown, "Item analysis of a quiz…", ["First steps check"], user=sandbox.instructor)
    assert "item analysis" in items.text and "Facility" in items.text and "discrimination" in items.text
    insight = await sandbox.click(shown, "Tutor insight", user=sandbox.instructor)
    assert "tutor insight" in insight.text

    refused = await sandbox.slash("teach analytics", course="PY101", validate=False)  # the student
    assert "PY101 analytics" not in refused.text and not refused.files
    unknown = await sandbox.slash("teach analytics", user=sandbox.instructor, course="PY101", cohort="Nope")
    assert "No cohort called `Nope`" in unknown.text


async def test_the_gradebook_and_the_weekly_digest(quiz_taken: DiscordSandbox, clock: FixedClock) -> None:
    sandbox = quiz_taken
    reply = await sandbox.slash("teach gradebook", user=sandbox.instructor, course="PY101")
    (file,) = reply.files
    assert file.filename == "py101-gradebook.csv"
    rows = list(csv.DictReader(io.StringIO(file.data.decode())))
    assert len(rows) == 1 and rows[0]["status"] == "ACTIVE"
    # The student answered "A" to every (shuffled) question: whatever they scored, it is there.
    assert 0 <= float(rows[0]["First steps check best %"]) <= 100 and rows[0]["xp"].isdigit()

    clock.advance(days=7)  # the next Monday, 10:00 UTC: the week of the quiz is "last week"
    await scheduler.snapshot_class_analytics(sandbox.bot)  # type: ignore[arg-type]
    await scheduler.plan_weekly_digests(sandbox.bot)  # type: ignore[arg-type]
    await scheduler.send_notifications(sandbox.bot)  # type: ignore[arg-type]
    await scheduler.plan_weekly_digests(sandbox.bot)  # type: ignore[arg-type]
    clock.advance(hours=1)
    await scheduler.send_notifications(sandbox.bot)  # type: ignore[arg-type]

    (dm,) = sandbox.dms_to(sandbox.instructor)  # sent once, though planned twice
    assert "Weekly digest: PY101" in dm.text and "Week of 23 Nov 2026" in dm.text
    assert "Quiz attempts: **1** (▲ from 0)" in dm.text
    assert [file.filename for file in dm.files] == ["active-students.png"]
