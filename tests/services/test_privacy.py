"""A person's data is theirs: inventory, export and erasure of one member, purging a server, retention; on both
backends. The walk tests read every row of every table, so a table added without a treatment fails here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PrivacySettings
from bot.services import privacy
from db.base import Base
from db.models import (
    ActivityEvent,
    AttemptStatus,
    AuditLog,
    CardState,
    ChatMessage,
    ChatMessageFeedback,
    ChatNote,
    ChatSession,
    Concept,
    ConceptMastery,
    ContentItem,
    ContentKind,
    ContentProgress,
    ContentRevision,
    Course,
    CourseEnrollment,
    CourseOffering,
    DataExport,
    EnrollmentStatus,
    ErasedUser,
    Guild,
    GuildMember,
    GuildRemoval,
    LLMBackend,
    Material,
    MemberRole,
    MessageRole,
    Module,
    ModuleRevision,
    ModuleType,
    Notification,
    NotificationKind,
    NotificationStatus,
    Prompt,
    Question,
    QuestionAnswer,
    QuestionType,
    QuizAttempt,
    ReminderPreference,
    ReviewCard,
    RevisionVisibility,
    SourceMode,
    Streak,
    SystemSetting,
    User,
    UserProfile,
    XPEvent,
    XPLevel,
)
from db.session import Database
from tests.services.human_fixtures import seed_human_loop

ALICE, BOB = 1_100_000_000_000_000_001, 1_100_000_000_000_000_002
SCHOOL, CLUB, ELSEWHERE = 1_100_000_000_000_000_101, 1_100_000_000_000_000_102, 1_100_000_000_000_000_103
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SETTINGS = PrivacySettings()
_threads = iter(range(1_100_000_000_000_001_000, 1_100_000_000_000_002_000))


# -- a world where every column that can name a person names Alice ---------------------------------------------


async def seed_account(session: AsyncSession, user_id: int, name: str) -> None:
    """What is kept about a person outside any server: account, profile, streak, last export."""
    session.add(User(id=user_id, display_name=name, preferences={"leaderboard": "on"}))
    await session.flush()
    session.add_all(
        [
            UserProfile(user_id=user_id, learning_goal=f"goal of {name}"),
            Streak(user_id=user_id, current=3, longest=5, last_activity_date=NOW.date(), total_active_days=9),
            DataExport(user_id=user_id, exported_at=NOW - timedelta(days=3)),
        ]
    )


async def seed_server(session: AsyncSession, guild_id: int, name: str) -> int:
    """A server with one course: a cohort, a module, a lesson, a two-question quiz, a concept. Returns the course."""
    if await session.get(Guild, guild_id) is None:
        session.add(Guild(id=guild_id, name=name))
        await session.flush()
    course = Course(guild_id=guild_id, code=f"C{guild_id % 1000}", title=f"Course of {name}", is_published=True)
    session.add(course)
    await session.flush()
    module = Module(course_id=course.id, module_type=ModuleType.UNIT, slug="unit", sequence_index=0)
    concept = Concept(course_id=course.id, slug="basics", name="Basics")
    session.add_all([CourseOffering(course_id=course.id, term_name="Open"), module, concept])
    await session.flush()
    quiz = ContentItem(course_id=course.id, module_id=module.id, kind=ContentKind.QUIZ, slug="check", sequence_index=0)
    lesson = ContentItem(
        course_id=course.id, module_id=module.id, kind=ContentKind.TEXT, slug="intro", sequence_index=1
    )
    session.add_all([quiz, lesson])
    await session.flush()
    session.add_all(
        Question(
            item_id=quiz.id,
            concept_id=concept.id,
            position=position,
            question_type=QuestionType.MULTIPLE_CHOICE,
            text=f"Question {position}?",
            options=["yes", "no"],
            answer=[0],
        )
        for position in (1, 2)
    )
    await session.flush()
    return course.id


async def seed_member(session: AsyncSession, user_id: int, course_id: int, *, passed: bool) -> None:
    """A student's life in a course: enrolled, a lesson done, a quiz submitted and one left open, XP, a study
    day, a tutor conversation rated, a reminder and a message sent, a level."""
    course = await session.get_one(Course, course_id)
    offering = await session.scalar(select(CourseOffering).where(CourseOffering.course_id == course_id))
    quiz = await session.scalar(
        select(ContentItem).where(ContentItem.course_id == course_id, ContentItem.slug == "check")
    )
    lesson = await session.scalar(
        select(ContentItem).where(ContentItem.course_id == course_id, ContentItem.slug == "intro")
    )
    concept = await session.scalar(select(Concept).where(Concept.course_id == course_id))
    assert offering and quiz and lesson and concept
    questions = list(await session.scalars(select(Question).where(Question.item_id == quiz.id).order_by(Question.id)))
    guild_id, tag = course.guild_id, f"{user_id} in {course.code}"
    submitted = QuizAttempt(
        user_id=user_id,
        offering_id=offering.id,
        item_id=quiz.id,
        attempt_number=1,
        status=AttemptStatus.SUBMITTED,
        question_order=[q.id for q in questions],
        option_orders={},
        score=100.0 if passed else 50.0,
        correct_count=2 if passed else 1,
        passed=passed,
        submitted_at=NOW,
    )
    still_open = QuizAttempt(
        user_id=user_id, offering_id=offering.id, item_id=quiz.id, attempt_number=2, question_order=[], option_orders={}
    )
    conversation = ChatSession(
        user_id=user_id, guild_id=guild_id, course_id=course_id, thread_id=next(_threads), source_mode=SourceMode.COURSE
    )
    session.add_all(
        [
            CourseEnrollment(user_id=user_id, offering_id=offering.id, status=EnrollmentStatus.ACTIVE),
            ContentProgress(user_id=user_id, offering_id=offering.id, item_id=lesson.id, percent=100, completed_at=NOW),
            ConceptMastery(user_id=user_id, concept_id=concept.id, confidence=0.5, correct_count=1, attempt_count=2),
            ReviewCard(
                user_id=user_id,
                course_id=course_id,
                question_id=questions[0].id,
                state=CardState.REVIEW,
                due=NOW,
                last_rating=3,
            ),
            GuildMember(guild_id=guild_id, user_id=user_id, role=MemberRole.TA),
            ActivityEvent(guild_id=guild_id, user_id=user_id, kind="streak_day", at=NOW, meta={"day": "2026-11-23"}),
            ReminderPreference(
                guild_id=guild_id, user_id=user_id, course_id=course_id, local_time=time(9), weekdays=127
            ),
            Notification(
                dedupe_key=f"reminder:{tag}",
                kind=NotificationKind.REMINDER,
                status=NotificationStatus.SENT,
                guild_id=guild_id,
                user_id=user_id,
                course_id=course_id,
                due_at=NOW,
                sent_at=NOW,
            ),
            submitted,
            still_open,
            conversation,
        ]
    )
    await session.flush()
    session.add_all(
        [
            *(
                QuestionAnswer(attempt_id=submitted.id, question_id=q.id, answer=[0], is_correct=passed or i == 0)
                for i, q in enumerate(questions)
            ),
            QuestionAnswer(attempt_id=still_open.id, question_id=questions[0].id, answer=[1], is_correct=False),
            # The ledger's trigger adds it to member_stats, course_member_stats, xp_daily and xp_levels.
            XPEvent(
                guild_id=guild_id,
                user_id=user_id,
                course_id=course_id,
                amount=10,
                action="lesson_completed",
                source_key=f"lesson:{tag}",
                day=date(2026, 11, 23),
            ),
        ]
    )
    question = ChatMessage(session_id=conversation.id, role=MessageRole.USER, content=f"words of {tag}")
    answer = ChatMessage(session_id=conversation.id, role=MessageRole.ASSISTANT, content=f"answer for {tag}")
    session.add_all([question, answer])
    await session.flush()
    session.add_all(
        [
            ChatNote(session_id=conversation.id, message_id=answer.id, content=f"note of {tag}"),
            ChatMessageFeedback(message_id=answer.id, user_id=user_id, rating=1, comment=f"thanks from {tag}"),
        ]
    )


async def seed_staff_work(session: AsyncSession, user_id: int, course_id: int, *, member: int) -> None:
    """What a member of staff leaves behind: authored and deleted content, an upload, operator settings, and audit
    rows of what they did (to `member`) and of what was done to them."""
    course = await session.get_one(Course, course_id)
    course.created_by = course.deleted_by = user_id
    module = await session.scalar(select(Module).where(Module.course_id == course_id))
    item = await session.scalar(select(ContentItem).where(ContentItem.course_id == course_id))
    assert module and item
    module.deleted_by = item.deleted_by = user_id
    session.add_all(
        [
            ModuleRevision(
                module_id=module.id, version=1, title="Unit", visibility=RevisionVisibility.DRAFT, created_by=user_id
            ),
            ContentRevision(
                item_id=item.id, version=1, title="Check", visibility=RevisionVisibility.DRAFT, created_by=user_id
            ),
            Material(
                course_id=course_id,
                uploader_id=user_id,
                deleted_by=user_id,
                title="Slides",
                file_type="md",
                sha256=hashlib.sha256(b"slides").hexdigest(),
                size_bytes=10,
            ),
            Prompt(name="staff.prompt", version=1, prompt="Be kind.", created_by=user_id),
            LLMBackend(name="staff-backend", provider="openai", base_url="http://llm", created_by=user_id),
            SystemSetting(key="staff.setting", value="1", updated_by=user_id),
            AuditLog(
                guild_id=course.guild_id,
                actor_id=user_id,
                action="xp.adjust",
                target_type="member",
                target_ids=[member],
                meta={"amount": 5, "reason": "helped"},
            ),
            AuditLog(
                guild_id=course.guild_id,
                actor_id=member,
                action="xp.adjust",
                target_type="member",
                target_ids=[user_id, member],
                meta={"amount": -5, "reason": "oops"},
            ),
        ]
    )


@pytest.fixture
async def world(database: Database) -> Database:
    """Alice studies in two servers and teaches in one; Bob studies beside her and alone in a third server."""
    async with database.session_scope() as session:
        await seed_account(session, ALICE, "Alice")
        await seed_account(session, BOB, "Bob")
        school = await seed_server(session, SCHOOL, "School")
        club = await seed_server(session, CLUB, "Club")
        elsewhere = await seed_server(session, ELSEWHERE, "Elsewhere")
        for course_id in (school, club):
            await seed_member(session, ALICE, course_id, passed=False)
        for course_id in (school, elsewhere):
            await seed_member(session, BOB, course_id, passed=True)
        await seed_staff_work(session, ALICE, school, member=BOB)
        await seed_human_loop(session, ALICE, SCHOOL, school)
    return database


async def rows_mentioning(database: Database, person: int) -> list[str]:
    """Every row of every table that holds `person`'s id: as a number, or inside text and JSON."""
    needle = str(person)
    found = []
    async with database.session_scope() as session:
        for table in Base.metadata.sorted_tables:
            for row in await session.execute(select(table)):
                for column, value in row._mapping.items():
                    text = json.dumps(value, default=str) if isinstance(value, list | dict) else str(value)
                    if value == person or needle in text:
                        found.append(f"{table.name}.{column}")
    return found


