"""Materials: registered once per course and content, indexed into chunks, failures kept with a reason."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.errors import InvalidInput
from bot.services import audit
from bot.tutor import materials
from bot.tutor.llm import LLMClient
from db.models import AuditLog, IndexingStatus, MaterialChunk, User
from db.session import Database
from tests.fakes.openai_server import EMBEDDINGS_PATH, FakeOpenAIServer, Fault
from tests.tutor.conftest import GUILD, INSTRUCTOR, CourseRows, MakeClient
from tests.tutor.documents import LOOPS, VARIABLES, pdf_with_pages

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def chunks_of(database: Database, material_id: int) -> list[MaterialChunk]:
    async with database.session_scope() as session:
        query = (
            select(MaterialChunk).where(MaterialChunk.material_id == material_id).order_by(MaterialChunk.chunk_index)
        )
        return list(await session.scalars(query))


async def test_a_markdown_upload_is_chunked_and_ready(database: Database, course: CourseRows) -> None:
    material = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="loops.md", data=LOOPS.encode()
    )

    assert (material.status, material.file_type, material.title, material.has_embeddings) == (
        IndexingStatus.READY,
        "markdown",
        "loops",
        False,
    )
    [chunk] = await chunks_of(database, material.id)
    assert "for` loop repeats" in chunk.content and chunk.title == "loops > Loops"
    assert chunk.page is None and chunk.embedding is None and chunk.course_id == course.id


async def test_uploading_the_same_bytes_again_returns_the_first_material(
    database: Database, course: CourseRows
) -> None:
    first = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="loops.md", data=LOOPS.encode()
    )
    again = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="copy.md", data=LOOPS.encode(), title="Copy"
    )

    assert again.id == first.id and again.title == "loops"
    async with database.session_scope() as session:
        assert len(await materials.list_materials(session, guild_id=GUILD, course_code="PY101")) == 1
        uploads = await audit.recent(session, guild_id=GUILD, action="material.upload")
    assert [entry.target_ids for entry in uploads] == [[first.id]]
    assert len(await chunks_of(database, first.id)) == 1


async def test_concurrent_uploads_of_the_same_bytes_register_one_material(
    database: Database, course: CourseRows
) -> None:
    async def upload() -> materials.Registration:
        async with database.session_scope() as session:
            return await materials.register(
                session, course_id=course.id, uploader_id=INSTRUCTOR, filename="v.md", data=b"# Same"
            )

    registrations = await asyncio.gather(*(upload() for _ in range(4)))

    assert len({registration.material.id for registration in registrations}) == 1
    assert sorted(registration.created for registration in registrations) == [False, False, False, True]


async def test_pdf_chunks_keep_their_page_numbers(database: Database, course: CourseRows) -> None:
    pdf = pdf_with_pages([["Loops repeat code.", "A for loop walks a list."], ["Variables name values (like x)."]])

    material = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="Week 1.PDF", data=pdf, title="Week 1 notes"
    )

    assert (material.status, material.file_type) == (IndexingStatus.READY, "pdf")
    chunks = await chunks_of(database, material.id)
    assert [(chunk.page, chunk.content) for chunk in chunks] == [
        (1, "Loops repeat code.\nA for loop walks a list."),
        (2, "Variables name values (like x)."),
    ]
    assert all(chunk.title == "Week 1 notes" for chunk in chunks)


async def test_an_unreadable_pdf_fails_with_a_reason_and_is_retried_on_upload(
    database: Database, course: CourseRows
) -> None:
    broken = pdf_with_pages([["Half a file."]])[:60]

    failed = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="broken.pdf", data=broken
    )

    assert failed.status is IndexingStatus.FAILED
    assert failed.failure_reason is not None and "PDF could not be read" in failed.failure_reason
    assert await chunks_of(database, failed.id) == []
    again = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="broken.pdf", data=broken
    )
    assert (again.id, again.status) == (failed.id, IndexingStatus.FAILED)


async def test_text_that_is_not_utf8_or_empty_of_text_fails_with_a_reason(
    database: Database, course: CourseRows
) -> None:
    latin1 = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="notes.txt", data="Café crème".encode("cp1252")
    )
    blank = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="blank.md", data=b"\n\n   \n"
    )

    assert latin1.status is IndexingStatus.FAILED and "UTF-8" in (latin1.failure_reason or "")
    assert blank.status is IndexingStatus.FAILED and "No text" in (blank.failure_reason or "")


async def test_unsupported_or_empty_files_are_refused_before_anything_is_stored(
    database: Database, course: CourseRows
) -> None:
    async with database.session_scope() as session:
        with pytest.raises(InvalidInput, match="Markdown"):
            await materials.register(
                session, course_id=course.id, uploader_id=INSTRUCTOR, filename="slides.pptx", data=b"x"
            )
        with pytest.raises(InvalidInput, match="empty"):
            await materials.register(session, course_id=course.id, uploader_id=INSTRUCTOR, filename="a.md", data=b"")
        assert await materials.list_materials(session, guild_id=GUILD, course_code="PY101") == []


async def test_embeddings_are_stored_when_an_embedding_model_is_configured(
    database: Database, course: CourseRows, embedding_llm: LLMClient
) -> None:
    material = await materials.ingest(
        database,
        course_id=course.id,
        uploader_id=INSTRUCTOR,
        filename="loops.md",
        data=LOOPS.encode(),
        llm=embedding_llm,
    )

    assert material.has_embeddings
    [chunk] = await chunks_of(database, material.id)
    [expected] = await embedding_llm.embed([f"{chunk.title}\n\n{chunk.content}"])
    assert chunk.embedding == pytest.approx(expected, abs=1e-6)


async def test_an_embedding_model_of_another_width_fails_the_material_with_a_reason(
    database: Database, course: CourseRows, make_client: MakeClient
) -> None:
    material = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="l.md", data=LOOPS.encode(), llm=make_client()
    )

    assert material.status is IndexingStatus.FAILED
    assert "vectors of 64 numbers" in (material.failure_reason or "")


async def test_an_embedding_outage_fails_the_material_and_a_later_upload_indexes_it(
    database: Database, course: CourseRows
) -> None:
    async with FakeOpenAIServer(embedding_dim=1536) as server:
        client = LLMClient.from_settings(base_url=server.base_url, chat_model="c", embedding_model="e", max_retries=0)
        server.fail(Fault.server_error(503), path=EMBEDDINGS_PATH)
        failed = await materials.ingest(
            database, course_id=course.id, uploader_id=INSTRUCTOR, filename="l.md", data=LOOPS.encode(), llm=client
        )
        retried = await materials.ingest(
            database, course_id=course.id, uploader_id=INSTRUCTOR, filename="l.md", data=LOOPS.encode(), llm=client
        )
        await client.aclose()

    assert failed.status is IndexingStatus.FAILED and "embedding model did not answer" in (failed.failure_reason or "")
    assert (retried.id, retried.status, retried.has_embeddings) == (failed.id, IndexingStatus.READY, True)


async def test_the_database_is_free_while_the_embedding_model_works(database: Database, course: CourseRows) -> None:
    # SQLite runs one connection: a transaction held across the embedding call would block the write below.
    async with FakeOpenAIServer(embedding_dim=1536) as server:
        client = LLMClient.from_settings(base_url=server.base_url, chat_model="c", embedding_model="e")
        server.fail(Fault.delay(2.0), path=EMBEDDINGS_PATH)
        ingest = asyncio.create_task(
            materials.ingest(
                database, course_id=course.id, uploader_id=INSTRUCTOR, filename="l.md", data=LOOPS.encode(), llm=client
            )
        )
        while not server.requests_to(EMBEDDINGS_PATH):  # noqa: ASYNC110 (the fake server has no event to wait on)
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        async with database.session_scope() as session:
            session.add(User(id=1234, display_name="Late joiner"))
        write_seconds = time.perf_counter() - started
        material = await ingest
        await client.aclose()

    assert write_seconds < 1.0  # blocked, it would wait out most of the 2 s model call; busy machines stay under 1 s
    assert material.status is IndexingStatus.READY


async def test_a_lesson_is_indexed_once_per_text_and_replaced_when_republished(
    database: Database, course: CourseRows
) -> None:
    lesson_id = course.lesson_ids[0]

    first = await materials.index_lesson(
        database, course_id=course.id, content_item_id=lesson_id, title="Loops", markdown=LOOPS
    )
    unchanged = await materials.index_lesson(
        database, course_id=course.id, content_item_id=lesson_id, title="Loops", markdown=LOOPS
    )
    republished = await materials.index_lesson(
        database, course_id=course.id, content_item_id=lesson_id, title="Loops and names", markdown=VARIABLES
    )

    assert (first.file_type, first.content_item_id, first.status) == ("lesson", lesson_id, IndexingStatus.READY)
    assert unchanged == first
    assert republished.id == first.id and republished.sha256 != first.sha256
    [chunk] = await chunks_of(database, first.id)
    assert "variable is a name" in chunk.content and chunk.title == "Loops and names > Variables"


async def test_deleting_a_material_hides_it_and_frees_its_bytes(database: Database, course: CourseRows) -> None:
    material = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="loops.md", data=LOOPS.encode()
    )
    async with database.session_scope() as session:
        deleted = await materials.delete_material(session, material_id=material.id, actor_id=INSTRUCTOR, now=NOW)
        assert await materials.list_materials(session, guild_id=GUILD, course_code="PY101") == []
        assert await session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "material.delete")
        )

    assert deleted.id == material.id
    assert await chunks_of(database, material.id) == []
    again = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="loops.md", data=LOOPS.encode()
    )
    assert again.id != material.id and again.status is IndexingStatus.READY


async def test_a_lesson_material_cannot_be_deleted_by_hand(database: Database, course: CourseRows) -> None:
    lesson = await materials.index_lesson(
        database, course_id=course.id, content_item_id=course.lesson_ids[0], title="Loops", markdown=LOOPS
    )
    async with database.session_scope() as session:
        with pytest.raises(InvalidInput, match="lesson"):
            await materials.delete_material(session, material_id=lesson.id, actor_id=INSTRUCTOR, now=NOW)
