"""Course materials the tutor can cite: uploaded files (Markdown, text, PDF) and published lessons.

A material moves PENDING → PROCESSING → READY, or → FAILED with a reason an instructor can act on.
Its chunks (`material_chunks`) are those of its last successful indexing, written in the transaction
that marks it READY, so a search never sees half an index; deleting a material drops them. An upload
is indexed once, so it has chunks only when READY. A republished lesson keeps its previous chunks
while the new text is indexed (and if that fails), so it never drops out of the tutor's reach.

Two levels:

- services on a caller's session (`register`, `claim_for_indexing`, `store_index`, `mark_failed`,
  `delete_material`, `list_materials`), which never commit;
- `ingest` and `index_lesson`, which run the whole pipeline on a `Database`: a short transaction to
  register and claim, then text extraction, chunking and embedding with no transaction open, then a
  short transaction to store the result. `upload_material` and `index_published_lessons` (the publishing
  hook) run them with the configured embedding model, else the in-process one (`bot.tutor.embeddings`). Each
  chunk's vector is stored with the model that made it, and its symbols spelled out as search terms
  (`bot.tutor.retrieval`); `bot.tutor.reembedding` moves the vectors to a new model.

What a command calls (`list_materials`, `upload_material`, `index_published_lessons`) names the course as the
command does, by guild and code; the steps underneath take the course's id.

A lesson is indexed as a material with `content_item_id` set (file type `lesson`, one per lesson),
so lessons and uploads are searched, ranked and cited the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Protocol

from pypdf import PdfReader
from sqlalchemy import delete, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.errors import CourseError, InvalidInput, NotFound
from bot.services import audit, courses, published, views
from bot.tutor.chunking import Chunk, chunk_pages
from bot.tutor.embeddings import Embedder, RemoteEmbedder, as_embedder, close_embedder, indexing_embedder
from bot.tutor.errors import LLMError
from bot.tutor.llm import LLMClient
from bot.tutor.retrieval import search_terms
from db.models import (
    ContentItem,
    ContentKind,
    Course,
    IndexingStatus,
    Material,
    MaterialChunk,
)
from db.session import Database, dialect_insert

log = logging.getLogger(__name__)

FILE_TYPES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".pdf": "pdf"}
LESSON_FILE_TYPE = "lesson"
# A PROCESSING claim older than this is taken to be from a process that died, and may be claimed again.
STALE_CLAIM = timedelta(minutes=15)
TITLE_LENGTH = 200
MAX_UPLOAD_BYTES = 25_000_000
# Chunks stored per INSERT statement (see `store_index`).
INSERT_BATCH = 100


class ChunkText(Protocol):
    """What embedding needs of a chunk: a new one (`Chunk`) or a stored one."""

    @property
    def title(self) -> str | None: ...

    @property
    def content(self) -> str: ...


Pages = list[tuple[int | None, str]]
"""A document's text as (page number, text) pairs; the page is None for text that has no pages."""
PageExtractor = Callable[[], Pages]


class MaterialUnreadable(CourseError):
    """The material's text could not be indexed; the message is stored as its `failure_reason`."""


@dataclass(frozen=True, slots=True)
class MaterialRecord:
    id: int
    course_id: int
    content_item_id: int | None  # set for a lesson
    uploader_id: int | None
    title: str
    file_type: str  # markdown, text, pdf or lesson
    sha256: str
    size_bytes: int
    status: IndexingStatus
    failure_reason: str | None
    has_embeddings: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Registration:
    material: MaterialRecord
    created: bool  # False: the course already had a live material with these bytes


@dataclass(frozen=True, slots=True)
class LessonIndexReport:
    ready: int
    failed: tuple[tuple[str, str], ...]  # (lesson title, reason)


def file_type_for(filename: str) -> str:
    """`markdown`, `text` or `pdf` from the file name's extension; `InvalidInput` for anything else."""
    file_type = FILE_TYPES.get(PurePath(filename).suffix.lower())
    if file_type is None:
        raise InvalidInput(f"`{filename}` is not a file the tutor can read. Upload Markdown (.md), text (.txt) or PDF.")
    return file_type


