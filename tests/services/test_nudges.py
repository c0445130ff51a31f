"""Nudges on both backends: a streak at risk, a cohort about to end, a new lesson announced."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update

from bot.services import audit, courses, nudges, outbox, reminders, tenancy
from bot.services.coursepack import CohortSpec, CoursePackage
from bot.services.nudges import NudgeMessage
from bot.services.outbox import Claimed
from db.models import (
    ContentItem,
    CourseEnrollment,
    EnrollmentStatus,
    Notification,
    NotificationKind,
    ReminderPreference,
    Streak,
    User,
)
from db.session import Database
from tests.conftest import counted_statements
from tests.services.course_fixtures import (
    ALICE,
    BOB,
    CAROL,
    GUILD,
    INSTRUCTOR,
    complete,
    enroll,
    import_course,
    lesson,
    replace_item,
    seed_people,
    set_reminder,
    study,
    tiny_package,
)

PARIS = "Europe/Paris"
NUDGE_AT = time(20, 0)
MONDAY = date(2026, 11, 23)
SUNDAY = MONDAY - timedelta(days=1)
# Monday 2026-11-23, 19:00 UTC = 20:00 in Paris; 20:00 UTC = 20:00 for students on UTC.
MONDAY_20_PARIS = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
MONDAY_20_UTC = MONDAY_20_PARIS + timedelta(hours=1)
TICK = timedelta(minutes=1)
COHORT_ENDS = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
NOTICE_AT = COHORT_ENDS - timedelta(days=3)
ANNOUNCEMENTS = 555_000


async def students_with_reminders(database: Database, *, cohort_ends: datetime | None = None) -> None:
    """Alice (Paris), Bob and Carol (UTC) in TINY; Alice and Bob have a daily reminder, Carol none."""
    await seed_people(database)
    await import_course(database, tiny_package(cohorts=(CohortSpec(term_name="Autumn", ends_at=cohort_ends),)))
    for student in (ALICE, BOB, CAROL):
        await enroll(database, student, "TINY")
    async with database.session_scope() as session:
        (await session.get(User, ALICE)).time_zone = PARIS  # type: ignore[union-attr]
    for student in (ALICE, BOB):
        await set_reminder(database, student, at="09:00", course="TINY", now=MONDAY_20_PARIS - timedelta(days=2))


async def give_streak(database: Database, user_id: int, days: int, *, last: date, freezes: int = 0) -> None:
    async with database.session_scope() as session:
        await session.merge(
            Streak(
                user_id=user_id,
                current=days,
                longest=days,
                last_activity_date=last,
                total_active_days=days,
                freezes_available=freezes,
            )
        )


async def set_preferences(database: Database, user_id: int, **values: Any) -> None:
    async with database.session_scope() as session:
        await session.execute(update(ReminderPreference).where(ReminderPreference.user_id == user_id).values(**values))


async def plan_streaks(database: Database, now: datetime, *, since: datetime | None = None) -> int:
    async with database.session_scope() as session:
        return await nudges.plan_streak_nudges(session, since=since or now - TICK, now=now, at=NUDGE_AT)


async def plan_deadlines(database: Database, now: datetime, *, since: datetime | None = None) -> int:
    async with database.session_scope() as session:
        return await nudges.plan_deadline_nudges(session, since=since or now - TICK, now=now)


async def outbox_keys(database: Database) -> list[str]:
    async with database.session_scope() as session:
        return list(await session.scalars(select(Notification.dedupe_key).order_by(Notification.id)))


async def claim_one(database: Database, now: datetime) -> Claimed:
    async with database.session_scope() as session:
        (claimed,) = await outbox.claim_due(session, now=now, limit=10)
    return claimed


async def compose(database: Database, claimed: Claimed) -> NudgeMessage | str:
    async with database.session_scope() as session:
        return await nudges.compose_nudge(session, claimed)


def test_the_zones_at_the_nudge_hour_are_the_few_sharing_one_offset() -> None:
    due = nudges.zones_at(NUDGE_AT, since=MONDAY_20_PARIS - TICK, now=MONDAY_20_PARIS)

    assert due[PARIS] == (MONDAY, MONDAY_20_PARIS) and due["Africa/Lagos"] == (MONDAY, MONDAY_20_PARIS)
    assert "UTC" not in due and "Europe/London" not in due and 10 < len(due) < 100
    assert {instant for _, instant in due.values()} == {MONDAY_20_PARIS}
    # On the night clocks go forward in Paris, 02:30 does not exist there: it counts at 03:00 (01:00 UTC).
    spring = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert nudges.zones_at(time(2, 30), since=spring - TICK, now=spring)[PARIS] == (date(2026, 3, 29), spring)


async def test_a_streak_at_risk_is_nudged_once_per_local_day(database: Database) -> None:
    await students_with_reminders(database)
    await give_streak(database, ALICE, 5, last=SUNDAY)
    await give_streak(database, BOB, 4, last=SUNDAY)

    assert await plan_streaks(database, MONDAY_20_PARIS - TICK) == 0  # 19:59 in Paris
    assert await plan_streaks(database, MONDAY_20_PARIS) == 1  # Alice's 20:00; Bob's comes an hour later
    assert await plan_streaks(database, MONDAY_20_PARIS + TICK * 5, since=MONDAY_20_PARIS - TICK * 30) == 0
    assert await plan_streaks(database, MONDAY_20_UTC) == 1
    await give_streak(database, ALICE, 6, last=MONDAY)  # she studied late on Monday; Tuesday is at risk again
    assert await plan_streaks(database, MONDAY_20_PARIS + timedelta(days=1)) == 1

    assert await outbox_keys(database) == [
        f"streak:{ALICE}:2026-11-23",
        f"streak:{BOB}:2026-11-23",
        f"streak:{ALICE}:2026-11-24",
    ]


async def test_a_streak_nudge_says_how_long_the_streak_is_and_is_skipped_once_studied(database: Database) -> None:
    await students_with_reminders(database)
    await give_streak(database, ALICE, 5, last=SUNDAY, freezes=1)
    await plan_streaks(database, MONDAY_20_PARIS)
    claimed = await claim_one(database, MONDAY_20_PARIS)

    assert claimed.kind is NotificationKind.STREAK_AT_RISK and claimed.due_at == MONDAY_20_PARIS
    assert await compose(database, claimed) == NudgeMessage(
        guild_id=GUILD,
        course_code="TINY",
        title="Keep your 5-day streak going",
        text="You haven't studied today yet. One lesson keeps your streak alive: `/lesson next course:TINY`. "
        "If today can't be done, a streak freeze will cover it.",
    )
    await study(database, ALICE, at=MONDAY_20_PARIS + TICK, zone=PARIS)
    assert await compose(database, claimed) == "already studied today"


async def test_no_streak_nudge_below_three_days_after_studying_today_or_once_the_streak_is_lost(
    database: Database,
) -> None:
    await students_with_reminders(database)
    await give_streak(database, ALICE, 2, last=SUNDAY)
    await give_streak(database, BOB, 9, last=MONDAY)  # studied today already
    assert await plan_streaks(database, MONDAY_20_PARIS) == 0
    assert await plan_streaks(database, MONDAY_20_UTC) == 0

    # Last active on Saturday: without a freeze the streak is gone; with one, today is the day to save it.
    await give_streak(database, ALICE, 7, last=SUNDAY - timedelta(days=1))
    await give_streak(database, BOB, 7, last=SUNDAY - timedelta(days=1), freezes=1)
    assert await plan_streaks(database, MONDAY_20_PARIS) == 0
    assert await plan_streaks(database, MONDAY_20_UTC) == 1
    assert await outbox_keys(database) == [f"streak:{BOB}:2026-11-23"]


async def test_streak_nudges_stop_when_reminders_are_off_or_paused_or_the_flag_is_off(database: Database) -> None:
    await students_with_reminders(database)
    for student in (ALICE, BOB, CAROL):
        await give_streak(database, student, 5, last=SUNDAY)
    await set_preferences(database, ALICE, streak_nudges=False)
    await set_preferences(database, BOB, paused_reason="I couldn't reach you", next_fire_at=None)
    # Carol never set a reminder: no row, no nudges.

    assert await plan_streaks(database, MONDAY_20_PARIS) == 0
    assert await plan_streaks(database, MONDAY_20_UTC) == 0

    async with database.session_scope() as session:
        assert await reminders.turn_off(session, guild_id=GUILD, user_id=BOB, course_code=None) == ["TINY"]
    await set_preferences(database, ALICE, streak_nudges=True)
    assert await plan_streaks(database, MONDAY_20_PARIS + timedelta(days=1), since=MONDAY_20_PARIS) == 0  # lost
    await give_streak(database, ALICE, 6, last=MONDAY)
    assert await plan_streaks(database, MONDAY_20_PARIS + timedelta(days=1)) == 1


async def test_a_streak_nudge_planned_before_opting_out_is_not_sent(database: Database) -> None:
    await students_with_reminders(database)
    await give_streak(database, ALICE, 5, last=SUNDAY)
    await plan_streaks(database, MONDAY_20_PARIS)
    await set_preferences(database, ALICE, streak_nudges=False)

    assert await compose(database, await claim_one(database, MONDAY_20_PARIS)) == "streak nudges turned off"


async def test_the_streak_planner_costs_the_same_however_many_students_are_not_due(database: Database) -> None:
    await students_with_reminders(database)
    await give_streak(database, ALICE, 5, last=SUNDAY)

    async def statements_of_one_tick(now: datetime) -> tuple[int, int]:
        with counted_statements(database) as statements:
            planned = await plan_streaks(database, now)
        return planned, len(statements)

    assert await statements_of_one_tick(MONDAY_20_PARIS - timedelta(hours=3)) == (0, 1)  # a zone, nobody in it
    assert await statements_of_one_tick(MONDAY_20_PARIS) == (1, 2)
    await crowd_elsewhere(database, 300)
    assert await statements_of_one_tick(MONDAY_20_PARIS + timedelta(days=1)) == (0, 1)  # Alice's streak is gone
    await give_streak(database, ALICE, 6, last=MONDAY)
    assert await statements_of_one_tick(MONDAY_20_PARIS + timedelta(days=1)) == (1, 2)


async def crowd_elsewhere(database: Database, count: int) -> None:
    """Students with live streaks and reminders, all in Tokyo, where it is never 20:00 when Paris's is."""
    first = 900_000
    async with database.session_scope() as session:
        session.add_all(User(id=first + n, display_name=f"s{n}", time_zone="Asia/Tokyo") for n in range(count))
        await session.flush()
        session.add_all(
            Streak(user_id=first + n, current=9, longest=9, last_activity_date=MONDAY, total_active_days=9)
            for n in range(count)
        )
        course_id = await session.scalar(select(ContentItem.course_id).limit(1))
        session.add_all(
            ReminderPreference(guild_id=GUILD, user_id=first + n, course_id=course_id, local_time=time(9), weekdays=127)
            for n in range(count)
        )


