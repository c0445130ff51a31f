"""Retrieval that understands beginners, and embeddings of different models that never mix, also while switching."""

from __future__ import annotations

from sqlalchemy import func, select

from bench.retrieval import SAMPLE_COURSE, load_questions
from bot.config import Settings
from bot.tutor import backends, materials, reembedding, retrieval
from bot.tutor.embeddings import LOCAL_MODEL, QueryEmbedder, RemoteEmbedder, local_embedder, query_embedder
from bot.tutor.llm import LLMClient
from db.models import MaterialChunk, ModelPurpose, StagedEmbedding
from db.session import Database
from tests.fakes.openai_server import FakeOpenAIServer
from tests.tutor.conftest import INSTRUCTOR, CourseRows
from tests.tutor.documents import FUNCTIONS, LOOPS, VARIABLES

CONDITIONALS = """# Conditionals

## Comparing

A comparison such as `age == 18` gives True or False; `!=` asks the opposite.

## Choosing a branch

Use if, elif and else to run only the first block whose condition holds.
"""


async def upload(database: Database, course_id: int, name: str, markdown: str, embedder: object = None) -> int:
    record = await materials.ingest(
        database,
        course_id=course_id,
        uploader_id=INSTRUCTOR,
        filename=f"{name}.md",
        data=markdown.encode(),
        llm=embedder,  # type: ignore[arg-type]
    )
    return record.id


async def search(database: Database, course_id: int, query: str, **options: object) -> list[retrieval.Passage]:
    async with database.session_scope() as session:
        return await retrieval.search(session, course_id=course_id, query=query, **options)  # type: ignore[arg-type]


def test_question_words_go_and_the_words_of_python_stay() -> None:
    assert retrieval.query_terms("How do I use if and not in my code?") == ["if", "and", "not", "in", "code"]
    assert retrieval.query_terms("whats the diff between / and //") == ["diff", "and", "floor", "division"]
    assert "assignment" in retrieval.query_terms("what does the = sign do")
    assert "assignment" not in retrieval.query_terms("what does == do")


async def test_symbols_and_section_titles_are_searchable(database: Database, course: CourseRows) -> None:
    conditionals = await upload(database, course.id, "conditionals", CONDITIONALS)
    await upload(database, course.id, "loops", LOOPS)
    await upload(database, course.id, "variables", VARIABLES)

    [by_symbol, *_] = await search(database, course.id, "what is == for")
    [by_title, *_] = await search(database, course.id, "comparing")

    assert by_symbol.material_id == conditionals and by_title.material_id == conditionals


async def test_a_question_is_compared_only_with_vectors_of_its_own_model(
    database: Database, course: CourseRows, embedding_llm: LLMClient
) -> None:
    local = await upload(database, course.id, "loops", LOOPS, local_embedder())
    await upload(database, course.id, "variables", VARIABLES, embedding_llm)
    [question] = await local_embedder().embed(["repeat code"])

    found = await search(database, course.id, "", query_embedding=question, embedding_model=LOCAL_MODEL)
    other_model = await search(database, course.id, "", query_embedding=question, embedding_model="another-model")

    assert {passage.material_id for passage in found} == {local} and other_model == []


async def test_the_open_lesson_leads_when_about_as_relevant(database: Database, course: CourseRows) -> None:
    for lesson_id, markdown in zip(course.lesson_ids, (LOOPS, LOOPS.replace("# Loops", "# Repeating")), strict=True):
        await materials.index_lesson(
            database, course_id=course.id, content_item_id=lesson_id, title="Lesson", markdown=markdown
        )
    question = "for loop range"

    unbiased = await search(database, course.id, question)
    preferring = [
        (await search(database, course.id, question, prefer_content_item_id=lesson_id))[0].content_item_id
        for lesson_id in course.lesson_ids
    ]

    assert len({passage.content_item_id for passage in unbiased}) == 2
    assert preferring == list(course.lesson_ids)