async def register(
    session: AsyncSession,
    *,
    course_id: int,
    uploader_id: int,
    filename: str,
    data: bytes,
    title: str | None = None,
    sha256: str | None = None,
) -> Registration:
    """Record an upload as PENDING, or return the live material of the course with the same bytes.

    Idempotent and safe under concurrent uploads (insert-on-conflict on the course and SHA-256). A new
    material writes an audit row for the uploader. `sha256` is the hex digest of `data` when the caller has it.
    """
    file_type = file_type_for(filename)
    if not data:
        raise InvalidInput(f"`{filename}` is empty.")
    course = await session.get(Course, course_id)
    if course is None or course.deleted_at is not None:
        raise NotFound("course", str(course_id))
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    live_upload = text("deleted_at IS NULL AND content_item_id IS NULL")
    inserted_id = await session.scalar(
        dialect_insert(session, Material)
        .values(
            course_id=course_id,
            uploader_id=uploader_id,
            title=((title or "").strip() or PurePath(filename).stem or filename)[:TITLE_LENGTH],
            file_type=file_type,
            sha256=sha256,
            size_bytes=len(data),
            indexing_status=IndexingStatus.PENDING,
        )
        .on_conflict_do_nothing(index_elements=[Material.course_id, Material.sha256], index_where=live_upload)
        .returning(Material.id)
    )
    material = await session.scalar(
        select(Material).where(
            Material.course_id == course_id,
            Material.sha256 == sha256,
            Material.deleted_at.is_(None),
            Material.content_item_id.is_(None),
        )
    )
    assert material is not None  # inserted now, or the row that was in the way
    if inserted_id is not None:
        await audit.record(
            session,
            guild_id=course.guild_id,
            actor_id=uploader_id,
            action="material.upload",
            target_type="material",
            target_ids=[material.id],
            meta={"course_id": course_id, "title": material.title, "file_type": file_type, "size_bytes": len(data)},
        )
    return Registration(_record(material), created=inserted_id is not None)


async def claim_for_indexing(session: AsyncSession, *, material_id: int, now: datetime) -> bool:
    """Mark the material PROCESSING if it awaits indexing (PENDING, FAILED, or a stale claim); True if claimed.

    Atomic: of several callers, one gets True. READY and deleted materials are never claimed.
    """
    claimed = await session.scalar(
        update(Material)
        .where(
            Material.id == material_id,
            Material.deleted_at.is_(None),
            or_(
                Material.indexing_status.in_([IndexingStatus.PENDING, IndexingStatus.FAILED]),
                (Material.indexing_status == IndexingStatus.PROCESSING)
                & (Material.status_changed_at < now - STALE_CLAIM),
            ),
        )
        .values(indexing_status=IndexingStatus.PROCESSING, status_changed_at=now, failure_reason=None)
        .returning(Material.id)
    )
    return claimed is not None


async def store_index(
    session: AsyncSession,
    *,
    material_id: int,
    sha256: str,
    chunks: Sequence[Chunk],
    embeddings: Sequence[Sequence[float]] | None,
    now: datetime,
    embedding_model: str | None = None,
) -> MaterialRecord | None:
    """Replace the material's chunks and mark it READY, if it is still PROCESSING the content `sha256`.

    Returns None, storing nothing, when the material was deleted, or changed (a lesson republished) meanwhile.
    """
    if embeddings is not None and len(embeddings) != len(chunks):
        raise ValueError("one embedding per chunk, or none at all")
    if embeddings is not None and embedding_model is None:
        raise ValueError("name the model that made the embeddings")
    material = await _being_indexed(session, material_id=material_id, sha256=sha256)
    if material is None:
        return None
    await session.execute(delete(MaterialChunk).where(MaterialChunk.material_id == material_id))
    # Plain INSERTs in batches, each batch's rows made just before it: the event loop runs between them, where one
    # ORM flush of a big file's thousands of chunks held it for hundreds of milliseconds.
    course_id = material.course_id
    for start in range(0, len(chunks), INSERT_BATCH):
        rows = [
            {
                "material_id": material_id,
                "course_id": course_id,
                "chunk_index": chunk.index,
                "content": chunk.content,
                "title": chunk.title[:500] if chunk.title else None,
                "page": chunk.page,
                "token_count": chunk.token_count,
                "search_terms": search_terms(chunk.content),
                "embedding": list(embeddings[position]) if embeddings is not None else None,
                "embedding_model": embedding_model if embeddings is not None else None,
                "embedding_dimensions": len(embeddings[position]) if embeddings is not None else None,
            }
            for position, chunk in enumerate(chunks[start : start + INSERT_BATCH], start=start)
        ]
        await session.execute(insert(MaterialChunk), rows)
    material.indexing_status = IndexingStatus.READY
    material.status_changed_at = now
    material.failure_reason = None
    material.has_embeddings = embeddings is not None
    await session.flush()
    return _record(material)


