"""Find the passages of a course's materials and lessons that best answer a question.

Two rankings are fused by reciprocal rank fusion (each passage scores the sum of 1 / (60 + rank)
over the rankings it appears in), so neither needs calibrated scores:

- keywords: PostgreSQL full-text search (`websearch_to_tsquery`, ranked by `ts_rank`, through the
  GIN index on the stored `content_tsv = to_tsvector('english', content)`); SQLite FTS5 ranked by BM25,
  the course filter part of the MATCH. Both stem English and match any of the question's words, so a
  passage answering part of a question still ranks.
- meaning, when a query embedding is given: PostgreSQL pgvector cosine distance through the HNSW
  index, with iterative index scans (pgvector ≥ 0.8) so the course filter cannot starve the result;
  SQLite exact cosine with numpy over the course's embeddings.

Only the course's own chunks are ever searched. The question is never parsed as search syntax, so
quotes, operators and other special characters in it are just text.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Material, MaterialChunk
from db.models.tutor import EMBEDDING_DIMENSIONS, FTS_TABLE, TSV_COLUMN

log = logging.getLogger(__name__)

RRF_K = 60
# Each ranking offers this many candidates per passage asked for, so fusion has overlap to work with.
CANDIDATES_PER_RESULT = 4

_WORD = re.compile(r"\w+")

_POSTGRES_ITERATIVE_SCAN = text(
    "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true) FROM pg_extension "
    "WHERE extname = 'vector' AND string_to_array(extversion, '.')::int[] >= ARRAY[0, 8]"
)
# Relaxed order may return neighbours slightly out of order; the materialized CTE puts them back in order.
_POSTGRES_NEAREST_CTE = (
    "nearest AS MATERIALIZED ("
    " SELECT id, embedding <=> CAST(:embedding AS vector) AS distance FROM material_chunks"
    " WHERE course_id = :course_id AND embedding IS NOT NULL ORDER BY distance LIMIT :limit)"
)
# The stored tsvector (migration 0007) is what the GIN index covers, and ranking reads it instead of parsing
# every matching chunk again.
_POSTGRES_KEYWORDS_CTE = (
    f"keyword AS ("
    f" SELECT id, ts_rank({TSV_COLUMN}, websearch_to_tsquery('english', :query)) AS score FROM material_chunks"
    f" WHERE course_id = :course_id AND {TSV_COLUMN} @@ websearch_to_tsquery('english', :query)"
    f" ORDER BY score DESC, id LIMIT :limit)"
)
_EMBEDDING = bindparam("embedding", type_=Vector(EMBEDDING_DIMENSIONS))
_POSTGRES_NEAREST = text(f"WITH {_POSTGRES_NEAREST_CTE} SELECT id FROM nearest ORDER BY distance, id").bindparams(
    _EMBEDDING
)
_POSTGRES_KEYWORDS = text(f"WITH {_POSTGRES_KEYWORDS_CTE} SELECT id FROM keyword ORDER BY score DESC, id")
# Both rankings in one round trip: (keyword ids, nearest ids), each best first.
_POSTGRES_HYBRID = text(
    f"WITH {_POSTGRES_KEYWORDS_CTE}, {_POSTGRES_NEAREST_CTE}"
    " SELECT (SELECT coalesce(array_agg(id ORDER BY score DESC, id), '{}') FROM keyword),"
    " (SELECT coalesce(array_agg(id ORDER BY distance, id), '{}') FROM nearest)"
).bindparams(_EMBEDDING)
# The query names the course inside the MATCH (`_sqlite_match`), so FTS5 intersects the course's postings with
# the words' and ranks only the course's matches. The course_id column weighs 0: BM25 scores the content alone.
_SQLITE_KEYWORDS = text(
    f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :query"
    f" ORDER BY bm25({FTS_TABLE}, 1.0, 0.0), rowid LIMIT :limit"
)


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk found for a question, best first in a result. `score` is its fused rank score (higher is better)."""

    chunk_id: int
    material_id: int
    content_item_id: int | None  # set when the passage is from a lesson
    title: str  # the heading path inside the material, else the material's title
    page: int | None
    content: str
    score: float


