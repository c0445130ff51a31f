"""The shipped Python Basics course loads cleanly and has the shape the rest of the bot relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.services.coursepack import CoursePackage, QuestionType, Visibility, load_package

SAMPLE_COURSE = Path(__file__).parents[3] / "content" / "python-basics"


@pytest.fixture(scope="module")
def course() -> CoursePackage:
    return load_package(SAMPLE_COURSE)


def test_it_is_py101_with_a_public_cohort(course: CoursePackage) -> None:
    assert (course.code, course.title) == ("PY101", "Python Basics")
    assert [cohort.visibility for cohort in course.cohorts] == [Visibility.PUBLIC]


def test_its_lessons_run_from_what_python_is_to_functions(course: CoursePackage) -> None:
    assert len(course.modules) >= 3
    assert [lesson.title for lesson in course.lessons] == [
        "What is Python?",
        "Running code",
        "Variables",
        "Numbers and strings",
        "Lists",
        "Conditionals",
        "Loops",
        "Functions",
    ]


def test_every_lesson_teaches_with_code_and_one_is_long_enough_to_paginate(course: CoursePackage) -> None:
    for lesson in course.lessons:
        assert "```python" in lesson.body, lesson.slug
        assert len(lesson.body.split()) >= 150, lesson.slug
    assert max(len(lesson.body) for lesson in course.lessons) > 4096


def test_its_three_quizzes_mix_question_types_and_explain_every_answer(course: CoursePackage) -> None:
    assert len(course.quizzes) == 3
    for quiz in course.quizzes:
        assert 4 <= len(quiz.questions) <= 6, quiz.slug
        assert all(question.explanation for question in quiz.questions), quiz.slug
    used_types = {question.type for quiz in course.quizzes for question in quiz.questions}
    assert used_types == set(QuestionType)


def test_one_quiz_is_authored_in_gift(course: CoursePackage) -> None:
    assert any(path.suffix == ".gift" for path in SAMPLE_COURSE.rglob("*"))
    assert "control-flow-and-functions-check" in {quiz.slug for quiz in course.quizzes}


def test_its_concepts_have_dependencies_and_are_all_taught(course: CoursePackage) -> None:
    assert len(course.concepts) >= 8
    assert any(concept.depends_on for concept in course.concepts)
    taught = {concept for lesson in course.lessons for concept in lesson.concepts}
    assert taught == {concept.slug for concept in course.concepts}
