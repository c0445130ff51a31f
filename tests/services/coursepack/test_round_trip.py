"""Writing a package and loading it back gives the same package, whatever its text contains."""

from __future__ import annotations

import tempfile
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.services.coursepack import (
    CohortSpec,
    ConceptDependency,
    ConceptSpec,
    CoursePackage,
    DependencyStrength,
    FeedbackTiming,
    LessonSpec,
    Level,
    ModuleSpec,
    QuestionSpec,
    QuestionType,
    QuizSpec,
    Visibility,
    load_package,
    write_package,
    write_zip,
)
from bot.services.coursepack.model import COURSE_CODE_PATTERN, SLUG_PATTERN
from bot.services.coursepack.toml_writer import dumps_toml
from tests.services.coursepack.package_files import package_files, write_folder

SAMPLE_COURSE = Path(__file__).parents[3] / "content" / "python-basics"

AWKWARD_FRAGMENTS = [
    '"',
    "'",
    "\\",
    '"""',
    "'''",
    "+++",
    "\n+++\n",
    "  ",
    "\t",
    "\r",
    "\r\n",
    "\n",
    "#",
    "[x]",
    "=",
    "ü",
    "🐍",
]
awkward_text = st.lists(
    st.one_of(st.sampled_from(AWKWARD_FRAGMENTS), st.text(st.characters(codec="utf-8"), max_size=8)),
    max_size=6,
).map("".join)
non_blank_text = st.tuples(awkward_text, st.sampled_from(["a", "Z", "9", "✓"]), awkward_text).map("".join)
course_codes = st.from_regex(COURSE_CODE_PATTERN, fullmatch=True)
zones = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))])
moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=zones)


def unique_slugs(count: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.from_regex(SLUG_PATTERN, fullmatch=True), min_size=count, max_size=count, unique=True)


@st.composite
def cohorts(draw: st.DrawFn, term_name: str) -> CohortSpec:
    starts_at, ends_at = sorted(draw(st.lists(moments, min_size=2, max_size=2)))
    enrollment_start, enrollment_end = sorted(draw(st.lists(moments, min_size=2, max_size=2)))
    visibility = draw(st.sampled_from(Visibility))
    invite_codes = non_blank_text.filter(lambda code: len(code) <= 40)  # the column's length
    invite = draw(invite_codes) if visibility == Visibility.INVITE_ONLY else draw(st.none() | invite_codes)
    return CohortSpec(
        term_name=term_name,
        starts_at=draw(st.none() | st.just(starts_at)),
        ends_at=draw(st.none() | st.just(ends_at)),
        enrollment_start=enrollment_start,
        enrollment_end=draw(st.none() | st.just(enrollment_end)),
        visibility=visibility,
        invite_code=invite,
        capacity=draw(st.none() | st.integers(1, 10_000)),
        role_id=draw(st.none() | st.integers(1, 2**63 - 1)),
    )


@st.composite
def questions(draw: st.DrawFn, concepts: list[str]) -> QuestionSpec:
    question_type = draw(st.sampled_from(QuestionType))
    if question_type == QuestionType.TRUE_FALSE:
        options = draw(st.just(["True", "False"]) | st.lists(non_blank_text, min_size=2, max_size=2, unique=True))
    else:
        options = draw(st.lists(non_blank_text, min_size=2, max_size=5, unique=True))
    indices = range(len(options))
    if question_type == QuestionType.MULTI_SELECT:
        answer = draw(st.lists(st.sampled_from(indices), min_size=1, unique=True))
    else:
        answer = [draw(st.sampled_from(indices))]
    return QuestionSpec(
        type=question_type,
        text=draw(non_blank_text),
        options=tuple(options),
        answer=tuple(answer),
        explanation=draw(awkward_text),
        concept=draw(st.none() | st.sampled_from(concepts)) if concepts else None,
        difficulty=draw(st.integers(1, 5)),
        points=draw(st.integers(1, 10)),
    )


@st.composite
def items(draw: st.DrawFn, slug: str, concepts: list[str]) -> LessonSpec | QuizSpec:
    if draw(st.booleans()):
        return LessonSpec(
            slug=slug,
            title=draw(non_blank_text),
            body=draw(non_blank_text),
            objectives=tuple(draw(st.lists(non_blank_text, max_size=3))),
            estimated_minutes=draw(st.none() | st.integers(1, 600)),
            concepts=tuple(draw(st.lists(st.sampled_from(concepts), unique=True))) if concepts else (),
        )
    return QuizSpec(
        slug=slug,
        title=draw(non_blank_text),
        description=draw(awkward_text),
        shuffle=draw(st.booleans()),
        feedback=draw(st.sampled_from(FeedbackTiming)),
        max_attempts=draw(st.none() | st.integers(1, 10)),
        passing_score=draw(st.none() | st.integers(0, 100)),
        questions=tuple(draw(st.lists(questions(concepts), min_size=1, max_size=3))),
    )