async def mark_failed(
    session: AsyncSession, *, material_id: int, sha256: str, reason: str, now: datetime
) -> MaterialRecord | None:
    """Mark the material FAILED with `reason` (shown to instructors), if it is still PROCESSING the content `sha256`.

    Returns None, changing nothing, when the material was deleted or changed meanwhile.
    """
    material = await _being_indexed(session, material_id=material_id, sha256=sha256)
    if material is None:
        return None
    material.indexing_status = IndexingStatus.FAILED
    material.status_changed_at = now
    material.failure_reason = reason
    material.has_embeddings = False
    await session.flush()
    return _record(material)


async def delete_material(session: AsyncSession, *, material_id: int, actor_id: int, now: datetime) -> MaterialRecord:
    """Soft-delete an uploaded material: hidden from lists and searches at once (its chunks are dropped). Audited."""
    material = await session.get(Material, material_id)
    if material is None or material.deleted_at is not None:
        raise NotFound("material", str(material_id))
    if material.content_item_id is not None:
        raise InvalidInput("This material is a lesson: it follows the lesson's published text and cannot be removed.")
    course = await session.get(Course, material.course_id)
    assert course is not None  # the foreign key
    await session.execute(delete(MaterialChunk).where(MaterialChunk.material_id == material_id))
    material.deleted_at = now
    material.deleted_by = actor_id
    await session.flush()
    await audit.record(
        session,
        guild_id=course.guild_id,
        actor_id=actor_id,
        action="material.delete",
        target_type="material",
        target_ids=[material_id],
        meta={"course_id": material.course_id, "title": material.title},
    )
    return _record(material)


async def list_materials(session: AsyncSession, *, guild_id: int, course_code: str) -> list[MaterialRecord]:
    """The live materials of the guild's course `course_code`, lessons included, oldest first; NotFound if no such
    course."""
    course = await courses.live_course(session, guild_id=guild_id, code=course_code)
    rows = await session.scalars(
        select(Material).where(Material.course_id == course.id, Material.deleted_at.is_(None)).order_by(Material.id)
    )
    return [_record(row) for row in rows]


async def ingest(
    database: Database,
    *,
    course_id: int,
    uploader_id: int,
    filename: str,
    data: bytes,
    title: str | None = None,
    llm: LLMClient | Embedder | None = None,
    clock: Clock | None = None,
) -> MaterialRecord:
    """Register an upload and index it: the material as it ends up (READY or FAILED with a reason).

    Uploading bytes the course already has returns that material; if it had FAILED (or a claim went
    stale), it is indexed again. Embeddings are made only when `llm` is an embedder, or a client with an embedding
    model.
    """
    clock = clock or SystemClock()
    sha256 = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())  # tens of ms for a big file
    async with database.session_scope() as session:
        registration = await register(
            session,
            course_id=course_id,
            uploader_id=uploader_id,
            title=title,
            filename=filename,
            data=data,
            sha256=sha256,
        )
        material = registration.material
        claimed = await claim_for_indexing(session, material_id=material.id, now=clock.now())
    if not claimed:
        return material
    return await _index(
        database, material, extract=lambda: _pages_of(material.file_type, data), embedder=as_embedder(llm), clock=clock
    )