async def test_switching_the_embedding_model_re_embeds_in_batches_and_keeps_the_old_vectors_until_done(
    database: Database, course: CourseRows, embedding_llm: LLMClient
) -> None:
    for name, markdown in (("loops", LOOPS), ("variables", VARIABLES), ("functions", FUNCTIONS)):
        await upload(database, course.id, name, markdown, local_embedder())
    async with database.session_scope() as session:
        chunks = await session.scalar(select(func.count()).select_from(MaterialChunk))
        assert await retrieval.serving_model(session, course_id=course.id) == LOCAL_MODEL
    new_model = RemoteEmbedder(embedding_llm, 1536)
    [old_question] = await local_embedder().embed(["a name bound to a value"])

    first = await reembedding.reembed_batch(database, embedder=new_model, batch_size=2)

    assert (first.embedded, first.switched_courses, first.done) == (2, (), False)
    async with database.session_scope() as session:
        assert await retrieval.serving_model(session, course_id=course.id) == LOCAL_MODEL
    still_old = await search(database, course.id, "", query_embedding=old_question, embedding_model=LOCAL_MODEL)
    assert len(still_old) == chunks

    progress = first
    while not progress.done:  # a stopped run resumes from what was staged
        progress = await reembedding.reembed_batch(database, embedder=new_model, batch_size=2)

    assert progress.switched_courses == (course.id,)
    async with database.session_scope() as session:
        assert await retrieval.serving_model(session, course_id=course.id) == "fake-embed"
        assert await session.scalar(select(func.count()).select_from(StagedEmbedding)) == 0
        widths = set(await session.scalars(select(MaterialChunk.embedding_dimensions)))
    [new_question] = await embedding_llm.embed(["a name bound to a value"])
    assert widths == {1536}
    assert (
        len(await search(database, course.id, "", query_embedding=new_question, embedding_model="fake-embed")) == chunks
    )
    assert await search(database, course.id, "", query_embedding=old_question, embedding_model=LOCAL_MODEL) == []
    again = await reembedding.reembed_batch(database, embedder=new_model, batch_size=2)
    assert (again.embedded, again.done) == (0, True)


async def test_the_scheduled_re_embedding_follows_the_configured_model_and_questions_follow_the_course(
    database: Database, course: CourseRows, settings: Settings
) -> None:
    await upload(database, course.id, "loops", LOOPS, local_embedder())
    await upload(database, course.id, "variables", VARIABLES, local_embedder())
    async with FakeOpenAIServer(embedding_dim=1536) as server:
        settings.llm.base_url = server.base_url
        settings.llm.embedding_model = "fake-embed"
        settings.tutor.reembed_batch_size = 1
        async with database.session_scope() as session:
            configured = await backends.model_connection(session, settings, ModelPurpose.EMBEDDING)
            during = await query_embedder(session, course_id=course.id, configured=configured)

        first = await reembedding.reembed_for_settings(database, settings)
        rest = [await reembedding.reembed_for_settings(database, settings) for _ in range(3)]

    assert during == QueryEmbedder(LOCAL_MODEL, None)
    assert first is not None and first.embedded == 1 and not first.switched_courses
    assert [progress.switched_courses for progress in rest if progress is not None] == [(course.id,), (), ()]
    async with database.session_scope() as session:
        after = await query_embedder(session, course_id=course.id, configured=configured)
    assert after == QueryEmbedder("fake-embed", configured)


def test_the_evaluation_set_is_labelled_with_lessons_of_the_sample_course() -> None:
    questions = load_questions()
    lessons = {path.stem.split("-", 1)[1] for path in SAMPLE_COURSE.glob("*/*.md")}

    assert len(questions) >= 60 and sum(question.held_out for question in questions) == len(questions) // 3
    assert all(question.lessons <= lessons for question in questions)
    assert len({question.text for question in questions}) == len(questions)
