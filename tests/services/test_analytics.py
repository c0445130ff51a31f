"""Class analytics on a class whose every figure is worked out by hand (tests/services/analytics_class.py)."""

from __future__ import annotations

import argparse
import csv
import io
import math
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.__main__ import analytics_backfill, course_gradebook
from bot.config import Settings
from bot.services.analytics import at_risk, digest, gradebook, insight, items, overview, snapshots
from db.models import AuditLog, ClassAnalytics, GuildMember, MemberRole, Notification, NotificationKind
from db.models.analytics import WHOLE_COURSE
from db.session import Database
from tests.services.analytics_class import ALICE, BOB, CODE, DAVE, ERIN, NEXT_MORNING, build_class
from tests.services.course_fixtures import GUILD, INSTRUCTOR

DAY = date(2026, 11, 21)


async def test_a_day_snapshot_matches_the_hand_count(database: Database) -> None:
    built = await build_class(database)
    async with database.session_scope() as session:
        run = await snapshots.snapshot_due(session, now=NEXT_MORNING)
    assert (run.courses, run.days) == (1, 2)  # the day of the first enrollment, and the day after
    async with database.session_scope() as session:
        rows = {
            row.offering_id: row
            for row in await session.scalars(select(ClassAnalytics).where(ClassAnalytics.day == DAY))
        }
    assert set(rows) == {WHOLE_COURSE, built.offering_id}
    day = rows[WHOLE_COURSE]
    assert (day.day, day.total_students, day.active_students, day.learning_students, day.asking_students) == (
        DAY,
        4,
        4,
        4,
        1,
    )
    # (4 active + 4 learning + 1 asking) / (3 x 4 students)
    assert day.engagement_score == 75.0
    assert day.avg_questions == 0.5  # 2 tutor questions / 4 active
    assert day.avg_minutes == 10.0  # (5 attempts x 2 min + intro 10 + setup 20) / 4 active
    assert (day.quiz_attempts, day.quiz_passed) == (5, 2)
    assert (day.tutor_sessions, day.tutor_messages, day.tutor_replies, day.cached_replies) == (1, 2, 2, 1)
    assert (day.thumbs_up, day.thumbs_down, day.tutor_tokens) == (0, 1, 100)
    assert sorted(day.module_completion.values()) == [0.0, 0.25]  # only Alice finished "start"
    _concept, share = day.struggling_concepts[0]
    assert share == round(11 / 15, 3)  # 11 of the 15 answers right
    cohort = rows[built.offering_id]
    assert (cohort.total_students, cohort.active_students, cohort.engagement_score) == (4, 4, 75.0)


async def test_a_rerun_changes_nothing_and_a_backfill_rebuilds_in_place(database: Database) -> None:
    await build_class(database)
    async with database.session_scope() as session:
        await snapshots.snapshot_due(session, now=NEXT_MORNING)
    async with database.session_scope() as session:
        before = [
            (row.id, row.computed_at, row.active_students) for row in await session.scalars(select(ClassAnalytics))
        ]
    async with database.session_scope() as session:
        again = await snapshots.snapshot_due(session, now=NEXT_MORNING + timedelta(hours=1))
    assert again.courses == 0
    async with database.session_scope() as session:
        after = [
            (row.id, row.computed_at, row.active_students) for row in await session.scalars(select(ClassAnalytics))
        ]
        assert after == before
        await snapshots.backfill(session, now=NEXT_MORNING, days=3)
    async with database.session_scope() as session:
        count = await session.scalar(select(func.count()).select_from(ClassAnalytics))
        kept = await session.scalar(
            select(ClassAnalytics.active_students).where(
                ClassAnalytics.day == DAY, ClassAnalytics.offering_id == WHOLE_COURSE
            )
        )
    assert count == 3 * 2  # three days, whole course and its one cohort
    assert kept == 4