async def index_lesson(
    database: Database,
    *,
    course_id: int,
    content_item_id: int,
    title: str,
    markdown: str,
    llm: LLMClient | Embedder | None = None,
    clock: Clock | None = None,
) -> MaterialRecord:
    """Index a lesson's published text so the tutor can cite it; call it on every publish.

    Unchanged text that is already READY is left alone; changed text replaces the lesson's chunks.
    """
    clock = clock or SystemClock()
    size_bytes, sha256 = await asyncio.to_thread(_size_and_digest, f"{title}\n\n{markdown}")
    async with database.session_scope() as session:
        current = await session.scalar(select(Material).where(Material.content_item_id == content_item_id))
        if current is not None and current.sha256 == sha256 and current.indexing_status == IndexingStatus.READY:
            return _record(current)
        upsert = dialect_insert(session, Material).values(
            course_id=course_id,
            content_item_id=content_item_id,
            title=title.strip()[:TITLE_LENGTH],
            file_type=LESSON_FILE_TYPE,
            sha256=sha256,
            size_bytes=size_bytes,
            indexing_status=IndexingStatus.PROCESSING,
            status_changed_at=clock.now(),
        )
        fresh = upsert.excluded
        await session.execute(
            upsert.on_conflict_do_update(
                index_elements=[Material.content_item_id],
                set_={
                    "title": fresh.title,
                    "sha256": fresh.sha256,
                    "size_bytes": fresh.size_bytes,
                    "indexing_status": fresh.indexing_status,
                    "status_changed_at": fresh.status_changed_at,
                    "failure_reason": None,
                },
            )
        )
        material = await session.scalar(
            select(Material)
            .where(Material.content_item_id == content_item_id)
            .execution_options(populate_existing=True)
        )
        assert material is not None
        record = _record(material)
    return await _index(database, record, extract=lambda: [(None, markdown)], embedder=as_embedder(llm), clock=clock)


async def upload_material(
    database: Database,
    *,
    guild_id: int,
    course_code: str,
    uploader_id: int,
    filename: str,
    data: bytes,
    title: str | None,
    settings: Settings,
    clock: Clock,
) -> MaterialRecord:
    """Store and index an uploaded file (Markdown, text or PDF): the material as it ends up, READY or FAILED.

    The same bytes uploaded again give back the first material (indexed again only if it had failed). Raises
    `NotFound` if the guild has no course `course_code`, `InvalidInput` for a file type the tutor cannot read.
    """
    course_id = await _live_course_id(database, guild_id=guild_id, course_code=course_code)
    embedder = await indexing_embedder(database, settings)
    try:
        return await ingest(
            database,
            course_id=course_id,
            uploader_id=uploader_id,
            filename=filename,
            data=data,
            title=title,
            llm=embedder,
            clock=clock,
        )
    finally:
        await close_embedder(embedder)


async def index_published_lessons(
    database: Database, *, guild_id: int, course_code: str, settings: Settings, clock: Clock
) -> LessonIndexReport:
    """Index every published lesson of the guild's course `course_code` for retrieval (quizzes never are); call it
    after publishing. NotFound if there is no such course.

    Lessons whose published text is unchanged and already READY are skipped by `index_lesson`.
    """
    async with database.session_scope() as session:
        course_id = (await courses.live_course(session, guild_id=guild_id, code=course_code)).id
        lessons = (
            await session.execute(
                published.items(course_id).where(ContentItem.kind != ContentKind.QUIZ).order_by(ContentItem.id)
            )
        ).all()
    embedder = await indexing_embedder(database, settings)
    ready, failed = 0, []
    try:
        for lesson in lessons:
            record = await index_lesson(
                database,
                course_id=course_id,
                content_item_id=lesson.id,
                title=lesson.title,
                markdown=lesson.body,
                llm=embedder,
                clock=clock,
            )
            if record.status is IndexingStatus.READY:
                ready += 1
            else:
                failed.append((lesson.title, record.failure_reason or "Indexing did not finish."))
    finally:
        await close_embedder(embedder)
    return LessonIndexReport(ready=ready, failed=tuple(failed))


async def _live_course_id(database: Database, *, guild_id: int, course_code: str) -> int:
    async with database.session_scope() as session:
        return (await courses.live_course(session, guild_id=guild_id, code=course_code)).id