async def search(
    session: AsyncSession, *, course_id: int, query: str, query_embedding: Sequence[float] | None = None, k: int = 8
) -> list[Passage]:
    """At most `k` passages of the course for `query`, best first; empty when nothing matches.

    `query_embedding` (from the same embedding model as the materials) adds semantic search. One of
    another width than the schema's is ignored with a warning: keywords alone still answer.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    limit = k * CANDIDATES_PER_RESULT
    words = _WORD.findall(query)
    if query_embedding is not None and len(query_embedding) != EMBEDDING_DIMENSIONS:
        log.warning(
            "Query embedding has %d dimensions, the schema %d: searching by keywords only",
            len(query_embedding),
            EMBEDDING_DIMENSIONS,
        )
        query_embedding = None
    postgres = session.get_bind().dialect.name == "postgresql"
    rankings: list[list[int]] = []
    if postgres and words and query_embedding is not None:
        # One round trip for both rankings.
        rankings = await _postgres_hybrid_rankings(
            session, course_id=course_id, words=words, embedding=query_embedding, limit=limit
        )
    else:
        if words:
            ranker = _postgres_keyword_ranking if postgres else _sqlite_keyword_ranking
            rankings.append(await ranker(session, course_id=course_id, words=words, limit=limit))
        if query_embedding is not None:
            ranker = _postgres_vector_ranking if postgres else _sqlite_vector_ranking
            rankings.append(await ranker(session, course_id=course_id, embedding=query_embedding, limit=limit))
    return await _passages(session, fuse(rankings)[:k])


def fuse(rankings: Sequence[Sequence[int]]) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of rankings of chunk ids: (id, score) pairs, best first, ties by id."""
    scores: defaultdict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] += 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


async def _postgres_keyword_ranking(
    session: AsyncSession, *, course_id: int, words: list[str], limit: int
) -> list[int]:
    # websearch_to_tsquery reads "or" as OR; the words themselves cannot carry syntax.
    query = " or ".join(words)
    return list(await session.scalars(_POSTGRES_KEYWORDS, {"course_id": course_id, "query": query, "limit": limit}))


async def _postgres_hybrid_rankings(
    session: AsyncSession, *, course_id: int, words: list[str], embedding: Sequence[float], limit: int
) -> list[list[int]]:
    await session.execute(_POSTGRES_ITERATIVE_SCAN)
    parameters = {"query": " or ".join(words), "embedding": list(embedding), "course_id": course_id, "limit": limit}
    keyword, nearest = (await session.execute(_POSTGRES_HYBRID, parameters)).one()
    return [list(keyword), list(nearest)]


async def _sqlite_keyword_ranking(session: AsyncSession, *, course_id: int, words: list[str], limit: int) -> list[int]:
    query = _sqlite_match(course_id, words)
    return list(await session.scalars(_SQLITE_KEYWORDS, {"query": query, "limit": limit}))


def _sqlite_match(course_id: int, words: list[str]) -> str:
    """The FTS5 query: the course's chunks whose content holds any of `words`.

    Each word is an FTS5 string ("…"), so none is read as an operator, column filter or prefix query, and the
    words are matched in `content` only, so a number in the question never matches a course id.
    """
    any_word = " OR ".join(f'"{word}"' for word in words)
    return f'course_id : "{int(course_id)}" AND content : ({any_word})'


async def _postgres_vector_ranking(
    session: AsyncSession, *, course_id: int, embedding: Sequence[float], limit: int
) -> list[int]:
    # set_config(..., true) is SET LOCAL: it ends with the caller's transaction.
    await session.execute(_POSTGRES_ITERATIVE_SCAN)
    parameters = {"embedding": list(embedding), "course_id": course_id, "limit": limit}
    return list(await session.scalars(_POSTGRES_NEAREST, parameters))


async def _sqlite_vector_ranking(
    session: AsyncSession, *, course_id: int, embedding: Sequence[float], limit: int
) -> list[int]:
    rows = (
        await session.execute(
            select(MaterialChunk.id, MaterialChunk.embedding).where(
                MaterialChunk.course_id == course_id, MaterialChunk.embedding.is_not(None)
            )
        )
    ).all()
    if not rows:
        return []
    ids = np.array([row.id for row in rows])
    matrix = np.asarray([row.embedding for row in rows], dtype=np.float32)
    query = np.asarray(embedding, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    similarity = np.divide(matrix @ query, norms, out=np.zeros(len(rows), dtype=np.float32), where=norms > 0)
    # Stable sort on (-similarity, id): ties resolve the same way as the id tie-break on PostgreSQL.
    order = np.lexsort((ids, -similarity))[:limit]
    return [int(chunk_id) for chunk_id in ids[order]]


async def _passages(session: AsyncSession, ranked: list[tuple[int, float]]) -> list[Passage]:
    if not ranked:
        return []
    rows = await session.execute(
        select(
            MaterialChunk.id,
            MaterialChunk.material_id,
            Material.content_item_id,
            MaterialChunk.title,
            Material.title.label("material_title"),
            MaterialChunk.page,
            MaterialChunk.content,
        )
        .join(Material, Material.id == MaterialChunk.material_id)
        .where(MaterialChunk.id.in_([chunk_id for chunk_id, _ in ranked]))
    )
    found = {row.id: row for row in rows}
    return [
        Passage(
            chunk_id=chunk_id,
            material_id=row.material_id,
            content_item_id=row.content_item_id,
            title=row.title or row.material_title,
            page=row.page,
            content=row.content,
            score=score,
        )
        for chunk_id, score in ranked
        # A chunk re-indexed away by another transaction between the two queries is skipped.
        if (row := found.get(chunk_id)) is not None
    ]
