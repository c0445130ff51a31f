"""Retrieval: the relevant passage first, only from the asked course, whatever characters the question holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from bot.tutor import materials, retrieval
from bot.tutor.llm import LLMClient
from bot.tutor.retrieval import Passage
from db.session import Database
from tests.conftest import on_postgresql_only
from tests.tutor.conftest import INSTRUCTOR, CourseRows
from tests.tutor.documents import FUNCTIONS, LOOPS, VARIABLES


async def upload(
    database: Database, course_id: int, name: str, markdown: str, llm: LLMClient | None = None
) -> materials.MaterialRecord:
    return await materials.ingest(
        database, course_id=course_id, uploader_id=INSTRUCTOR, filename=f"{name}.md", data=markdown.encode(), llm=llm
    )


async def search(database: Database, course_id: int, query: str, embedding: list[float] | None = None) -> list[Passage]:
    async with database.session_scope() as session:
        return await retrieval.search(session, course_id=course_id, query=query, query_embedding=embedding)


async def test_the_passage_that_answers_the_question_ranks_first(database: Database, course: CourseRows) -> None:
    loops = await upload(database, course.id, "loops", LOOPS)
    await upload(database, course.id, "variables", VARIABLES)
    await upload(database, course.id, "functions", FUNCTIONS)

    [best, *_] = await search(database, course.id, "How many times does a for loop repeat its code?")

    assert best.material_id == loops.id
    assert best.title == "loops > Loops" and "range(10)" in best.content and best.score > 0


async def test_stemming_matches_other_forms_of_a_word(database: Database, course: CourseRows) -> None:
    functions = await upload(database, course.id, "functions", FUNCTIONS)
    await upload(database, course.id, "variables", VARIABLES)

    [best, *_] = await search(database, course.id, "defining functions with parameter")

    assert best.material_id == functions.id


QUERIES_WITH_SEARCH_SYNTAX = [
    'what is a "for loop',
    "loop* OR NOT AND",
    "NEAR(loop range)",
    "content: loop ^range",
    "-loop +range {range} [x]",
]
QUERIES_WITHOUT_WORDS_IN_THE_TEXT = ["'); DROP TABLE material_chunks; --", "?!@#$%^&*()", ""]


async def test_special_characters_in_a_question_are_plain_text(database: Database, course: CourseRows) -> None:
    loops = await upload(database, course.id, "loops", LOOPS)

    for query in QUERIES_WITH_SEARCH_SYNTAX:
        assert [passage.material_id for passage in await search(database, course.id, query)] == [loops.id], query
    for query in QUERIES_WITHOUT_WORDS_IN_THE_TEXT:
        assert await search(database, course.id, query) == [], query


async def test_only_the_asked_course_is_searched(
    database: Database, course: CourseRows, other_course: CourseRows, embedding_llm: LLMClient
) -> None:
    ours = await upload(database, course.id, "loops", LOOPS, embedding_llm)
    await upload(database, other_course.id, "loops", LOOPS, embedding_llm)
    await upload(database, other_course.id, "variables", VARIABLES, embedding_llm)
    [query_embedding] = await embedding_llm.embed(["What is a variable and how does a loop use it?"])

    found = await search(database, course.id, "What is a variable and how does a loop use it?", query_embedding)

    assert [passage.material_id for passage in found] == [ours.id]


async def test_embeddings_rank_passages_by_meaning_alone_or_fused_with_keywords(
    database: Database, course: CourseRows, embedding_llm: LLMClient
) -> None:
    await upload(database, course.id, "loops", LOOPS, embedding_llm)
    variables = await upload(database, course.id, "variables", VARIABLES, embedding_llm)
    await upload(database, course.id, "functions", FUNCTIONS, embedding_llm)
    question = "Variables: a name bound to a value"
    [query_embedding] = await embedding_llm.embed([question])

    with_vectors = await search(database, course.id, question, query_embedding)
    vectors_only = await search(database, course.id, "", query_embedding)

    assert with_vectors[0].material_id == variables.id
    assert vectors_only[0].material_id == variables.id and len(vectors_only) == 3


async def test_lessons_are_found_and_say_which_lesson_they_are(database: Database, course: CourseRows) -> None:
    lesson_id = course.lesson_ids[1]
    await materials.index_lesson(
        database, course_id=course.id, content_item_id=lesson_id, title="Loops", markdown=LOOPS
    )
    await upload(database, course.id, "variables", VARIABLES)

    [best, *_] = await search(database, course.id, "while loop condition")

    assert best.content_item_id == lesson_id and best.title == "Loops"


async def test_deleted_materials_are_not_found(database: Database, course: CourseRows) -> None:
    loops = await upload(database, course.id, "loops", LOOPS)
    async with database.session_scope() as session:
        await materials.delete_material(
            session, material_id=loops.id, actor_id=INSTRUCTOR, now=datetime(2026, 1, 1, tzinfo=UTC)
        )

    assert await search(database, course.id, "for loop") == []


async def test_a_query_embedding_of_another_width_falls_back_to_keywords(
    database: Database, course: CourseRows
) -> None:
    loops = await upload(database, course.id, "loops", LOOPS)

    found = await search(database, course.id, "for loop", [0.1] * 64)

    assert [passage.material_id for passage in found] == [loops.id]


def test_rank_fusion_rewards_agreement_between_rankings() -> None:
    fused = retrieval.fuse([[1, 2, 3], [4, 2, 5]])

    assert [chunk_id for chunk_id, _ in fused] == [2, 1, 4, 3, 5]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 62)


async def test_postgres_vector_search_turns_on_iterative_index_scans_for_the_transaction(
    database: Database, course: CourseRows, embedding_llm: LLMClient
) -> None:
    on_postgresql_only(database, "hnsw.iterative_scan is a pgvector setting")
    await upload(database, course.id, "loops", LOOPS, embedding_llm)
    [query_embedding] = await embedding_llm.embed(["loops"])

    async with database.session_scope() as session:
        await retrieval.search(session, course_id=course.id, query="loops", query_embedding=query_embedding)
        assert await session.scalar(text("SELECT current_setting('hnsw.iterative_scan')")) == "relaxed_order"
    async with database.session_scope() as session:
        assert await session.scalar(text("SELECT current_setting('hnsw.iterative_scan', true)")) in (None, "off")


async def test_keyword_search_finds_only_the_asked_courses_chunks(
    database: Database, course: CourseRows, other_course: CourseRows
) -> None:
    ours = await upload(database, course.id, "loops", LOOPS)
    theirs = await upload(database, other_course.id, "loops", LOOPS)
    await upload(database, other_course.id, "variables", VARIABLES)

    in_ours = await search(database, course.id, "How does a for loop use a variable?")
    in_theirs = await search(database, other_course.id, "How does a for loop use a variable?")

    assert [passage.material_id for passage in in_ours] == [ours.id]
    assert theirs.id in {passage.material_id for passage in in_theirs}
    assert ours.id not in {passage.material_id for passage in in_theirs}


async def test_numbers_in_a_question_match_text_not_course_ids(
    database: Database, course: CourseRows, other_course: CourseRows
) -> None:
    await upload(database, course.id, "notes", "# Notes\n\nNothing but words in here.")
    await upload(database, other_course.id, "notes", "# Notes\n\nNothing but words in here either.")

    for course_id in (course.id, other_course.id):
        assert await search(database, course_id, f"{course.id} {other_course.id} course_id") == []


async def test_hybrid_search_fuses_the_keyword_ranking_with_the_vector_ranking(
    database: Database,
    course: CourseRows,
    other_course: CourseRows,
    embedding_llm: LLMClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The passages' fusion alone: the lessons' share is tested in test_retrieval_lessons.py.
    monkeypatch.setattr(retrieval, "LESSON_WEIGHT", 0.0)
    for name, document in (("loops", LOOPS), ("variables", VARIABLES), ("functions", FUNCTIONS)):
        await upload(database, course.id, name, document, embedding_llm)
        await upload(database, other_course.id, name, document, embedding_llm)
    question = "How does a loop bind a variable to each value?"
    [query_embedding] = await embedding_llm.embed([question])
    async with database.session_scope() as session:
        keywords = await retrieval.search(session, course_id=course.id, query=question, k=50)
        vectors = await retrieval.search(session, course_id=course.id, query="", query_embedding=query_embedding, k=50)
        both = await retrieval.search(session, course_id=course.id, query=question, query_embedding=query_embedding)

    expected = retrieval.fuse([[p.chunk_id for p in keywords], [p.chunk_id for p in vectors]])[:8]
    assert [(passage.chunk_id, passage.score) for passage in both] == expected
    assert keywords and vectors
