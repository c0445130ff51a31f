"""Course packages in and out of the database.

`import_package` is atomic (it runs in the caller's transaction, so a failure writes nothing) and
idempotent: items are matched by slug, a changed item gets a new DRAFT revision (PUBLISHED with
`publish=True`), an unchanged one gets nothing, and items missing from the package are soft-deleted.
Changed quiz questions replace the old ones, which are deactivated rather than deleted so past
attempts still point at what was asked. `export_package` writes back what an instructor authored:
each item's newest revision, drafts included.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.services import audit, courses, nudges
from bot.services.coursepack import (
    CohortSpec,
    ConceptDependency,
    ConceptSpec,
    CoursePackage,
    LessonSpec,
    ModuleSpec,
    PackageInvalid,
    Problem,
    QuestionSpec,
    QuizSpec,
)
from db.models import (
    Concept,
    ContentConcept,
    ContentItem,
    ContentKind,
    ContentRevision,
    Course,
    CourseOffering,
    CoursePrerequisite,
    Module,
    ModuleRevision,
    ModuleType,
    Question,
    RevisionVisibility,
)
from db.models import ConceptDependency as ConceptDependencyRow


@dataclass(frozen=True, slots=True)
class ImportSummary:
    code: str
    created: bool
    new_revisions: int
    unchanged: int
    removed: int
    question_sets_replaced: int
    published: bool


@dataclass(frozen=True, slots=True)
class _Revision:
    """What makes two revisions the same, whatever their version number."""

    title: str
    body: str
    data: dict[str, Any]
    objectives: list[str]
    estimated_seconds: int | None


def _lesson_revision(lesson: LessonSpec) -> _Revision:
    minutes = lesson.estimated_minutes
    return _Revision(lesson.title, lesson.body, {}, list(lesson.objectives), minutes * 60 if minutes else None)


def _quiz_revision(quiz: QuizSpec) -> _Revision:
    data = {
        "shuffle": quiz.shuffle,
        "feedback": quiz.feedback.value,
        "max_attempts": quiz.max_attempts,
        "passing_score": quiz.passing_score,
    }
    return _Revision(quiz.title, quiz.description, data, [], None)


def _stored_revision(revision: ContentRevision) -> _Revision:
    return _Revision(
        revision.title, revision.body, revision.data, revision.learning_objectives, revision.estimated_duration_seconds
    )


def _question_key(question: QuestionSpec, concept_ids: dict[str, int]) -> tuple[Any, ...]:
    return (
        question.type.value,
        question.text,
        list(question.options),
        list(question.answer),
        question.explanation,
        concept_ids.get(question.concept) if question.concept else None,
        question.difficulty,
        question.points,
    )


def _stored_question_key(question: Question) -> tuple[Any, ...]:
    return (
        question.question_type.value,
        question.text,
        question.options,
        question.answer,
        question.explanation,
        question.concept_id,
        question.difficulty,
        question.points,
    )


async def import_package(
    session: AsyncSession, *, guild_id: int, actor_id: int, package: CoursePackage, publish: bool, now: datetime
) -> ImportSummary:
    """Create or update the guild's course `package.code` from the package. Raises PackageInvalid (nothing
    written, once the caller rolls back) when the package refers to what this guild does not have."""
    course = await session.scalar(
        select(Course).where(Course.guild_id == guild_id, Course.code == package.code, Course.deleted_at.is_(None))
    )
    created = course is None
    was_live = course is not None and course.is_published
    if course is None:
        course = Course(guild_id=guild_id, code=package.code, title=package.title, created_by=actor_id)
        session.add(course)
        await session.flush()
        session.add(
            Module(course_id=course.id, module_type=ModuleType.COURSE_ROOT, slug=courses.ROOT_SLUG, sequence_index=0)
        )
    course.title, course.description = package.title, package.description
    course.level, course.passing_score = package.level, package.passing_score

    await _import_prerequisites(session, course, package)
    await _import_cohorts(session, course, package.cohorts)
    concept_ids = await _import_concepts(session, course, package.concepts)
    counts = await _import_modules_and_items(session, course, package, concept_ids, actor_id, now)
    if publish:
        course.is_published = True
        published_items = await courses.publish_latest_drafts(session, course_id=course.id, now=now)
        if was_live and published_items:  # a live course's new lessons are announced; a new course's are not
            await nudges.plan_announcement(
                session, guild_id=guild_id, course_id=course.id, item_ids=published_items, actor_id=actor_id, now=now
            )
    summary = ImportSummary(package.code, created, *counts, published=publish)
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="course.import",
        target_type="course",
        target_ids=[course.id],
        meta={
            "code": package.code,
            "created": created,
            "new_revisions": summary.new_revisions,
            "removed": summary.removed,
            "published": publish,
        },
    )
    return summary


async def _import_prerequisites(session: AsyncSession, course: Course, package: CoursePackage) -> None:
    found = dict(
        (
            await session.execute(
                select(Course.code, Course.id).where(
                    Course.guild_id == course.guild_id,
                    Course.code.in_(package.prerequisites),
                    Course.deleted_at.is_(None),
                )
            )
        ).all()
    )
    missing = [code for code in package.prerequisites if code not in found]
    if missing or course.code in package.prerequisites:
        problems = [
            Problem("course.toml", None, f"prerequisite `{code}` is not a course in this server: import it first")
            for code in missing
        ]
        if course.code in package.prerequisites:
            problems.append(Problem("course.toml", None, "a course cannot be its own prerequisite"))
        raise PackageInvalid(problems)
    await courses.refuse_prerequisite_cycle(
        session, course=course, prerequisite_ids=[found[code] for code in package.prerequisites]
    )
    await session.execute(delete(CoursePrerequisite).where(CoursePrerequisite.course_id == course.id))
    session.add_all(CoursePrerequisite(course_id=course.id, prerequisite_id=found[code]) for code in found)


async def _import_cohorts(session: AsyncSession, course: Course, cohorts: Iterable[CohortSpec]) -> None:
    existing = {
        offering.term_name: offering
        for offering in await session.scalars(select(CourseOffering).where(CourseOffering.course_id == course.id))
    }
    cohorts = list(cohorts)
    await _check_invite_codes(session, course, cohorts)
    if not cohorts and not existing:
        # Students need a cohort to enroll in; a package without any gets a self-paced public one.
        cohorts = [CohortSpec(term_name=courses.DEFAULT_COHORT)]
    for spec in cohorts:
        offering = existing.get(spec.term_name) or CourseOffering(course_id=course.id, term_name=spec.term_name)
        offering.starts_at, offering.ends_at = spec.starts_at, spec.ends_at
        offering.enrollment_start, offering.enrollment_end = spec.enrollment_start, spec.enrollment_end
        offering.visibility = spec.visibility
        offering.invite_code, offering.capacity, offering.role_id = spec.invite_code, spec.capacity, spec.role_id
        session.add(offering)


async def _check_invite_codes(session: AsyncSession, course: Course, cohorts: list[CohortSpec]) -> None:
    """Invite codes are unique among the live courses of a guild (other guilds' codes never count, so they can't
    be probed); say which one is taken instead of failing on the index."""
    wanted = {spec.invite_code: spec.term_name for spec in cohorts if spec.invite_code}
    owners = await session.execute(
        select(CourseOffering.invite_code, CourseOffering.course_id, CourseOffering.term_name)
        .join(Course, Course.id == CourseOffering.course_id)
        .where(
            Course.guild_id == course.guild_id,
            Course.deleted_at.is_(None),
            CourseOffering.invite_code.in_(wanted),
        )
    )
    taken = {code for code, course_id, term in owners if (course_id, term) != (course.id, wanted[code])}
    repeated = {code for code in wanted if sum(spec.invite_code == code for spec in cohorts) > 1}
    if taken | repeated:
        raise PackageInvalid(
            Problem("course.toml", None, f"invite code `{code}` is already used by another cohort: pick another")
            for code in sorted(taken | repeated)
        )


async def _import_concepts(session: AsyncSession, course: Course, specs: Iterable[ConceptSpec]) -> dict[str, int]:
    specs = list(specs)
    existing = {
        concept.slug: concept
        for concept in await session.scalars(select(Concept).where(Concept.course_id == course.id))
    }
    for spec in specs:
        concept = existing.get(spec.slug) or Concept(course_id=course.id, slug=spec.slug)
        concept.name, concept.description = spec.name, spec.description
        existing[spec.slug] = concept
        session.add(concept)
    await session.flush()
    ids = {slug: concept.id for slug, concept in existing.items()}
    await session.execute(delete(ConceptDependencyRow).where(ConceptDependencyRow.concept_id.in_(ids.values())))
    session.add_all(
        ConceptDependencyRow(
            concept_id=ids[spec.slug],
            depends_on_id=ids[dependency.concept],
            strength=dependency.strength,
        )
        for spec in specs
        for dependency in spec.depends_on
    )
    return ids


async def _newest_revisions(
    session: AsyncSession,
    owner_key: InstrumentedAttribute[int],
    owner: type[ContentItem] | type[Module],
    course_id: int,
) -> dict[int, Any]:
    """The newest revision of each item (or module: `owner_key` is the revision's column naming its `owner`) of the
    course, by the owner's id."""
    revision = owner_key.class_
    newest = (
        select(owner_key.label("owner_id"), func.max(revision.version).label("version"))
        .join(owner, owner.id == owner_key)
        .where(owner.course_id == course_id)
        .group_by(owner_key)
        .subquery()
    )
    revisions = await session.scalars(
        select(revision).join(newest, (newest.c.owner_id == owner_key) & (newest.c.version == revision.version))
    )
    return {getattr(row, owner_key.key): row for row in revisions}


async def _import_modules_and_items(
    session: AsyncSession,
    course: Course,
    package: CoursePackage,
    concept_ids: dict[str, int],
    actor_id: int,
    now: datetime,
) -> tuple[int, int, int, int]:
    """Write a DRAFT revision of every new or changed item and module (`import_package` publishes them when
    asked). Returns (new revisions, unchanged items, removed items and modules, question sets replaced)."""
    modules = {
        module.slug: module for module in await session.scalars(select(Module).where(Module.course_id == course.id))
    }
    root = modules[courses.ROOT_SLUG]
    items = {
        item.slug: item for item in await session.scalars(select(ContentItem).where(ContentItem.course_id == course.id))
    }
    module_revisions = await _newest_revisions(session, ModuleRevision.module_id, Module, course.id)
    item_revisions = await _newest_revisions(session, ContentRevision.item_id, ContentItem, course.id)
    new_revisions = unchanged = removed = replaced = 0

    wanted_items: list[tuple[ContentItem, LessonSpec | QuizSpec]] = []
    for module_index, module_spec in enumerate(package.modules, start=1):
        module = modules.get(module_spec.slug)
        if module is None:
            module = Module(course_id=course.id, slug=module_spec.slug, module_type=ModuleType.UNIT)
            modules[module.slug] = module
        module.parent_id, module.sequence_index, module.depth = root.id, module_index, 1
        module.deleted_at = module.deleted_by = None
        session.add(module)
        for item_index, spec in enumerate(module_spec.items, start=1):
            item = items.get(spec.slug)
            kind = ContentKind.QUIZ if isinstance(spec, QuizSpec) else ContentKind.TEXT
            if item is None:
                item = ContentItem(course_id=course.id, slug=spec.slug, kind=kind)
                items[item.slug] = item
            item.kind, item.sequence_index = kind, item_index
            item.deleted_at = item.deleted_by = None
            wanted_items.append((item, spec))
    await session.flush()  # ids for new modules, needed by items

    for module_spec in package.modules:
        module = modules[module_spec.slug]
        newest = module_revisions.get(module.id)
        if newest is None or (newest.title, newest.summary) != (module_spec.title, module_spec.summary):
            session.add(
                ModuleRevision(
                    module_id=module.id,
                    version=(newest.version + 1) if newest else 1,
                    title=module_spec.title,
                    summary=module_spec.summary,
                    visibility=RevisionVisibility.DRAFT,
                    created_by=actor_id,
                )
            )
    spec_module = {spec.slug: modules[module.slug] for module in package.modules for spec in module.items}
    for item, spec in wanted_items:
        item.module_id = spec_module[spec.slug].id
        session.add(item)
    await session.flush()  # ids for new items

    existing_questions: dict[int, list[Question]] = defaultdict(list)
    for question in await session.scalars(
        select(Question)
        .join(ContentItem, ContentItem.id == Question.item_id)
        .where(ContentItem.course_id == course.id, Question.is_active.is_(True))
        .order_by(Question.item_id, Question.position)
    ):
        existing_questions[question.item_id].append(question)

    for item, spec in wanted_items:
        wanted = _quiz_revision(spec) if isinstance(spec, QuizSpec) else _lesson_revision(spec)
        newest = item_revisions.get(item.id)
        if newest is not None and _stored_revision(newest) == wanted:
            unchanged += 1
        else:
            new_revisions += 1
            session.add(
                ContentRevision(
                    item_id=item.id,
                    version=(newest.version + 1) if newest else 1,
                    title=wanted.title,
                    body=wanted.body,
                    data=wanted.data,
                    learning_objectives=wanted.objectives,
                    estimated_duration_seconds=wanted.estimated_seconds,
                    visibility=RevisionVisibility.DRAFT,
                    created_by=actor_id,
                )
            )
        if isinstance(spec, QuizSpec):
            replaced += _replace_questions(session, item, spec, existing_questions[item.id], concept_ids)

    await _link_concepts(session, [(item, spec) for item, spec in wanted_items], concept_ids)
    wanted_slugs = {spec.slug for _, spec in wanted_items}
    wanted_modules = {module.slug for module in package.modules} | {courses.ROOT_SLUG}
    for item in items.values():
        if item.slug not in wanted_slugs and item.deleted_at is None:
            item.deleted_at, item.deleted_by = now, actor_id
            removed += 1
    for module in modules.values():
        if module.slug not in wanted_modules and module.deleted_at is None:
            module.deleted_at, module.deleted_by = now, actor_id
    return new_revisions, unchanged, removed, replaced


def _replace_questions(
    session: AsyncSession, item: ContentItem, quiz: QuizSpec, current: list[Question], concept_ids: dict[str, int]
) -> int:
    """Swap in the quiz's questions when they differ from the active ones; 1 if replaced, else 0."""
    if [_stored_question_key(question) for question in current] == [
        _question_key(spec, concept_ids) for spec in quiz.questions
    ]:
        return 0
    for question in current:
        question.is_active = False
    session.add_all(
        Question(
            item_id=item.id,
            concept_id=concept_ids.get(spec.concept) if spec.concept else None,
            position=position,
            question_type=spec.type,
            difficulty=spec.difficulty,
            text=spec.text,
            options=list(spec.options),
            answer=list(spec.answer),
            explanation=spec.explanation,
            points=spec.points,
        )
        for position, spec in enumerate(quiz.questions, start=1)
    )
    return 1


async def _link_concepts(
    session: AsyncSession, items: list[tuple[ContentItem, LessonSpec | QuizSpec]], concept_ids: dict[str, int]
) -> None:
    item_ids = [item.id for item, _ in items]
    await session.execute(delete(ContentConcept).where(ContentConcept.item_id.in_(item_ids)))
    links = set()
    for item, spec in items:
        slugs = spec.concepts if isinstance(spec, LessonSpec) else [q.concept for q in spec.questions if q.concept]
        links.update((item.id, concept_ids[slug]) for slug in slugs)
    session.add_all(ContentConcept(item_id=item_id, concept_id=concept_id) for item_id, concept_id in sorted(links))


async def export_package(session: AsyncSession, *, guild_id: int, code: str) -> CoursePackage:
    """The course as authored (newest revisions, drafts included), in the package format."""
    course = await courses.live_course(session, guild_id=guild_id, code=code)
    prerequisites = await courses.prerequisite_codes(session, course_id=course.id)
    offerings = await session.scalars(
        select(CourseOffering).where(CourseOffering.course_id == course.id).order_by(CourseOffering.id)
    )
    concepts = list(await session.scalars(select(Concept).where(Concept.course_id == course.id).order_by(Concept.id)))
    slug_of = {concept.id: concept.slug for concept in concepts}
    dependencies: dict[int, list[ConceptDependency]] = defaultdict(list)
    for row in await session.scalars(
        select(ConceptDependencyRow)
        .where(ConceptDependencyRow.concept_id.in_(slug_of))
        .order_by(ConceptDependencyRow.concept_id, ConceptDependencyRow.depends_on_id)
    ):
        dependencies[row.concept_id].append(
            ConceptDependency(concept=slug_of[row.depends_on_id], strength=row.strength.value)
        )
    modules = list(
        await session.scalars(
            select(Module)
            .where(Module.course_id == course.id, Module.deleted_at.is_(None), Module.parent_id.is_not(None))
            .order_by(Module.sequence_index)
        )
    )
    module_revisions = await _newest_revisions(session, ModuleRevision.module_id, Module, course.id)
    items = list(
        await session.scalars(
            select(ContentItem)
            .where(ContentItem.course_id == course.id, ContentItem.deleted_at.is_(None))
            .order_by(ContentItem.module_id, ContentItem.sequence_index)
        )
    )
    revisions = await _newest_revisions(session, ContentRevision.item_id, ContentItem, course.id)
    questions: dict[int, list[Question]] = defaultdict(list)
    for question in await session.scalars(
        select(Question)
        .where(Question.item_id.in_([item.id for item in items]), Question.is_active.is_(True))
        .order_by(Question.item_id, Question.position)
    ):
        questions[question.item_id].append(question)
    item_concepts: dict[int, list[str]] = defaultdict(list)
    for link in await session.scalars(
        select(ContentConcept).where(ContentConcept.item_id.in_([item.id for item in items]))
    ):
        item_concepts[link.item_id].append(slug_of[link.concept_id])

    def item_spec(item: ContentItem) -> LessonSpec | QuizSpec:
        revision = revisions[item.id]
        if item.kind is ContentKind.QUIZ:
            return QuizSpec(
                slug=item.slug,
                title=revision.title,
                description=revision.body,
                shuffle=revision.data.get("shuffle", True),
                feedback=revision.data.get("feedback", "immediate"),
                max_attempts=revision.data.get("max_attempts"),
                passing_score=revision.data.get("passing_score"),
                questions=tuple(
                    QuestionSpec(
                        type=question.question_type.value,
                        text=question.text,
                        options=tuple(question.options),
                        answer=list(question.answer),
                        explanation=question.explanation,
                        concept=slug_of.get(question.concept_id) if question.concept_id else None,
                        difficulty=question.difficulty,
                        points=question.points,
                    )
                    for question in questions[item.id]
                ),
            )
        seconds = revision.estimated_duration_seconds
        return LessonSpec(
            slug=item.slug,
            title=revision.title,
            body=revision.body,
            objectives=tuple(revision.learning_objectives),
            estimated_minutes=seconds // 60 if seconds else None,
            concepts=tuple(sorted(item_concepts[item.id])),
        )

    items_by_module: dict[int, list[ContentItem]] = defaultdict(list)
    for item in items:
        items_by_module[item.module_id].append(item)
    return CoursePackage(
        code=course.code,
        title=course.title,
        description=course.description,
        level=course.level.value,
        passing_score=course.passing_score,
        prerequisites=tuple(prerequisites),
        cohorts=tuple(
            CohortSpec(
                term_name=offering.term_name,
                starts_at=offering.starts_at,
                ends_at=offering.ends_at,
                enrollment_start=offering.enrollment_start,
                enrollment_end=offering.enrollment_end,
                visibility=offering.visibility.value,
                invite_code=offering.invite_code,
                capacity=offering.capacity,
                role_id=offering.role_id,
            )
            for offering in offerings
        ),
        concepts=tuple(
            ConceptSpec(
                slug=concept.slug,
                name=concept.name,
                description=concept.description,
                depends_on=tuple(dependencies[concept.id]),
            )
            for concept in concepts
        ),
        modules=tuple(
            ModuleSpec(
                slug=module.slug,
                title=module_revisions[module.id].title,
                summary=module_revisions[module.id].summary,
                items=tuple(item_spec(item) for item in items_by_module[module.id]),
            )
            for module in modules
        ),
    )
