"""Shared ground for the course service tests: a guild with people, the sample course, tiny packages built in code."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.services import content, courses, enrollment, navigation, reminders, reviews, streaks, xp
from bot.services.coursepack import (
    CohortSpec,
    ConceptSpec,
    CoursePackage,
    LessonSpec,
    ModuleSpec,
    QuestionSpec,
    QuizSpec,
    load_package,
)
from db.models import (
    AuditLog,
    Concept,
    ConceptDependency,
    ContentConcept,
    ContentItem,
    ContentProgress,
    ContentRevision,
    Course,
    CourseEnrollment,
    CourseOffering,
    CoursePrerequisite,
    Guild,
    Module,
    ModuleRevision,
    Question,
    ReviewCard,
    User,
)
from db.session import Database

GUILD, OTHER_GUILD = 1001, 1002
INSTRUCTOR, ALICE, BOB, CAROL = 2000, 2001, 2002, 2003
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
SAMPLE_COURSE = Path(__file__).parents[2] / "content" / "python-basics"

# Every table an import or a student writes to, for "nothing changed" and "nothing written" checks.
COUNTED_TABLES = (
    Course,
    CoursePrerequisite,
    CourseOffering,
    Module,
    ModuleRevision,
    ContentItem,
    ContentRevision,
    Question,
    Concept,
    ConceptDependency,
    ContentConcept,
    CourseEnrollment,
    ContentProgress,
    AuditLog,
)


@cache
def sample_package() -> CoursePackage:
    """Python Basics as shipped: 3 modules, 8 lessons and 3 quizzes."""
    return load_package(SAMPLE_COURSE)


def lesson(slug: str, title: str | None = None, **fields: Any) -> LessonSpec:
    return LessonSpec(
        slug=slug, title=title or slug.replace("-", " ").capitalize(), body=f"# {slug}\n\nText.", **fields
    )


def quiz(slug: str, *questions: str, **fields: Any) -> QuizSpec:
    specs = tuple(
        QuestionSpec(type="MULTIPLE_CHOICE", text=text, options=("yes", "no"), answer=0) for text in questions or ("?",)
    )
    return QuizSpec(slug=slug, title=slug.replace("-", " ").capitalize(), questions=specs, **fields)


def tiny_package(code: str = "TINY", *, cohorts: tuple[CohortSpec, ...] | None = None, **fields: Any) -> CoursePackage:
    """Two modules: lessons `intro`, `setup`, then quiz `check` and lesson `wrap-up`."""
    modules = (
        ModuleSpec(slug="start", title="Start", items=(lesson("intro"), lesson("setup"))),
        ModuleSpec(slug="finish", title="Finish", items=(quiz("check"), lesson("wrap-up"))),
    )
    defaults: dict[str, Any] = {
        "title": f"Course {code}",
        "cohorts": cohorts if cohorts is not None else (CohortSpec(term_name="Open"),),
        "concepts": (ConceptSpec(slug="basics", name="Basics"),),
        "modules": modules,
    }
    return CoursePackage(code=code, **{**defaults, **fields})


ONE_SEAT = (CohortSpec(term_name="Solo", capacity=1),)


def right_first_questions(count: int, *, weighted: bool = False) -> tuple[QuestionSpec, ...]:
    """Questions Q1 to Q`count` on `basics` whose option 0, "right", is the answer; `weighted`: Qn is worth n points."""
    return tuple(
        QuestionSpec(
            type="MULTIPLE_CHOICE",
            text=f"Q{n}",
            options=("right", "wrong", "also wrong"),
            answer=0,
            concept="basics",
            points=n if weighted else 1,
        )
        for n in range(1, count + 1)
    )


def replace_item(package: CoursePackage, slug: str, **changes: object) -> CoursePackage:
    """The package with one lesson or quiz changed."""
    modules = tuple(
        module.model_copy(
            update={
                "items": tuple(item.model_copy(update=changes) if item.slug == slug else item for item in module.items)
            }
        )
        for module in package.modules
    )
    return package.model_copy(update={"modules": modules})


def without_item(package: CoursePackage, slug: str) -> CoursePackage:
    """The package with one lesson or quiz left out."""
    modules = tuple(
        module.model_copy(update={"items": tuple(item for item in module.items if item.slug != slug)})
        for module in package.modules
    )
    return package.model_copy(update={"modules": modules})


async def seed_people(database: Database) -> None:
    async with database.session_scope() as session:
        session.add_all([Guild(id=GUILD, name="School"), Guild(id=OTHER_GUILD, name="Elsewhere")])
        session.add_all(
            User(id=user_id, display_name=name)
            for user_id, name in [(INSTRUCTOR, "Ines"), (ALICE, "Alice"), (BOB, "Bob"), (CAROL, "Carol")]
        )


async def class_of_two(database: Database, package: CoursePackage) -> None:
    """The people, `package` imported and published, Alice and Bob enrolled in it."""
    await seed_people(database)
    await import_course(database, package)
    for student in (ALICE, BOB):
        await enroll(database, student, package.code)


async def import_course(
    database: Database,
    package: CoursePackage,
    *,
    publish: bool = True,
    guild_id: int = GUILD,
    now: datetime = NOW,
) -> content.ImportSummary:
    async with database.session_scope() as session:
        return await content.import_package(
            session, guild_id=guild_id, actor_id=INSTRUCTOR, package=package, publish=publish, now=now
        )


async def set_reminder(
    database: Database,
    user_id: int = ALICE,
    *,
    at: str = "09:00",
    days: str | None = None,
    course: str | None = None,
    now: datetime,
) -> reminders.ReminderView:
    """`user_id`'s reminder in GUILD for `course` (all their courses by default), at `at` on `days` (every day by
    default)."""
    async with database.session_scope() as session:
        return await reminders.set_reminder(
            session,
            guild_id=GUILD,
            user_id=user_id,
            course_code=course,
            at=reminders.parse_time(at),
            days=reminders.parse_days(days),
            now=now,
        )


async def study(database: Database, user_id: int = ALICE, *, at: datetime, zone: str) -> None:
    """`user_id` studied in GUILD at `at`, so that local day in `zone` counts for their streak (no milestones)."""
    async with database.session_scope() as session:
        await streaks.record_activity(
            session,
            user_id=user_id,
            at=at,
            time_zone=zone,
            rules=streaks.StreakSettings(),
            milestones={},
            guild_id=GUILD,
        )


async def award_xp(
    database: Database,
    source_key: str,
    amount: int = 10,
    *,
    day: date,
    user_id: int = ALICE,
    course_id: int | None = None,
) -> xp.Award:
    """`amount` XP for `user_id` in GUILD on `day`; a replayed `source_key` awards nothing."""
    async with database.session_scope() as session:
        return await xp.award(
            session,
            guild_id=GUILD,
            user_id=user_id,
            course_id=course_id,
            amount=amount,
            action="test",
            source_key=source_key,
            day=day,
        )


async def export_course(database: Database, code: str, *, guild_id: int = GUILD) -> CoursePackage:
    async with database.session_scope() as session:
        return await content.export_package(session, guild_id=guild_id, code=code)


async def enroll(
    database: Database,
    user_id: int,
    code: str,
    *,
    invite: str | None = None,
    now: datetime = NOW,
    guild_id: int = GUILD,
) -> enrollment.EnrollmentResult:
    async with database.session_scope() as session:
        return await enrollment.enroll(
            session, guild_id=guild_id, user_id=user_id, course_code=code, invite_code=invite, now=now
        )


async def new_cohort(
    database: Database, code: str, term_name: str, *, guild_id: int = GUILD, **options: object
) -> courses.CohortSummary:
    """A cohort of course `code` added by INSTRUCTOR; `options` as `courses.create_cohort` takes them."""
    async with database.session_scope() as session:
        return await courses.create_cohort(
            session, guild_id=guild_id, actor_id=INSTRUCTOR, code=code, term_name=term_name, **options
        )


async def move(
    database: Database,
    user_id: int,
    to: navigation.Move,
    *,
    code: str | None = None,
    lesson: str | None = None,
    now: datetime = NOW,
) -> navigation.LessonPage | navigation.CourseEnd:
    async with database.session_scope() as session:
        return await navigation.move(
            session, guild_id=GUILD, user_id=user_id, course_code=code, to=to, lesson=lesson, now=now
        )


async def complete(database: Database, user_id: int, code: str, slug: str) -> bool:
    """What the quiz engine does when a student passes a quiz: True if that finished the course."""
    async with database.session_scope() as session:
        active = await enrollment.active_enrollment(session, guild_id=GUILD, user_id=user_id, course_code=code)
        item_id = await session.scalar(
            select(ContentItem.id).where(ContentItem.course_id == active.course_id, ContentItem.slug == slug)
        )
        assert item_id is not None, slug
        return await navigation.complete_item(session, active, user_id=user_id, item_id=item_id, now=NOW)


async def row_counts(database: Database) -> dict[str, int]:
    async with database.session_scope() as session:
        return {
            table.__tablename__: await session.scalar(select(func.count()).select_from(table))
            for table in COUNTED_TABLES
        }


async def audit_actions(session: AsyncSession, *, guild_id: int = GUILD) -> list[str]:
    """The guild's audit actions, oldest first."""
    return list(
        await session.scalars(select(AuditLog.action).where(AuditLog.guild_id == guild_id).order_by(AuditLog.id))
    )


async def card_of(database: Database, question_id: int, user_id: int = ALICE) -> ReviewCard | None:
    async with database.session_scope() as session:
        return await session.scalar(
            select(ReviewCard).where(ReviewCard.user_id == user_id, ReviewCard.question_id == question_id)
        )


async def answer_review(
    database: Database,
    settings: Settings,
    question_id: int,
    *,
    right: bool,
    now: datetime,
    reps: int | None = None,
    practice: bool = False,
    user_id: int = ALICE,
) -> reviews.ReviewAnswer:
    """Answer a review card (a practice one with `practice`) in one unit of work; right is option 0."""
    if reps is None:
        card = await card_of(database, question_id, user_id)
        reps = card.reps if card else 0
    async with database.session_scope() as session:
        return await reviews.answer(
            session,
            owner_id=user_id,
            user_id=user_id,
            question_id=question_id,
            seen_reps=reps,
            choice=[0 if right else 1],
            number=1,
            now=now,
            settings=settings,
            practice=practice,
        )