async def _index(
    database: Database, material: MaterialRecord, *, extract: PageExtractor, embedder: Embedder | None, clock: Clock
) -> MaterialRecord:
    """Extract, chunk and embed with no transaction open, then store the outcome in a new one."""
    try:
        # Extraction and chunking are CPU work (seconds for a big file): off the event loop.
        chunks = await asyncio.to_thread(lambda: chunk_pages(extract(), title=material.title))
        if not chunks:
            raise MaterialUnreadable("No text was found in it (a scanned PDF has only images). Upload a text version.")
        embeddings = await embed_chunks(chunks, embedder) if embedder is not None else None
    except MaterialUnreadable as problem:
        failure: str | None = str(problem)
    except LLMError as problem:
        log.warning("Embedding material %s failed: %s", material.id, type(problem).__name__)
        failure = "The embedding model did not answer. Indexing runs again on the next upload (or publish)."
    else:
        failure = None
    async with database.session_scope() as session:
        if failure is None:
            outcome = await store_index(
                session,
                material_id=material.id,
                sha256=material.sha256,
                chunks=chunks,
                embeddings=embeddings,
                now=clock.now(),
                embedding_model=embedder.model if embedder is not None else None,
            )
        else:
            outcome = await mark_failed(
                session, material_id=material.id, sha256=material.sha256, reason=failure, now=clock.now()
            )
        if outcome is not None:
            return outcome
        # Deleted, or superseded by a newer publish of the lesson, while we worked: report it as it stands.
        current = await session.get(Material, material.id)
        assert current is not None  # materials are soft-deleted; a hard delete takes the whole course
        return _record(current)


async def _being_indexed(session: AsyncSession, *, material_id: int, sha256: str) -> Material | None:
    # Locked: two indexings of the same text (an import's and a publish's) store one after the other, and the second
    # finds it READY and stores nothing, instead of both inserting the same chunks.
    return await session.scalar(
        select(Material)
        .where(
            Material.id == material_id,
            Material.sha256 == sha256,
            Material.deleted_at.is_(None),
            Material.indexing_status == IndexingStatus.PROCESSING,
        )
        .with_for_update()
    )


async def embed_chunks(chunks: Sequence[ChunkText], embedder: Embedder) -> list[list[float]]:
    """One vector per chunk, all of one width. The heading path goes with the text: "Loops > For loops" says what a
    short passage is about."""
    vectors = await embedder.embed(
        [f"{chunk.title}\n\n{chunk.content}" if chunk.title else chunk.content for chunk in chunks]
    )
    expected = embedder.dimensions if isinstance(embedder, RemoteEmbedder) else None
    wrong = next((len(vector) for vector in vectors if expected is not None and len(vector) != expected), None)
    if wrong is not None:
        raise MaterialUnreadable(
            f"The embedding model returns vectors of {wrong} numbers, but it is configured for {expected}. An admin "
            f"should set the model's dimensions to {wrong} (`/admin llm model`), then upload again."
        )
    if len({len(vector) for vector in vectors}) > 1 or any(not vector for vector in vectors):
        raise MaterialUnreadable(
            "The embedding model answered with vectors of different sizes. An admin should check the embedding "
            "model's settings, then upload again."
        )
    return vectors


def _size_and_digest(text: str) -> tuple[int, str]:
    body = text.encode()
    return len(body), hashlib.sha256(body).hexdigest()


def _pages_of(file_type: str, data: bytes) -> Pages:
    """The text of an upload as (page number, text) pages; PDF pages are numbered from 1."""
    if file_type == "pdf":
        return _pdf_pages(data)
    try:
        return [(None, data.decode("utf-8-sig"))]
    except UnicodeDecodeError:
        raise MaterialUnreadable("It is not UTF-8 text. Save it as UTF-8 and upload it again.") from None


def _pdf_pages(data: bytes) -> Pages:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise MaterialUnreadable("The PDF is password-protected. Upload a copy without a password.")
        return [(number, page.extract_text() or "") for number, page in enumerate(reader.pages, start=1)]
    except MaterialUnreadable:
        raise
    except Exception as error:
        # pypdf raises many types (PdfReadError, ValueError, KeyError, …) on damaged files: all mean unreadable.
        log.info("PDF could not be read: %s: %s", type(error).__name__, error)
        raise MaterialUnreadable(
            "The PDF could not be read: it looks damaged or is not a PDF. Export it again and upload the new file."
        ) from None


def _record(row: Material) -> MaterialRecord:
    return views.from_row(MaterialRecord, row, status=row.indexing_status)
