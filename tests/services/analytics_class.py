"""A class small enough to check on paper, for the analytics tests (services and `/teach analytics`).

Course CLASS: module "start" (lessons intro, 10 min, and setup, 20 min), module "finish" (quiz check with three
one-point questions on the concept `basics`, then lesson wrap-up). Cohort Spring runs 2026-11-12 to 2026-12-02.
On 2026-11-21 (UTC), first attempts at the quiz, 1 = right:

    student   Q1  Q2  Q3  score
    Alice      1   1   0  66.7   (also completed intro and setup that day)
    Bob        1   0   1  66.7   (also asked the tutor twice; rated one answer 👎)
    Dave       1   1   1  100
    Erin       0   0   1  33.3   (then a second attempt, all right: 100)

Q1's wrong answer (Erin's) is "no". Every attempt took 120 seconds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.services.coursepack import CohortSpec, ConceptSpec, CoursePackage, ModuleSpec, QuestionSpec, QuizSpec
from db.models import (
    AttemptStatus,
    ChatMessage,
    ChatMessageFeedback,
    ChatSession,
    ConceptMastery,
    ContentItem,
    ContentProgress,
    CourseEnrollment,
    CourseOffering,
    EnrollmentStatus,
    MessageRole,
    Question,
    QuestionAnswer,
    QuizAttempt,
    SourceMode,
    User,
)
from db.session import Database
from tests.services.course_fixtures import GUILD, import_course, lesson, seed_people

ALICE, BOB, DAVE, ERIN = 2001, 2002, 2004, 2005
CODE = "CLASS"
DAY = datetime(2026, 11, 21, tzinfo=UTC)
ENROLLED = datetime(2026, 11, 20, 12, tzinfo=UTC)
NEXT_MORNING = datetime(2026, 11, 22, 9, tzinfo=UTC)
FIRST_ATTEMPTS = {ALICE: (1, 1, 0), BOB: (1, 0, 1), DAVE: (1, 1, 1), ERIN: (0, 0, 1)}
_threads = itertools.count(9_000)


def class_package() -> CoursePackage:
    questions = tuple(
        QuestionSpec(type="MULTIPLE_CHOICE", text=f"Q{number}", options=("yes", "no"), answer=(0,), concept="basics")
        for number in (1, 2, 3)
    )
    modules = (
        ModuleSpec(
            slug="start",
            title="Start",
            items=(lesson("intro", estimated_minutes=10), lesson("setup", estimated_minutes=20)),
        ),
        ModuleSpec(
            slug="finish",
            title="Finish",
            items=(QuizSpec(slug="check", title="Check", questions=questions), lesson("wrap-up")),
        ),
    )
    cohort = CohortSpec(
        term_name="Spring", starts_at=datetime(2026, 11, 12, tzinfo=UTC), ends_at=datetime(2026, 12, 2, tzinfo=UTC)
    )
    return CoursePackage(
        code=CODE,
        title="Class",
        cohorts=(cohort,),
        concepts=(ConceptSpec(slug="basics", name="Basics"),),
        modules=modules,
    )


@dataclass(frozen=True, slots=True)
class Built:
    course_id: int
    offering_id: int
    quiz_id: int
    question_ids: list[int]


async def build_class(database: Database) -> Built:
    await seed_people(database)
    await import_course(database, class_package(), now=DAY - timedelta(days=10))
    async with database.session_scope() as session:
        session.add_all([User(id=DAVE, display_name="Dave"), User(id=ERIN, display_name="=Erin()")])
        offering = await session.scalar(select(CourseOffering).where(CourseOffering.term_name == "Spring"))
        assert offering is not None
        items = {item.slug: item for item in await session.scalars(select(ContentItem))}
        quiz = items["check"]
        questions = list(
            await session.scalars(select(Question).where(Question.item_id == quiz.id).order_by("position"))
        )
        for student in FIRST_ATTEMPTS:
            session.add(
                CourseEnrollment(
                    user_id=student, offering_id=offering.id, status=EnrollmentStatus.ACTIVE, enrolled_at=ENROLLED
                )
            )
        at = DAY + timedelta(hours=10)
        for slug in ("intro", "setup"):
            session.add(
                ContentProgress(
                    user_id=ALICE,
                    offering_id=offering.id,
                    item_id=items[slug].id,
                    percent=100,
                    first_opened_at=at,
                    last_opened_at=at,
                    completed_at=at,
                )
            )
        attempts = [(student, 1, marks) for student, marks in FIRST_ATTEMPTS.items()] + [(ERIN, 2, (1, 1, 1))]
        for student, number, marks in attempts:
            score = round(100 * sum(marks) / 3, 1)
            attempt = QuizAttempt(
                user_id=student,
                offering_id=offering.id,
                item_id=quiz.id,
                attempt_number=number,
                status=AttemptStatus.SUBMITTED,
                question_order=[question.id for question in questions],
                option_orders={},
                score=score,
                correct_count=sum(marks),
                passed=score >= 70,
                started_at=at,
                submitted_at=at + timedelta(seconds=120),
                time_taken_seconds=120,
            )
            session.add(attempt)
            await session.flush()
            session.add_all(
                QuestionAnswer(
                    attempt_id=attempt.id,
                    question_id=question.id,
                    answer=[0] if right else [1],
                    is_correct=bool(right),
                    answered_at=at + timedelta(seconds=60),
                )
                for question, right in zip(questions, marks, strict=True)
            )
        chat = ChatSession(
            user_id=BOB,
            guild_id=GUILD,
            course_id=quiz.course_id,
            thread_id=next(_threads),
            source_mode=SourceMode.COURSE,
            started_at=at,
            last_message_at=at,
        )
        session.add(chat)
        await session.flush()
        conversation = [
            (MessageRole.USER, "What is a loop?", {}),
            (MessageRole.ASSISTANT, "A loop repeats.", {"cached": True, "total_tokens": 0}),
            (MessageRole.USER, "And a list?", {}),
            (MessageRole.ASSISTANT, "It holds items.", {"cached": False, "total_tokens": 100}),
        ]
        asked = [
            ChatMessage(
                session_id=chat.id, role=role, content=content, meta=meta, created_at=at + timedelta(seconds=second)
            )
            for second, (role, content, meta) in enumerate(conversation)
        ]
        session.add_all(asked)
        await session.flush()
        session.add(ChatMessageFeedback(message_id=asked[3].id, user_id=BOB, rating=-1, created_at=at))
        concept_id = questions[0].concept_id
        assert concept_id is not None
        session.add_all(
            [
                ConceptMastery(user_id=ALICE, concept_id=concept_id, confidence=0.4),
                ConceptMastery(user_id=BOB, concept_id=concept_id, confidence=0.6),
            ]
        )
        return Built(quiz.course_id, offering.id, quiz.id, [question.id for question in questions])
