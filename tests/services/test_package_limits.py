"""A package at every limit of the format imports, exports unchanged and plays, on SQLite and on PostgreSQL alike;
one step past a limit is refused by validation, before any database could store it differently."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from bot.services import quizzes
from bot.services.coursepack import (
    CohortSpec,
    ConceptSpec,
    CoursePackage,
    LessonSpec,
    ModuleSpec,
    QuestionSpec,
    QuizSpec,
    Visibility,
)
from bot.services.coursepack.model import (
    ATTEMPTS_MAX,
    CAPACITY_MAX,
    ESTIMATED_MINUTES_MAX,
    MAX_OPTIONS,
    POINTS_MAX,
    ROLE_ID_MAX,
)
from db.models import Concept, ContentRevision, Course, CourseOffering, ModuleRevision
from db.session import Database
from tests.services.course_fixtures import ALICE, GUILD, NOW, enroll, export_course, import_course, seed_people

OPTIONS = tuple(f"option {chr(ord('A') + number)}" for number in range(MAX_OPTIONS))


def longest(column: object, letter: str = "x") -> str:
    return letter * column.type.length  # type: ignore[attr-defined]


def package_at_the_limits() -> CoursePackage:
    question = QuestionSpec(
        type="MULTI_SELECT",
        text="Which are letters?",
        options=OPTIONS,
        answer=tuple(range(MAX_OPTIONS)),
        points=POINTS_MAX,
    )
    quiz = QuizSpec(
        slug="check", title=longest(ContentRevision.title, "q"), max_attempts=ATTEMPTS_MAX, questions=(question,)
    )
    lesson = LessonSpec(
        slug="intro", title=longest(ContentRevision.title, "l"), body="Text.", estimated_minutes=ESTIMATED_MINUTES_MAX
    )
    cohorts = (
        CohortSpec(term_name=longest(CourseOffering.term_name, "t"), capacity=CAPACITY_MAX),
        CohortSpec(
            term_name="Invited",
            visibility=Visibility.INVITE_ONLY,
            invite_code=longest(CourseOffering.invite_code, "I"),
            role_id=ROLE_ID_MAX,
        ),
    )
    return CoursePackage(
        code="LIMITS",
        title=longest(Course.title, "c"),
        cohorts=cohorts,
        concepts=(ConceptSpec(slug="letters", name=longest(Concept.name, "n")),),
        modules=(ModuleSpec(slug="only", title=longest(ModuleRevision.title, "m"), items=(lesson, quiz)),),
    )


async def test_a_package_at_every_limit_imports_exports_unchanged_and_its_quiz_starts(database: Database) -> None:
    await seed_people(database)
    package = package_at_the_limits()

    await import_course(database, package)
    await enroll(database, ALICE, "LIMITS")
    async with database.session_scope() as session:
        card = await quizzes.start(
            session,
            guild_id=GUILD,
            user_id=ALICE,
            course_code="LIMITS",
            quiz_slug="check",
            now=NOW,
            rng=random.Random(1),
        )

    assert await export_course(database, "LIMITS") == package
    assert sorted(text for _, text in card.options) == sorted(OPTIONS)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (QuestionSpec, {"type": "MULTIPLE_CHOICE", "text": "?", "options": (*OPTIONS, "one more"), "answer": 0}),
        (
            QuestionSpec,
            {"type": "MULTIPLE_CHOICE", "text": "?", "options": ("a", "b"), "answer": 0, "points": POINTS_MAX + 1},
        ),
        (LessonSpec, {"slug": "l", "title": "x" * 201, "body": "Text."}),
        (LessonSpec, {"slug": "l", "title": "L", "body": "Text.", "estimated_minutes": ESTIMATED_MINUTES_MAX + 1}),
        (CohortSpec, {"term_name": "x" * 101}),
        (CohortSpec, {"term_name": "T", "capacity": CAPACITY_MAX + 1}),
        (CohortSpec, {"term_name": "T", "role_id": ROLE_ID_MAX + 1}),
        (CohortSpec, {"term_name": "T", "visibility": "INVITE_ONLY", "invite_code": "x" * 41}),
        (ConceptSpec, {"slug": "c", "name": "x" * 201}),
        (ModuleSpec, {"slug": "m", "title": "x" * 201}),
        (CoursePackage, {"code": "C1", "title": "x" * 201}),
    ],
)
def test_one_step_past_a_limit_is_refused_by_the_model(model: type, fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        model(**fields)


def test_the_limits_fit_the_columns_they_are_stored_in() -> None:
    assert ESTIMATED_MINUTES_MAX * 60 <= 2**31 - 1  # estimated_duration_seconds is a 32-bit Integer
    assert POINTS_MAX <= 2**31 - 1 and CAPACITY_MAX <= 2**31 - 1
    assert ROLE_ID_MAX == 2**63 - 1  # role_id is a BigInteger (a Discord snowflake)
