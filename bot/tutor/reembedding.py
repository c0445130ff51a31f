"""Moving a bot's chunk vectors to a new embedding model, in the background, without a gap in semantic search.

When the embedding model changes (an admin configures one, or removes it and the in-process model takes over),
`reembed_batch` runs on a schedule: each run embeds a bounded batch of chunks that have no vector of the new model,
with no transaction open, and stages them (`staged_embeddings`). A course whose chunks all have one switches in one
transaction; until then its searches use the old vectors, embedding the question with the old model
(`bot.tutor.embeddings.query_embedder`). Staged vectors survive a restart, so a run resumes where the last stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.tutor.embeddings import Embedder, close_embedder, indexing_embedder
from bot.tutor.errors import LLMError
from bot.tutor.materials import MaterialUnreadable, embed_chunks
from db.models import IndexingStatus, Material, MaterialChunk, StagedEmbedding
from db.session import Database, dialect_insert

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReembedProgress:
    embedded: int  # vectors made by this batch
    switched_courses: tuple[int, ...]  # courses searched with the new model from this batch on
    done: bool  # nothing left to embed with this model


async def reembed_batch(database: Database, *, embedder: Embedder, batch_size: int) -> ReembedProgress:
    """One bounded step of moving every course's vectors to `embedder`'s model; call it until `done`.

    Up to `batch_size` chunks with no vector of the model (none at all, or another model's) are embedded, with no
    transaction open, and staged. A course whose chunks all have one then switches in one transaction: searches
    keep the old vectors until then. Staged vectors are kept between calls, so a stopped run resumes where it was.
    """
    model = embedder.model
    staged = select(StagedEmbedding.chunk_id).where(
        StagedEmbedding.chunk_id == MaterialChunk.id, StagedEmbedding.embedding_model == model
    )
    async with database.session_scope() as session:
        pending = (
            await session.execute(
                select(MaterialChunk.id, MaterialChunk.course_id, MaterialChunk.title, MaterialChunk.content)
                .where(
                    or_(MaterialChunk.embedding_model.is_(None), MaterialChunk.embedding_model != model),
                    ~staged.exists(),
                )
                .order_by(MaterialChunk.course_id, MaterialChunk.id)
                .limit(batch_size + 1)
            )
        ).all()
    batch = pending[:batch_size]
    vectors: list[list[float]] = []
    if batch:
        try:
            vectors = await embed_chunks(batch, embedder)
        except (LLMError, MaterialUnreadable) as problem:
            log.warning("Re-embedding with %s failed (%s); the next batch tries again", model, type(problem).__name__)
            return ReembedProgress(0, (), done=False)
    async with database.session_scope() as session:
        if batch:
            await session.execute(
                dialect_insert(session, StagedEmbedding)
                .values(
                    [
                        {
                            "chunk_id": row.id,
                            "embedding_model": model,
                            "course_id": row.course_id,
                            "embedding_dimensions": len(vector),
                            "embedding": vector,
                        }
                        for row, vector in zip(batch, vectors, strict=True)
                    ]
                )
                .on_conflict_do_nothing(index_elements=[StagedEmbedding.chunk_id, StagedEmbedding.embedding_model])
            )
        switched = await _switch_complete_courses(session, model=model)
    return ReembedProgress(len(batch), switched, done=len(pending) <= batch_size)


async def _switch_complete_courses(session: AsyncSession, *, model: str) -> tuple[int, ...]:
    """Courses whose every chunk has a vector of `model`, stored or staged, take their staged vectors."""
    course_ids = list(
        await session.scalars(
            select(StagedEmbedding.course_id).where(StagedEmbedding.embedding_model == model).distinct()
        )
    )
    switched = []
    for course_id in course_ids:
        staged_for = (StagedEmbedding.chunk_id == MaterialChunk.id) & (StagedEmbedding.embedding_model == model)
        missing = await session.scalar(
            select(MaterialChunk.id)
            .where(
                MaterialChunk.course_id == course_id,
                or_(MaterialChunk.embedding_model.is_(None), MaterialChunk.embedding_model != model),
                ~select(StagedEmbedding.chunk_id).where(staged_for).exists(),
            )
            .limit(1)
        )
        if missing is not None:
            continue
        await session.execute(
            update(MaterialChunk)
            .where(MaterialChunk.course_id == course_id, select(StagedEmbedding.chunk_id).where(staged_for).exists())
            .values(
                embedding=select(StagedEmbedding.embedding).where(staged_for).scalar_subquery(),
                embedding_dimensions=select(StagedEmbedding.embedding_dimensions).where(staged_for).scalar_subquery(),
                embedding_model=model,
            )
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            delete(StagedEmbedding).where(
                StagedEmbedding.course_id == course_id, StagedEmbedding.embedding_model == model
            )
        )
        await session.execute(
            update(Material)
            .where(Material.course_id == course_id, Material.indexing_status == IndexingStatus.READY)
            .values(has_embeddings=True)
        )
        switched.append(course_id)
    return tuple(switched)


async def reembed_for_settings(database: Database, settings: Settings) -> ReembedProgress | None:
    """One batch towards the embedding model materials are indexed with now; None when there is none."""
    embedder = await indexing_embedder(database, settings)
    if embedder is None:
        return None
    try:
        return await reembed_batch(database, embedder=embedder, batch_size=settings.tutor.reembed_batch_size)
    finally:
        await close_embedder(embedder)
