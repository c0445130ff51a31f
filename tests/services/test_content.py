"""Importing course packages is atomic and idempotent, keeps history, and export gives back what was imported."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.services import content, courses, navigation
from bot.services.coursepack import (
    CohortSpec,
    ConceptDependency,
    ConceptSpec,
    PackageInvalid,
    QuizSpec,
    Visibility,
    load_package,
    write_package,
)
from db.models import (
    AuditLog,
    Concept,
    ContentConcept,
    ContentItem,
    ContentKind,
    ContentRevision,
    Course,
    CourseLevel,
    CourseOffering,
    Module,
    ModuleRevision,
    ModuleType,
    Question,
    QuestionAnswer,
    QuizAttempt,
    RevisionVisibility,
)
from db.models import (
    ConceptDependency as ConceptDependencyRow,
)
from db.session import Database
from tests.services.course_fixtures import (
    ALICE,
    GUILD,
    INSTRUCTOR,
    NOW,
    OTHER_GUILD,
    enroll,
    export_course,
    import_course,
    move,
    replace_item,
    row_counts,
    sample_package,
    seed_people,
    tiny_package,
    without_item,
)

LATER = NOW + timedelta(days=1)


async def revisions_of(database: Database, slug: str) -> list[tuple[int, RevisionVisibility, str]]:
    async with database.session_scope() as session:
        rows = await session.execute(
            select(ContentRevision.version, ContentRevision.visibility, ContentRevision.body)
            .join(ContentItem, ContentItem.id == ContentRevision.item_id)
            .where(ContentItem.slug == slug)
            .order_by(ContentRevision.version)
        )
        return [tuple(row) for row in rows]


async def test_importing_the_sample_course_creates_it_as_drafts(database: Database) -> None:
    await seed_people(database)
    package = sample_package()

    summary = await import_course(database, package, publish=False)

    assert summary == content.ImportSummary(
        "PY101", created=True, new_revisions=11, unchanged=0, removed=0, question_sets_replaced=3, published=False
    )
    async with database.session_scope() as session:
        course = await session.scalar(select(Course))
        assert (course.guild_id, course.code, course.title, course.level, course.passing_score) == (
            GUILD,
            "PY101",
            "Python Basics",
            CourseLevel.INTRODUCTORY,
            70,
        )
        assert not course.is_published and course.created_by == INSTRUCTOR
        modules = (await session.scalars(select(Module).order_by(Module.sequence_index))).all()
        assert [(m.module_type, m.slug) for m in modules] == [(ModuleType.COURSE_ROOT, courses.ROOT_SLUG)] + [
            (ModuleType.UNIT, module.slug) for module in package.modules
        ]
        module_titles = await session.execute(
            select(ModuleRevision.title, ModuleRevision.visibility).order_by(ModuleRevision.module_id)
        )
        assert [tuple(row) for row in module_titles] == [
            (module.title, RevisionVisibility.DRAFT) for module in package.modules
        ]
        items = await session.execute(
            select(ContentItem.slug, ContentItem.kind, ContentRevision.version, ContentRevision.visibility)
            .join(ContentRevision, ContentRevision.item_id == ContentItem.id)
            .join(Module, Module.id == ContentItem.module_id)
            .order_by(Module.sequence_index, ContentItem.sequence_index)
        )
        assert [tuple(row) for row in items] == [
            (
                item.slug,
                ContentKind.QUIZ if isinstance(item, QuizSpec) else ContentKind.TEXT,
                1,
                RevisionVisibility.DRAFT,
            )
            for module in package.modules
            for item in module.items
        ]
        questions = (await session.scalars(select(Question))).all()
        assert len(questions) == sum(len(q.questions) for q in package.quizzes) and all(q.is_active for q in questions)
        assert set(await session.scalars(select(Concept.slug))) == {concept.slug for concept in package.concepts}
        dependency_count = sum(len(concept.depends_on) for concept in package.concepts)
        assert len((await session.scalars(select(ConceptDependencyRow))).all()) == dependency_count
        links = await session.execute(
            select(ContentItem.slug, Concept.slug)
            .join(ContentConcept, ContentConcept.item_id == ContentItem.id)
            .join(Concept, Concept.id == ContentConcept.concept_id)
        )
        taught = {(lesson.slug, concept) for lesson in package.lessons for concept in lesson.concepts}
        tested = {(quiz.slug, q.concept) for quiz in package.quizzes for q in quiz.questions if q.concept}
        assert set(links) == taught | tested
        assert list(await session.scalars(select(CourseOffering.term_name))) == ["Self-paced"]


async def test_importing_with_publish_makes_every_revision_visible(database: Database) -> None:
    await seed_people(database)

    summary = await import_course(database, sample_package(), publish=True)

    assert summary.published and summary.new_revisions == 11
    async with database.session_scope() as session:
        assert await session.scalar(select(Course.is_published))
        revisions = (await session.execute(select(ContentRevision.visibility, ContentRevision.published_at))).all()
        assert set(revisions) == {(RevisionVisibility.PUBLISHED, NOW)}
        assert set(await session.scalars(select(ModuleRevision.visibility))) == {RevisionVisibility.PUBLISHED}
        listed = await courses.list_courses(session, guild_id=GUILD, user_id=ALICE)
    assert [course.code for course in listed] == ["PY101"]


async def test_reimporting_the_same_package_changes_nothing(database: Database) -> None:
    await seed_people(database)
    await import_course(database, sample_package(), publish=False)
    before = await row_counts(database)

    summary = await import_course(database, sample_package(), publish=False, now=LATER)

    assert (summary.created, summary.new_revisions, summary.unchanged, summary.removed) == (False, 0, 11, 0)
    assert summary.question_sets_replaced == 0
    assert await row_counts(database) == {**before, "audit_logs": before["audit_logs"] + 1}


async def test_a_changed_lesson_is_a_new_draft_that_students_see_only_once_published(database: Database) -> None:
    await seed_people(database)
    await import_course(database, sample_package(), publish=True)
    await enroll(database, ALICE, "PY101")
    old_body = sample_package().lessons[1].body
    changed = replace_item(sample_package(), "running-code", body="# Running code\n\nRewritten.")

    summary = await import_course(database, changed, publish=False, now=LATER)

    assert (summary.new_revisions, summary.unchanged) == (1, 10)
    assert await revisions_of(database, "running-code") == [
        (1, RevisionVisibility.PUBLISHED, old_body),
        (2, RevisionVisibility.DRAFT, "# Running code\n\nRewritten."),
    ]
    page = await move(database, ALICE, "open", code="PY101", lesson="running-code")
    assert page.body == old_body
    assert (await export_course(database, "PY101")) == changed  # instructors export what they authored

    async with database.session_scope() as session:
        published = await courses.set_published(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, code="PY101", published=True, now=LATER
        )
    assert published == 1
    page = await move(database, ALICE, "open", code="PY101", lesson="running-code")
    assert page.body == "# Running code\n\nRewritten."


async def test_a_renamed_module_keeps_its_published_title_for_students_until_publish(database: Database) -> None:
    await seed_people(database)
    package = tiny_package()
    await import_course(database, package, publish=True)
    await enroll(database, ALICE, "TINY")
    renamed = package.model_copy(
        update={"modules": (package.modules[0].model_copy(update={"title": "Getting going"}), package.modules[1])}
    )

    await import_course(database, renamed, publish=False, now=LATER)

    page = await move(database, ALICE, "next", code="TINY")
    assert page.module_title == "Start"
    async with database.session_scope() as session:
        progress = await navigation.course_progress(session, guild_id=GUILD, user_id=ALICE, course_code="TINY")
        details = await courses.course_details(session, guild_id=GUILD, code="TINY")
        teaching = await courses.course_details(session, guild_id=GUILD, code="TINY", include_unpublished=True)
    assert [module.title for module in progress.modules] == ["Start", "Finish"]
    assert details.module_titles == ["Start", "Finish"]
    assert teaching.module_titles == ["Getting going", "Finish"]

    async with database.session_scope() as session:
        await courses.set_published(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, code="TINY", published=True, now=LATER
        )
    page = await move(database, ALICE, "resume", code="TINY")
    assert page.module_title == "Getting going"


async def test_a_lesson_left_out_of_the_package_is_soft_deleted_and_comes_back_with_its_history(
    database: Database,
) -> None:
    await seed_people(database)
    await import_course(database, sample_package())
    await enroll(database, ALICE, "PY101")

    summary = await import_course(database, without_item(sample_package(), "lists"), now=LATER)

    assert summary.removed == 1
    async with database.session_scope() as session:
        removed = await session.scalar(select(ContentItem).where(ContentItem.slug == "lists"))
        assert (removed.deleted_at, removed.deleted_by) == (LATER, INSTRUCTOR)
        outline = await navigation.outline_titles(session, guild_id=GUILD, user_id=ALICE, course_code="PY101")
    assert "lists" not in [slug for slug, _ in outline] and len(outline) == 10
    assert "lists" not in [
        item.slug for module in (await export_course(database, "PY101")).modules for item in module.items
    ]

    summary = await import_course(database, sample_package(), now=LATER)

    assert (summary.new_revisions, summary.removed) == (0, 0)
    assert await export_course(database, "PY101") == sample_package()
    assert [version for version, _, _ in await revisions_of(database, "lists")] == [1]


async def test_a_changed_quiz_replaces_its_questions_but_past_attempts_keep_theirs(database: Database) -> None:
    await seed_people(database)
    package = sample_package()
    await import_course(database, package)
    await enroll(database, ALICE, "PY101")
    quiz = package.quizzes[0]
    async with database.session_scope() as session:
        item = await session.scalar(select(ContentItem).where(ContentItem.slug == quiz.slug))
        old = (await session.scalars(select(Question).where(Question.item_id == item.id).order_by(Question.id))).all()
        offering_id = await session.scalar(select(CourseOffering.id))
        attempt = QuizAttempt(
            user_id=ALICE,
            offering_id=offering_id,
            item_id=item.id,
            attempt_number=1,
            question_order=[question.id for question in old],
            option_orders={},
        )
        session.add(attempt)
        await session.flush()
        session.add(QuestionAnswer(attempt_id=attempt.id, question_id=old[0].id, answer=[0], is_correct=False))
        other_quizzes = set(await session.scalars(select(Question.id).where(Question.item_id != item.id)))
    old_ids, old_texts = [question.id for question in old], [question.text for question in old]
    reworded = quiz.questions[0].model_copy(update={"text": "Reworded: what does a script print for `2 + 3`?"})

    summary = await import_course(
        database, replace_item(package, quiz.slug, questions=(reworded, *quiz.questions[1:])), now=LATER
    )

    assert (summary.question_sets_replaced, summary.new_revisions) == (1, 0)
    async with database.session_scope() as session:
        rows = (await session.scalars(select(Question).where(Question.item_id == item.id).order_by(Question.id))).all()
        assert [(q.id, q.text, q.is_active) for q in rows[: len(old)]] == [
            (i, t, False) for i, t in zip(old_ids, old_texts, strict=True)
        ]
        assert [(q.text, q.is_active) for q in rows[len(old) :]] == [
            (reworded.text, True),
            *((q.text, True) for q in quiz.questions[1:]),
        ]
        kept = await session.get(QuizAttempt, attempt.id)
        assert kept.question_order == old_ids
        answered = await session.scalar(select(QuestionAnswer.question_id))
        assert answered == old_ids[0]
        assert set(await session.scalars(select(Question.id).where(Question.item_id != item.id))) == other_quizzes
        assert all(q.is_active for q in await session.scalars(select(Question).where(Question.id.in_(other_quizzes))))


async def test_export_gives_back_the_sample_package_and_reimporting_it_is_a_fixed_point(
    database: Database, tmp_path: Path
) -> None:
    await seed_people(database)
    await import_course(database, sample_package(), publish=False)
    exported = await export_course(database, "PY101")

    await import_course(database, exported, guild_id=OTHER_GUILD)
    again = await export_course(database, "PY101", guild_id=OTHER_GUILD)

    assert exported == sample_package()
    assert again == exported
    # What an instructor downloads loads back as the same package.
    assert load_package(write_package(exported, tmp_path / "py101")) == exported


async def test_export_normalises_only_what_the_database_does_not_keep(database: Database) -> None:
    """Documented normalisation of import → export: a lesson's concepts come back in alphabetical order and a
    concept's dependencies in the order the concepts are declared (neither list has a stored position), and a
    package without cohorts gains the default public self-paced cohort students enroll in."""
    await seed_people(database)
    concepts = (
        ConceptSpec(slug="zeta", name="Zeta"),
        ConceptSpec(slug="alpha", name="Alpha"),
        ConceptSpec(
            slug="omega",
            name="Omega",
            depends_on=(ConceptDependency(concept="alpha"), ConceptDependency(concept="zeta", strength="OPTIONAL")),
        ),
    )
    package = tiny_package(cohorts=(), concepts=concepts)
    package = replace_item(package, "intro", concepts=("zeta", "alpha"))

    await import_course(database, package)
    exported = await export_course(database, "TINY")

    expected = replace_item(package, "intro", concepts=("alpha", "zeta"))
    expected = expected.model_copy(
        update={
            "cohorts": (CohortSpec(term_name=courses.DEFAULT_COHORT, visibility=Visibility.PUBLIC),),
            "concepts": (
                *concepts[:2],
                concepts[2].model_copy(
                    update={
                        "depends_on": (
                            ConceptDependency(concept="zeta", strength="OPTIONAL"),
                            ConceptDependency(concept="alpha"),
                        )
                    }
                ),
            ),
        }
    )
    assert exported == expected


async def test_a_missing_prerequisite_is_named_and_nothing_is_written(database: Database) -> None:
    await seed_people(database)
    before = await row_counts(database)

    with pytest.raises(PackageInvalid) as refused:
        await import_course(database, tiny_package(prerequisites=("PY101",)))

    assert "`PY101`" in str(refused.value) and "import it first" in str(refused.value)
    assert [problem.file for problem in refused.value.problems] == ["course.toml"]
    assert await row_counts(database) == before


async def test_a_failed_reimport_leaves_the_course_as_it_was(database: Database) -> None:
    await seed_people(database)
    await import_course(database, sample_package(), publish=False)
    before = await row_counts(database)
    changed = replace_item(sample_package(), "variables", body="# Variables\n\nNew text.")

    with pytest.raises(PackageInvalid, match="CS100"):
        await import_course(
            database, changed.model_copy(update={"title": "Renamed", "prerequisites": ("CS100",)}), now=LATER
        )

    assert await row_counts(database) == before
    assert await export_course(database, "PY101") == sample_package()


async def test_an_invite_code_taken_by_another_course_fails_the_import_and_writes_nothing(database: Database) -> None:
    await seed_people(database)
    taken = CohortSpec(term_name="Friends", visibility=Visibility.INVITE_ONLY, invite_code="JOIN-US")
    await import_course(database, tiny_package("FIRST", cohorts=(taken,)))
    before = await row_counts(database)

    with pytest.raises(PackageInvalid, match="JOIN-US"):
        await import_course(database, sample_package().model_copy(update={"cohorts": (taken,)}))

    assert await row_counts(database) == before
    async with database.session_scope() as session:
        assert list(await session.scalars(select(Course.code))) == ["FIRST"]


async def test_a_failure_after_everything_was_flushed_still_writes_nothing(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_people(database)
    before = await row_counts(database)

    async def failing_publish(*args: object, **kwargs: object) -> int:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(courses, "publish_latest_drafts", failing_publish)
    with pytest.raises(RuntimeError):
        await import_course(database, sample_package(), publish=True)

    assert await row_counts(database) == before


async def test_import_publish_and_delete_are_audited(database: Database) -> None:
    await seed_people(database)
    await import_course(database, sample_package(), publish=False)
    await import_course(database, replace_item(sample_package(), "lists", title="Lists, again"), publish=False)
    async with database.session_scope() as session:
        await courses.set_published(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, code="PY101", published=True, now=LATER
        )
        await courses.delete_course(session, guild_id=GUILD, actor_id=INSTRUCTOR, code="PY101", now=LATER)

    async with database.session_scope() as session:
        course_id = await session.scalar(select(Course.id))
        rows = (await session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    assert [(row.action, row.actor_id, row.target_ids) for row in rows] == [
        ("course.import", INSTRUCTOR, [course_id]),
        ("course.import", INSTRUCTOR, [course_id]),
        ("course.publish", INSTRUCTOR, [course_id]),
        ("course.delete", INSTRUCTOR, [course_id]),
    ]
    assert [(row.meta["created"], row.meta["new_revisions"]) for row in rows[:2]] == [(True, 11), (False, 1)]
    assert rows[2].meta == {"code": "PY101", "revisions": 11}
    assert {row.guild_id for row in rows} == {GUILD}