@st.composite
def packages(draw: st.DrawFn) -> CoursePackage:
    concept_slugs = draw(st.lists(st.from_regex(SLUG_PATTERN, fullmatch=True), max_size=4, unique=True))
    concepts = [
        ConceptSpec(
            slug=slug,
            name=draw(non_blank_text),
            description=draw(awkward_text),
            # Depending only on earlier concepts keeps the graph free of cycles.
            depends_on=tuple(
                ConceptDependency(concept=earlier, strength=draw(st.sampled_from(DependencyStrength)))
                for earlier in draw(st.lists(st.sampled_from(concept_slugs[:index]), unique=True))
            )
            if index
            else (),
        )
        for index, slug in enumerate(concept_slugs)
    ]
    module_count = draw(st.integers(1, 3))
    item_counts = draw(st.lists(st.integers(1, 3), min_size=module_count, max_size=module_count))
    item_slugs = iter(draw(unique_slugs(sum(item_counts))))
    modules = [
        ModuleSpec(
            slug=module_slug,
            title=draw(non_blank_text),
            summary=draw(awkward_text),
            items=tuple(draw(items(next(item_slugs), concept_slugs)) for _ in range(count)),
        )
        for module_slug, count in zip(draw(unique_slugs(module_count)), item_counts, strict=True)
    ]
    code = draw(course_codes)
    term_names = draw(st.lists(non_blank_text, max_size=2, unique=True))
    return CoursePackage(
        code=code,
        title=draw(non_blank_text),
        description=draw(awkward_text),
        level=draw(st.sampled_from(Level)),
        passing_score=draw(st.integers(0, 100)),
        prerequisites=tuple(draw(st.lists(course_codes.filter(lambda other: other != code), max_size=2))),
        cohorts=tuple(draw(cohorts(term_name)) for term_name in term_names),
        concepts=tuple(concepts),
        modules=tuple(modules),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(package=packages())
def test_any_package_survives_a_write_and_load_as_a_folder(package: CoursePackage) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        assert load_package(write_package(package, Path(scratch) / "out")) == package


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(package=packages())
def test_any_package_survives_a_write_and_load_as_a_zip(package: CoursePackage) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        assert load_package(write_zip(package, Path(scratch) / "course.zip")) == package


def test_the_sample_course_round_trips_through_a_folder_and_a_zip(tmp_path: Path) -> None:
    original = load_package(SAMPLE_COURSE)
    assert load_package(write_package(original, tmp_path / "folder")) == original
    assert load_package(write_zip(original, tmp_path / "course.zip")) == original


def test_a_gift_quiz_is_written_back_as_quiz_toml(tmp_path: Path) -> None:
    gift = "Python is interpreted. {T}\n\nWho designed it? {=Guido#Yes. ~Linus}\n"
    package = load_package(write_folder(tmp_path / "in", package_files({"01-basics/03-more-practice.gift": gift})))
    written = write_package(package, tmp_path / "out")
    assert sorted(path.name for path in (written / "01-basics").iterdir()) == [
        "01-variables.md",
        "02-check.quiz.toml",
        "03-more-practice.quiz.toml",
        "module.toml",
    ]
    assert load_package(written).modules[0].quizzes[1].title == "More practice"


def test_a_lesson_body_with_plus_lines_and_quotes_round_trips(tmp_path: Path) -> None:
    body = '+++\ntitle = "not front matter"\n+++\n\n```toml\nkey = """x"""\n```\n\\ends with backslash \\'
    package = load_package(write_folder(tmp_path / "in", package_files()))
    lesson = package.modules[0].items[0].model_copy(update={"body": body, "title": 'A "quoted" +++ title'})
    module = package.modules[0].model_copy(update={"items": (lesson, package.modules[0].items[1])})
    changed = package.model_copy(update={"modules": (module,)})
    assert load_package(write_package(changed, tmp_path / "out")).modules[0].items[0] == lesson


def test_writing_into_a_folder_that_holds_files_is_refused(tmp_path: Path) -> None:
    package = load_package(write_folder(tmp_path / "in", package_files()))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.md").write_text("left over")
    with pytest.raises(FileExistsError):
        write_package(package, tmp_path / "out")


@given(text=awkward_text)
def test_the_toml_writer_escapes_any_string(text: str) -> None:
    document = {"single": text, "listed": [text], "inline": [{"value": text}]}
    assert tomllib.loads(dumps_toml(document)) == document
    assert tomllib.loads(dumps_toml(document, multiline_strings=False)) == document


def test_front_matter_strings_stay_on_one_line() -> None:
    assert dumps_toml({"title": "a\n+++\nb"}, multiline_strings=False) == 'title = "a\\n+++\\nb"\n'


def test_the_toml_writer_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="time zone"):
        dumps_toml({"starts_at": datetime(2026, 1, 1)})