async def item_statistics(database: Database) -> dict[str, Any]:
    """What a course's quiz statistics read: per question, finished answers and correct ones; per quiz, finished
    attempts, passes and the mean score."""
    async with database.session_scope() as session:
        finished = QuizAttempt.status == AttemptStatus.SUBMITTED
        per_question = await session.execute(
            select(QuestionAnswer.question_id, func.count(), func.sum(cast(QuestionAnswer.is_correct, Integer)))
            .join(QuizAttempt, QuizAttempt.id == QuestionAnswer.attempt_id)
            .where(finished)
            .group_by(QuestionAnswer.question_id)
        )
        per_quiz = await session.execute(
            select(
                QuizAttempt.item_id, func.count(), func.count().filter(QuizAttempt.passed), func.avg(QuizAttempt.score)
            )
            .where(finished)
            .group_by(QuizAttempt.item_id)
        )
        return {"questions": sorted(map(tuple, per_question)), "quizzes": sorted(map(tuple, per_quiz))}


async def erase(database: Database, person: int = ALICE, *, batch_size: int = 500) -> privacy.Erasure:
    return await privacy.erase_user(database, user_id=person, requested_by="self", now=NOW, batch_size=batch_size)


async def export(
    session: AsyncSession, person: int = ALICE, *, now: datetime = NOW, by: str = "self"
) -> dict[str, Any]:
    document = await privacy.export_data(
        session, user_id=person, requested_by=by, guild_id=SCHOOL, now=now, settings=SETTINGS
    )
    return json.loads(document)