async def test_a_cohort_ending_in_three_days_nudges_its_students_below_100_percent(database: Database) -> None:
    await students_with_reminders(database, cohort_ends=COHORT_ENDS)
    for slug in ("intro", "setup", "check", "wrap-up"):
        await complete(database, ALICE, "TINY", slug)  # Alice is done
    await complete(database, BOB, "TINY", "intro")  # Bob has 3 of 4 to go; Carol has no reminder

    assert await plan_deadlines(database, NOTICE_AT - TICK) == 0
    with counted_statements(database) as statements:
        assert await plan_deadlines(database, NOTICE_AT) == 1
    assert len(statements) == 3
    assert await plan_deadlines(database, NOTICE_AT + TICK * 5, since=NOTICE_AT - timedelta(hours=1)) == 0
    assert await outbox_keys(database) == [f"deadline:{BOB}:1"]

    claimed = await claim_one(database, NOTICE_AT)
    assert await compose(database, claimed) == NudgeMessage(
        guild_id=GUILD,
        course_code="TINY",
        title="TINY (Autumn) ends in 3 days",
        text="You have finished 1 of 4 items of Course TINY. `/lesson next course:TINY` picks up where you left off.",
    )
    for slug in ("setup", "check", "wrap-up"):
        await complete(database, BOB, "TINY", slug)
    assert await compose(database, claimed) == "no longer an active student of the cohort"