def test_correlation_is_pearsons() -> None:
    assert items.correlation([1, 0, 1, 0], [1, 2, 2, 1]) == 0
    assert items.correlation([1, 1, 1, 1], [1, 2, 3, 4]) is None
    assert items.correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1)


async def test_item_analysis_follows_moodle(database: Database) -> None:
    built = await build_class(database)
    async with database.session_scope() as session:
        stats = await items.quiz_statistics(session, course_id=built.course_id, item_id=built.quiz_id)
    assert stats.first_attempts == 4  # Erin's second attempt is not a first attempt
    assert stats.mean_score == round(100 * 8 / 12, 1)
    q1, q2, q3 = stats.items
    assert [q1.facility, q2.facility, q3.facility] == [75.0, 50.0, 75.0]
    # Q1 against the rest (Q2 + Q3): x = 1,1,1,0 and rest = 1,1,2,1 -> cov 0.25 / (√0.75 x √0.75) = 1/3
    assert q1.discrimination == 33.3
    # Q2: x = 1,0,1,0, rest = 1,2,2,1 -> no covariance
    assert q2.discrimination == 0.0
    # Q3: x = 0,1,1,1, rest = 2,1,2,0 -> cov -0.75 / (√0.75 x √2.75)
    assert q3.discrimination == round(100 * -0.75 / math.sqrt(0.75 * 2.75), 1) == -52.2
    assert q3.flags == ["weaker students do better than stronger ones"]
    assert q1.flags == [] and q2.flags == []
    assert (q1.wrong_answer, q1.wrong_answer_count) == ("no", 1)


async def test_students_at_risk(database: Database) -> None:
    await build_class(database)
    async with database.session_scope() as session:
        scope = await overview.scope_of(session, guild_id=GUILD, code=CODE, cohort=None)
        found = await at_risk.students_at_risk(session, scope=scope, now=NEXT_MORNING, inactive_days=7, pace_margin=0.2)
        later = await at_risk.students_at_risk(
            session, scope=scope, now=NEXT_MORNING + timedelta(days=8), inactive_days=7, pace_margin=1.0
        )
    reasons = {student.user_id: student.reasons for student in found}
    # The cohort has used 10.4 of its 20 days (52%): under 32% done is behind. Only Alice did 2 of 4 items.
    behind = "behind the cohort's pace (0% done, 52% of its time used)"
    assert reasons == {
        ALICE: ["below the passing score in Check"],
        BOB: ["below the passing score in Check", behind],
        DAVE: [behind],
        ERIN: [behind],
    }
    assert all(student.reasons[0] == "no activity for 7+ days" for student in later)


async def test_gradebook_csv_is_formula_safe_and_audited(database: Database) -> None:
    await build_class(database)
    async with database.session_scope() as session:
        scope = await overview.scope_of(session, guild_id=GUILD, code=CODE, cohort="spring")
        book = await gradebook.gradebook(session, scope=scope, actor_id=INSTRUCTOR, guild_id=GUILD)
    rows = list(csv.reader(io.StringIO(book.csv().decode())))
    assert rows[0] == [
        "user_id",
        "display_name",
        "cohort",
        "status",
        "progress_percent",
        "Check best %",
        "Check passed",
        "xp",
        "last_active",
        "streak_days",
    ]
    by_name = {row[1]: row for row in rows[1:]}
    assert by_name["Alice"][4:7] == ["50.0", "66.7", "no"]
    assert by_name["Dave"][4:7] == ["0.0", "100.0", "yes"]
    assert by_name["'=Erin()"][4:7] == ["0.0", "100.0", "yes"]  # a name that would be a formula stays text
    async with database.session_scope() as session:
        action = await session.scalar(select(AuditLog.action).order_by(AuditLog.id.desc()))
    assert action == "course.gradebook"