# -- the registry -----------------------------------------------------------------------------------------------


def test_every_column_that_can_name_a_person_has_a_treatment_and_a_kind() -> None:
    derived = privacy.person_columns()
    assert derived - privacy.PERSON_COLUMNS.keys() == set(), "add these columns to PERSON_COLUMNS and KINDS"
    # The one listed column no rule can find: audit rows keep member ids in a JSON list.
    assert privacy.PERSON_COLUMNS.keys() - derived == {"audit_logs.target_ids"}
    assert {column for kind in privacy.KINDS for column in kind.covers} == privacy.PERSON_COLUMNS.keys()
    assert len({kind.key for kind in privacy.KINDS}) == len(privacy.KINDS)


async def test_the_world_names_alice_in_every_person_column(world: Database) -> None:
    # Otherwise the walk below would prove nothing about the columns left empty.
    async with world.session_scope() as session:
        named = await privacy.rows_naming(session, user_id=ALICE)
    assert named.keys() == privacy.PERSON_COLUMNS.keys() - {"erased_users.user_id"}


# -- inventory and export ---------------------------------------------------------------------------------------


async def test_the_inventory_counts_each_kind_with_its_retention(world: Database) -> None:
    async with world.session_scope() as session:
        held = {holding.key: holding for holding in await privacy.inventory(session, user_id=ALICE, settings=SETTINGS)}

    assert held["enrollments"].count == 2 and held["quiz_attempts"].count == 4 and held["quiz_answers"].count == 6
    assert held["tutor_messages"].count == 4 and held["credits"].count == 11 and held["erasures"].count == 0
    assert held["tutor_messages"].retention == "180 days after the conversation ends"
    assert held["activity"].retention == "365 days"
    assert held["quiz_answers"].on_erasure is privacy.Treatment.DETACH
    assert held["audit"].count == 2 and held["audit"].on_erasure is privacy.Treatment.PSEUDONYMISE
    assert held["tutor_sessions"].on_erasure is privacy.Treatment.DELETE


