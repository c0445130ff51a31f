"""Questions in a beginner's words find the passages written in the course's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.retrieval import FRESH_QUESTIONS, SAMPLE_COURSE, SEALED_QUESTIONS, all_questions, load_questions
from bot.tutor import materials, retrieval, vocabulary
from db.session import Database
from tests.tutor.conftest import INSTRUCTOR, CourseRows
from tests.tutor.documents import FUNCTIONS, LOOPS, VARIABLES

STRINGS = """# Strings

## Changing case

`"hello".upper()` gives `'HELLO'`; `lower()` gives the small form back.
"""

TRACEBACKS = """# Tracebacks

When Python stops on a mistake it prints a traceback: the error type and the line number.
"""


async def upload(database: Database, course_id: int, name: str, markdown: str) -> int:
    record = await materials.ingest(
        database, course_id=course_id, uploader_id=INSTRUCTOR, filename=f"{name}.md", data=markdown.encode()
    )
    return record.id


def test_beginner_words_and_phrases_bring_the_course_words_in_any_form() -> None:
    assert {"infinite", "loop"} <= set(retrieval.query_terms("my program runs forever and wont stop"))
    assert "upper" in retrieval.query_terms("how do i make text CAPITAL letters")
    assert {"error", "traceback"} <= set(retrieval.query_terms("it crashed"))
    assert "for" in retrieval.query_terms("how do i go through every item")
    assert "return" in retrieval.query_terms("my function gives back nothing")


def test_the_question_keeps_its_own_words_first_and_each_word_once() -> None:
    terms = retrieval.query_terms("repeat the loop, repeating it")

    assert terms[:2] == ["repeat", "loop"] and terms.count("loop") == 1


def test_common_words_that_only_sometimes_mean_a_concept_bring_nothing() -> None:
    # "even" is an adverb far more often than a parity question; only "is even", "even number" mean modulo.
    assert vocabulary.expansions("what even is a programming language") == []
    assert "modulo" in vocabulary.expansions("how to check if a number is even")
    assert vocabulary.expansions("") == []


async def test_a_beginners_question_finds_the_passage_in_the_course_words(
    database: Database, course: CourseRows
) -> None:
    loops = await upload(database, course.id, "loops", LOOPS)
    strings = await upload(database, course.id, "strings", STRINGS)
    tracebacks = await upload(database, course.id, "tracebacks", TRACEBACKS)
    await upload(database, course.id, "variables", VARIABLES)
    await upload(database, course.id, "functions", FUNCTIONS)

    found = {}
    for question in ("my program keeps going forever", "how do i make it all capitals", "it crashed, now what"):
        async with database.session_scope() as session:
            [best, *_] = await retrieval.search(session, course_id=course.id, query=question)
        found[question] = best.material_id

    assert list(found.values()) == [loops, strings, tracebacks]


@pytest.mark.parametrize(("path", "part", "least"), [(FRESH_QUESTIONS, "fresh", 30), (SEALED_QUESTIONS, "sealed", 40)])
def test_the_later_evaluation_sets_are_labelled_and_apart_from_the_others(path: Path, part: str, least: int) -> None:
    later = load_questions(path, part=part)
    lessons = {path.stem.split("-", 1)[1] for path in SAMPLE_COURSE.glob("*/*.md")}
    others = [question.text for question in all_questions() if question.part != part]

    assert len(later) >= least and all(question.part == part for question in later)
    assert all(question.lessons <= lessons for question in later)
    assert len({question.text for question in later}) == len(later)
    assert not {question.text for question in later} & set(others)