async def test_a_student_at_100_percent_is_not_nudged_even_if_still_active(database: Database) -> None:
    await students_with_reminders(database, cohort_ends=COHORT_ENDS)
    for slug in ("intro", "setup", "check", "wrap-up"):
        await complete(database, BOB, "TINY", slug)
    async with database.session_scope() as session:
        await session.execute(update(CourseEnrollment).values(status=EnrollmentStatus.ACTIVE))

    assert await plan_deadlines(database, NOTICE_AT) == 1
    assert await outbox_keys(database) == [f"deadline:{ALICE}:1"]


async def test_deadline_nudges_stop_when_reminders_are_off_or_paused_or_the_flag_is_off(database: Database) -> None:
    await students_with_reminders(database, cohort_ends=COHORT_ENDS)
    await set_preferences(database, ALICE, deadline_nudges=False)
    await set_preferences(database, BOB, paused_reason="I couldn't reach you", next_fire_at=None)

    assert await plan_deadlines(database, NOTICE_AT) == 0

    await set_preferences(database, ALICE, deadline_nudges=True)
    assert await plan_deadlines(database, NOTICE_AT + TICK, since=NOTICE_AT - TICK) == 1
    claimed = await claim_one(database, NOTICE_AT + TICK)
    await set_preferences(database, ALICE, deadline_nudges=False)
    assert await compose(database, claimed) == "deadline nudges turned off"