async def test_an_export_holds_everything_about_the_caller_and_nothing_of_anyone_else(world: Database) -> None:
    async with world.session_scope() as session:
        document = await export(session)
    text = json.dumps(document)

    assert document["format"] == "coursebot-personal-data" and document["version"] == 1
    assert document["user_id"] == str(ALICE)
    assert document["servers"] == {str(SCHOOL): "School", str(CLUB): "Club"}
    assert {key for key, rows in document["data"].items() if rows} == {kind.key for kind in privacy.KINDS} - {
        "erasures"
    }
    assert document["counts"]["quiz_answers"] == 6
    messages = {row["content"] for row in document["data"]["tutor_messages"]}
    assert f"words of {ALICE} in C101" in messages and f"answer for {ALICE} in C102" in messages
    assert {row["course"] for row in document["data"]["enrollments"]} == {"C101", "C102"}
    assert document["data"]["account"][0]["user_id"] == str(ALICE)  # ids as strings: exact in JavaScript too
    # Nothing of Bob's (not his id, not his words) and nothing of the server Alice is not in.
    assert str(BOB) not in text and "Bob" not in text and "Elsewhere" not in text and str(ELSEWHERE) not in text
    audit_rows = document["data"]["audit"]
    assert sorted(row["by_you"] for row in audit_rows) == [False, True]


async def test_an_export_is_audited_and_allowed_once_a_day_to_the_person_but_always_to_the_operator(
    world: Database,
) -> None:
    async with world.session_scope() as session:
        await export(session, now=NOW)
    with pytest.raises(privacy.ExportTooSoon, match="once every 24 hours"):
        async with world.session_scope() as session:
            await export(session, now=NOW + timedelta(hours=23))
    async with world.session_scope() as session:
        await export(session, now=NOW + timedelta(hours=23), by="operator")
        again = await export(session, now=NOW + timedelta(hours=24))
        exports = (
            await session.execute(
                select(AuditLog.actor_id, AuditLog.meta["requested_by"].as_string())
                .where(AuditLog.action == "privacy.export")
                .order_by(AuditLog.id)
            )
        ).all()
    assert [tuple(row) for row in exports] == [(ALICE, "self"), (0, "operator"), (ALICE, "self")]
    assert again["data"]["exports"] == [{"exported_at": NOW.isoformat()}]


# -- erasure ----------------------------------------------------------------------------------------------------


async def test_an_erasure_leaves_no_row_naming_the_person_but_the_tombstone(world: Database) -> None:
    bob_before = await rows_mentioning(world, BOB)

    erased = await erase(world)

    assert erased.finished and erased.changed["users.id"] == 1
    assert await rows_mentioning(world, ALICE) == ["erased_users.user_id"]
    assert await rows_mentioning(world, BOB) == bob_before  # Bob lost nothing, even where Alice was beside him
    async with world.session_scope() as session:
        tombstone = await session.get_one(ErasedUser, ALICE)
        assert (tombstone.requested_by, tombstone.finished_at) == ("self", NOW)
        audit = (await session.execute(select(AuditLog.actor_id, AuditLog.target_ids).order_by(AuditLog.id))).all()
        assert [tuple(row) for row in audit] == [(0, [BOB]), (BOB, [BOB])]  # what was done stays, not by whom
        assert await session.scalar(select(func.count()).select_from(Material)) == 1  # the course keeps its slides