async def test_overview_adds_today_live_to_the_stored_days(database: Database) -> None:
    await build_class(database)
    async with database.session_scope() as session:
        await snapshots.backfill(session, now=NEXT_MORNING, days=2)
        scope = await overview.scope_of(session, guild_id=GUILD, code=CODE, cohort=None)
        shown = await overview.overview(session, scope=scope, days=7, now=NEXT_MORNING)
    assert [day.day for day in shown.days] == [date(2026, 11, 20), DAY, date(2026, 11, 22)]
    assert shown.quiz_attempts == 5 and shown.quiz_pass_rate == 2 / 5
    assert shown.funnel == [("Start", 0.25), ("Finish", 0.0)]
    assert shown.lowest_mastery == [("Basics", pytest.approx(0.5), 2)]
    assert sorted(shown.scores) == [33.3, 66.7, 66.7, 100.0, 100.0]
    assert [title for _, title in shown.quizzes] == ["Check"]


async def test_tutor_insight(database: Database) -> None:
    built = await build_class(database)
    async with database.session_scope() as session:
        found = await insight.tutor_insight(session, course_id=built.course_id, since=None)
    assert found.unanswered == ["And a list?", "What is a loop?"]  # neither answer cited the material
    assert found.disliked == [("It holds items.", None)]
    assert found.sources == [] and found.discussed == []


async def test_weekly_digest_is_planned_once_per_course_week_and_instructor(database: Database) -> None:
    built = await build_class(database)
    monday = NEXT_MORNING + timedelta(days=1)  # Monday 23 November, 09:00 UTC
    async with database.session_scope() as session:
        session.add(GuildMember(guild_id=GUILD, user_id=BOB, role=MemberRole.INSTRUCTOR))
        await snapshots.backfill(session, now=monday, days=14)
    async with database.session_scope() as session:
        assert await digest.plan_digests(session, now=monday - timedelta(hours=2), hour=8) == 0  # before 08:00
        assert await digest.plan_digests(session, now=monday, hour=8) == 2  # Bob, and the course's creator
        assert await digest.plan_digests(session, now=monday + timedelta(hours=1), hour=8) == 0
    async with database.session_scope() as session:
        planned = list(await session.scalars(select(Notification).order_by(Notification.user_id)))
    assert [(row.kind, row.user_id, row.course_id) for row in planned] == [
        (NotificationKind.DIGEST, INSTRUCTOR, built.course_id),
        (NotificationKind.DIGEST, BOB, built.course_id),
    ]
    claimed = outbox_claim(planned[0])
    async with database.session_scope() as session:
        composed = await digest.compose_digest(session, claimed)
    assert not isinstance(composed, str)
    assert composed.week_start == date(2026, 11, 16)
    assert composed.this_week.quiz_attempts == 5 and composed.week_before.quiz_attempts == 0
    assert composed.this_week.students == 4


def outbox_claim(row: Notification) -> digest.outbox.Claimed:
    return digest.outbox.Claimed(
        id=row.id,
        kind=row.kind,
        guild_id=row.guild_id,
        user_id=row.user_id,
        course_id=row.course_id,
        channel_id=row.channel_id,
        payload=row.payload,
        due_at=row.due_at,
        attempts=1,
    )


async def test_the_command_line_writes_the_gradebook_and_backfills(
    database: Database, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await build_class(database)
    settings.database.url = database.engine.url.render_as_string(hide_password=False)
    out = tmp_path / "class.csv"
    grading = argparse.Namespace(code=CODE, out=out, guild=GUILD, cohort=None)
    assert await course_gradebook(settings, grading) == 0
    assert out.read_bytes().count(b"\n") == 5  # the header and four students
    assert await course_gradebook(settings, argparse.Namespace(code="NOPE", out=out, guild=GUILD, cohort=None)) == 1
    assert await analytics_backfill(settings, argparse.Namespace(days=0, guild=None)) == 2
    assert await analytics_backfill(settings, argparse.Namespace(days=2, guild=GUILD)) == 0
    assert "for 1 course(s)" in capsys.readouterr().out
    async with database.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(ClassAnalytics)) == 2 * 2
        gradebook_audits = await session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "course.gradebook")
        )
    assert gradebook_audits == 1