async def test_a_cohort_that_has_ended_is_not_nudged_about_even_when_catching_up(database: Database) -> None:
    await students_with_reminders(database, cohort_ends=COHORT_ENDS)

    assert await plan_deadlines(database, COHORT_ENDS + TICK, since=NOTICE_AT - TICK) == 0  # the bot was down
    assert await outbox_keys(database) == []


async def test_a_cohort_without_an_end_date_costs_one_statement_and_nudges_nobody(database: Database) -> None:
    await students_with_reminders(database)
    assert await plan_deadlines(database, NOTICE_AT) == 0
    async with database.session_scope() as session:
        with counted_statements(database) as statements:
            assert await nudges.plan_deadline_nudges(session, since=NOTICE_AT - timedelta(days=30), now=NOTICE_AT) == 0
    assert len(statements) == 1


async def announce(database: Database, slugs: tuple[str, ...]) -> int:
    async with database.session_scope() as session:
        ids = list(await session.scalars(select(ContentItem.id).where(ContentItem.slug.in_(slugs))))
        return await nudges.plan_announcement(
            session, guild_id=GUILD, course_id=1, item_ids=ids, actor_id=INSTRUCTOR, now=MONDAY_20_UTC
        )


async def publish_revised_intro(database: Database) -> None:
    """A second revision of `intro`, published by the bare publishing step (which announces nothing itself)."""
    await import_course(database, replace_item(tiny_package(), "intro", title="Intro, revised"), publish=False)
    async with database.session_scope() as session:
        await courses.publish_latest_drafts(session, course_id=1, now=MONDAY_20_UTC)


async def test_a_published_lesson_is_announced_once_in_the_channel_and_audited(database: Database) -> None:
    await students_with_reminders(database)
    async with database.session_scope() as session:
        await tenancy.configure_guild(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, changes={"announcement_channel_id": ANNOUNCEMENTS}
        )

    assert await announce(database, ("intro",)) == 1
    assert await announce(database, ("intro",)) == 0  # the same revision: nothing new, nothing audited
    await publish_revised_intro(database)
    assert await announce(database, ("intro",)) == 1

    async with database.session_scope() as session:
        rows = (await session.scalars(select(Notification).order_by(Notification.id))).all()
        entries = await audit.recent(session, guild_id=GUILD, action="course.announce")
    assert [(row.dedupe_key, row.channel_id, row.user_id) for row in rows] == [
        ("announce:1:1:1", ANNOUNCEMENTS, None),
        ("announce:1:1:2", ANNOUNCEMENTS, None),
    ]
    assert [(entry.actor_id, entry.target_ids) for entry in entries] == [(INSTRUCTOR, [1]), (INSTRUCTOR, [1])]

    async with database.session_scope() as session:
        first, second = await outbox.claim_due(session, now=MONDAY_20_UTC, limit=10)
    assert await compose(database, first) == "a newer revision replaced it"
    assert await compose(database, second) == NudgeMessage(
        guild_id=GUILD,
        course_code="TINY",
        title="Updated lesson in TINY: Intro, revised",
        text="Intro, revised is updated in Course TINY. Open it with `/lesson open lesson:intro course:TINY`.",
    )