async def test_an_erasure_keeps_the_course_statistics_as_they_were(world: Database) -> None:
    before = await item_statistics(world)

    await erase(world)

    assert await item_statistics(world) == before
    async with world.session_scope() as session:
        anonymous = await session.scalar(select(func.count()).where(QuizAttempt.user_id.is_(None)))
        open_left = await session.scalar(select(func.count()).where(QuizAttempt.status == AttemptStatus.IN_PROGRESS))
    assert anonymous == 2 and open_left == 2  # Alice's finished attempts, nameless; Bob's open ones only


async def test_an_erasure_takes_the_person_off_every_board(world: Database) -> None:
    counted = select(func.sum(XPLevel.members)).where(XPLevel.guild_id == SCHOOL)
    async with world.session_scope() as session:
        assert await session.scalar(counted) == 2

    await erase(world)

    async with world.session_scope() as session:
        assert await session.scalar(counted) == 1  # only Bob ranks on the School's board now


async def test_erasing_twice_or_someone_never_seen_changes_nothing(world: Database) -> None:
    await erase(world)
    again = await erase(world)
    stranger = await erase(world, 1_100_000_000_000_000_999)

    assert again.finished and again.changed == {}
    assert not stranger.found
    async with world.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(ErasedUser)) == 1


class CrashingDatabase(Database):
    """The same database, killed at its `crash_at`-th unit of work, as a process stopped mid-erasure."""

    def __init__(self, database: Database, crash_at: int) -> None:
        super().__init__(database.engine)
        self.units, self.crash_at = 0, crash_at

    @asynccontextmanager
    async def session_scope(self) -> AsyncIterator[AsyncSession]:
        self.units += 1
        if self.units == self.crash_at:
            raise ConnectionResetError("the process was killed")
        async with super().session_scope() as session:
            yield session


@pytest.mark.parametrize("finisher", ["rerun", "maintenance"])
async def test_an_erasure_killed_halfway_is_finished_by_a_rerun_or_the_maintenance_job(
    world: Database, finisher: str
) -> None:
    with pytest.raises(ConnectionResetError):
        await erase(CrashingDatabase(world, crash_at=12), batch_size=1)
    assert len(await rows_mentioning(world, ALICE)) > 1  # half done
    async with world.session_scope() as session:
        assert (await session.get_one(ErasedUser, ALICE)).finished_at is None

    if finisher == "rerun":
        assert (await erase(world, batch_size=1)).finished
    else:
        done = await privacy.maintain(world, settings=SETTINGS, now=NOW, erased_since=NOW)
        assert [erasure.finished for erasure in done.erasures] == [True] and done.erased_since

    assert await rows_mentioning(world, ALICE) == ["erased_users.user_id"]


# -- servers that removed the bot -------------------------------------------------------------------------------


async def row_counts(database: Database) -> dict[str, int]:
    async with database.session_scope() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


async def test_purging_a_server_deletes_its_data_and_nothing_else(database: Database) -> None:
    async with database.session_scope() as session:
        await seed_account(session, ALICE, "Alice")
        await seed_account(session, BOB, "Bob")
        elsewhere = await seed_server(session, ELSEWHERE, "Elsewhere")
        await seed_member(session, BOB, elsewhere, passed=True)
    before = await row_counts(database)
    async with database.session_scope() as session:
        school = await seed_server(session, SCHOOL, "School")
        await seed_member(session, ALICE, school, passed=False)
        await seed_member(session, BOB, school, passed=True)
        await seed_staff_work(session, ALICE, school, member=BOB)

    removed = await privacy.purge_guild(database, guild_id=SCHOOL, reason="operator", batch_size=2)

    assert removed["guilds"] == 1 and removed["question_answers"] == 6
    after = await row_counts(database)
    # Global rows Alice's staff work made stay (prompts, LLM servers, settings), and the purge's own audit row.
    assert {table: count - before[table] for table, count in after.items() if count != before[table]} == {
        "prompts": 1,
        "llm_backends": 1,
        "system_settings": 1,
        "audit_logs": 1,
    }
    async with database.session_scope() as session:
        record = await session.scalar(select(AuditLog).where(AuditLog.action == "guild.purge"))
    assert record is not None and record.actor_id == 0 and record.meta["reason"] == "operator"
    assert await privacy.purge_guild(database, guild_id=SCHOOL, reason="operator", batch_size=2) == {}