async def test_no_announcement_without_an_announcement_channel(database: Database) -> None:
    await students_with_reminders(database)

    assert await announce(database, ("intro", "setup")) == 0
    assert await outbox_keys(database) == []


async def with_announcement_channel(database: Database) -> None:
    await students_with_reminders(database)
    async with database.session_scope() as session:
        await tenancy.configure_guild(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, changes={"announcement_channel_id": ANNOUNCEMENTS}
        )


def with_new_lesson(package: CoursePackage, slug: str) -> CoursePackage:
    """The package with a new lesson at the end of its first module."""
    start, *rest = package.modules
    grown = start.model_copy(update={"items": (*start.items, lesson(slug))})
    return package.model_copy(update={"modules": (grown, *rest)})


async def announcements(database: Database) -> list[tuple[str, int | None, int | None, dict[str, Any]]]:
    async with database.session_scope() as session:
        rows = await session.execute(
            select(Notification.dedupe_key, Notification.channel_id, Notification.user_id, Notification.payload)
            .where(Notification.kind == NotificationKind.ANNOUNCEMENT)
            .order_by(Notification.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def publish(database: Database, code: str = "TINY") -> int:
    async with database.session_scope() as session:
        return await courses.set_published(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, code=code, published=True, now=MONDAY_20_UTC
        )


async def test_publishing_a_live_courses_drafts_announces_each_newly_published_item_once(database: Database) -> None:
    await with_announcement_channel(database)
    revised = replace_item(with_new_lesson(tiny_package(), "loops"), "intro", title="Intro, revised")
    await import_course(database, revised, publish=False)  # drafts: students see nothing new yet
    assert await announcements(database) == []

    assert await publish(database) == 2
    assert await publish(database) == 0  # nothing left to publish, nothing announced again

    async with database.session_scope() as session:
        loops = await session.scalar(select(ContentItem.id).where(ContentItem.slug == "loops"))
        entries = await audit.recent(session, guild_id=GUILD, action="course.announce")
    assert await announcements(database) == [
        ("announce:1:1:2", ANNOUNCEMENTS, None, {"item": 1, "revision": 2, "new": False}),
        (f"announce:1:{loops}:1", ANNOUNCEMENTS, None, {"item": loops, "revision": 1, "new": True}),
    ]
    assert [(entry.actor_id, entry.target_ids) for entry in entries] == [(INSTRUCTOR, [1, loops])]


async def test_a_reimport_of_a_live_course_announces_what_it_publishes(database: Database) -> None:
    await with_announcement_channel(database)

    await import_course(database, with_new_lesson(tiny_package(), "loops"))
    await import_course(database, with_new_lesson(tiny_package(), "loops"))  # unchanged: nothing new

    assert [(key, payload["new"]) for key, _, _, payload in await announcements(database)] == [("announce:1:5:1", True)]


async def test_a_course_going_live_announces_nothing_item_by_item(database: Database) -> None:
    await with_announcement_channel(database)
    await import_course(database, tiny_package("NEW"), publish=False)
    await import_course(database, tiny_package("LATER"))  # created and published at once

    assert await publish(database, "NEW") == 4
    async with database.session_scope() as session:
        await courses.set_published(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, code="TINY", published=False, now=MONDAY_20_UTC
        )
    await import_course(database, replace_item(tiny_package(), "intro", title="Intro, revised"))  # hidden: not live

    assert await announcements(database) == []