async def purge_at(session: AsyncSession, guild_id: int) -> datetime | None:
    return await session.scalar(select(GuildRemoval.purge_at).where(GuildRemoval.guild_id == guild_id))


async def test_a_removed_server_is_purged_after_the_grace_period_unless_the_bot_comes_back(world: Database) -> None:
    grace = timedelta(days=SETTINGS.guild_grace_days)
    async with world.session_scope() as session:
        await privacy.schedule_guild_purge(session, guild_id=SCHOOL, now=NOW, grace=grace)
        await privacy.schedule_guild_purge(session, guild_id=CLUB, now=NOW, grace=grace)
        await privacy.schedule_guild_purge(session, guild_id=SCHOOL, now=NOW + timedelta(days=5), grace=grace)
        await privacy.schedule_guild_purge(session, guild_id=12345, now=NOW, grace=grace)  # never stored: nothing
        assert await purge_at(session, SCHOOL) == NOW + grace  # a second notice moves nothing
        assert await privacy.cancel_guild_purge(session, guild_id=CLUB)  # added back

    early = await privacy.maintain(world, settings=SETTINGS, now=NOW + grace - timedelta(minutes=1))
    due = await privacy.maintain(world, settings=SETTINGS, now=NOW + grace)

    assert early.ran and early.purged_guilds == [] and due.purged_guilds == [SCHOOL]
    async with world.session_scope() as session:
        guilds = set(await session.scalars(select(Guild.id)))
        assert guilds == {CLUB, ELSEWHERE}
        assert await session.scalar(select(func.count()).select_from(GuildRemoval)) == 0


async def test_reconciling_schedules_servers_left_while_offline_and_keeps_the_others(world: Database) -> None:
    async with world.session_scope() as session:
        await privacy.schedule_guild_purge(session, guild_id=CLUB, now=NOW, grace=timedelta(days=30))
        gone = await privacy.reconcile_guilds(
            session, present=[CLUB, ELSEWHERE], now=NOW + timedelta(days=1), grace=timedelta(days=30)
        )
        assert gone == [SCHOOL]
        assert await purge_at(session, SCHOOL) == NOW + timedelta(days=31)
        assert await purge_at(session, CLUB) is None


# -- retention --------------------------------------------------------------------------------------------------


async def test_retention_deletes_only_what_outlived_it(world: Database) -> None:
    long_ago = NOW - timedelta(days=400)
    async with world.session_scope() as session:
        school = await session.scalar(select(Course.id).where(Course.guild_id == SCHOOL))
        ended = ChatSession(
            user_id=BOB,
            guild_id=SCHOOL,
            course_id=school,
            thread_id=next(_threads),
            source_mode=SourceMode.GENERAL,
            started_at=long_ago,
            last_message_at=long_ago,
            ended_at=NOW - timedelta(days=181),
        )
        session.add(ended)
        await session.flush()
        session.add_all(
            [
                ChatMessage(session_id=ended.id, role=MessageRole.USER, content="old words"),
                ActivityEvent(guild_id=SCHOOL, user_id=BOB, kind="streak_day", at=long_ago),
                *(
                    Notification(
                        dedupe_key=f"old-{status.value.lower()}",
                        kind=NotificationKind.REMINDER,
                        status=status,
                        guild_id=SCHOOL,
                        user_id=BOB,
                        due_at=NOW - timedelta(days=31),
                    )
                    for status in (NotificationStatus.SENT, NotificationStatus.PENDING)
                ),
                ErasedUser(user_id=42, requested_by="self", requested_at=long_ago, finished_at=long_ago),
                ErasedUser(user_id=43, requested_by="self", requested_at=NOW, finished_at=NOW - timedelta(days=1)),
            ]
        )

    removed = await privacy.enforce_retention(world, settings=SETTINGS, now=NOW)

    # Both people's last exports were 3 days ago: the once-a-day limit no longer needs them.
    assert removed == {
        "chat_messages": 1,
        "chat_sessions": 1,
        "activity_events": 1,
        "notifications": 1,
        "erased_users": 1,
        "data_exports": 2,
    }
    async with world.session_scope() as session:
        pending = await session.scalar(select(func.count()).where(Notification.dedupe_key == "old-pending"))
        assert pending == 1 and await session.get(ErasedUser, 43) is not None
