"""Find the passages of a course's materials and lessons that best answer a question.

Two rankings of passages are fused by reciprocal rank fusion (each passage scores the sum of 1 / (60 + rank)
over the rankings it appears in), so neither needs calibrated scores:

- keywords, read the way a beginner asks: the question's words less a stop list of question words ("how", "i",
  "my", "why", …) that keeps the words a programming course is about (`if`, `for`, `in`, `not`, `is`, …),
  symbols spelled out (`==`, `%`, `//`, `>>>`: `SYMBOL_WORDS`), and the course's words for a beginner's
  ("capital" brings `upper`: `bot.tutor.vocabulary`). A chunk is found by its text, its heading path
  (`title`, weighted above the text) and its `search_terms` (the symbols it holds, spelled out at indexing).
  PostgreSQL: the `coursebot` text-search configuration (English stemming, no stop list) over the stored, weighted
  `content_tsv`, each word's `ts_rank` (saturating, rank / (rank + 1), as BM25's term frequency does) weighted by
  its inverse document frequency in the course (BM25's IDF), which plain `ts_rank` lacks. SQLite: FTS5's BM25 over
  the same columns, the course filter part of the MATCH. A passage answering part of a question still ranks.
- meaning, when a query embedding is given: only vectors of the query's own model (`embedding_model`; by width
  when no model is named) are compared. PostgreSQL: pgvector cosine distance through the HNSW index of that width
  (migration 0015), with iterative index scans (pgvector ≥ 0.8) so the course filter cannot starve the result;
  SQLite: exact cosine with numpy over the course's vectors.

Lessons are ranked too, so a lesson with one strong section is not beaten by one that mentions the words often: each
passage ranking ranks the lessons by their best passage in it, and the lessons' cards (title and learning
objectives: what a lesson is for, in words its passages may not use) are a third ranking, of lessons only, by BM25
among the cards. A lesson's best passage gains part of its lesson's fused score; its other passages keep their own,
so one lesson does not fill the result.

Passages of the lesson the student has open (`prefer_content_item_id`) get a bonus worth a few ranks, so they lead
when they are about as relevant as the best, and never when they are not found at all.

Only the course's own chunks are ever searched. The question is never parsed as search syntax, so
quotes, operators and other special characters in it are just text.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import ARRAY, JSON, Integer, Text, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.tutor import vocabulary
from db.models import Material, MaterialChunk
from db.models.embeddings import INDEXED_DIMENSIONS
from db.models.tutor import FTS_TABLE, TSV_COLUMN

RRF_K = 60
# Each ranking offers this many candidates per passage asked for, so fusion has overlap to work with.
CANDIDATES_PER_RESULT = 4
# The open lesson's passages score as if ranked this much better in one ranking: ahead of near-ties, not of clear
# winners.
OPEN_LESSON_BONUS = 1 / (RRF_K + 1) - 1 / (RRF_K + 6)
# Each lesson's best passage gains this share of its lesson's fused score (docs/tutor.md, "What was measured").
LESSON_WEIGHT = 0.5
# The lesson cards' ranking counts this much against one passage ranking, in the lessons' fusion.
CARD_WEIGHT = 0.25
# BM25's constants for the lesson cards (the usual ones).
_CARD_K1 = 1.2
_CARD_B = 0.75
_SUFFIXES = ("ing", "ed", "es", "s")

_WORD = re.compile(r"\w+")
# Question words with nothing to say about which lesson answers. Python's keywords and operators in words stay.
_STOP_WORDS_TEXT = """
a about above after again all also am an any are aren't as at be because been before being below between both
but by can cant could did didnt do does doesnt doing dont down during each even ever every few get gets got had
has have having he her here hers him his how i id ill im i've ive into it its itself just let lets like ll make
me mean means more most much my myself need no nor now of off ok okay on once only other our ours out over own
please really s same she should so some such t than thank thanks that thats the their theirs them then there
these they thing things this those though through to too u under until up us use used using very ve want was we
were what whats when where which who whom why will would ya you your yours yourself actually
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
# Symbols beginners paste or ask about, spelled the way lessons name them. Longest first, so `//` is not also `/`.
SYMBOL_WORDS = {
    ">>>": "interactive prompt",
    "**": "power exponent",
    "//": "floor division",
    "==": "equal comparison",
    "!=": "not equal comparison",
    ">=": "comparison",
    "<=": "comparison",
    "+=": "shorthand add",
    "-=": "shorthand subtract",
    "%": "remainder modulo",
}
_SYMBOL = re.compile("|".join(re.escape(symbol) for symbol in SYMBOL_WORDS))
# A lone `=` in a question asks about assignment; in a passage it is everywhere, so it is not spelled out there.
_LONE_EQUALS = re.compile(r"(?<![=!<>+\-*/%])=(?!=)")

_POSTGRES_ITERATIVE_SCAN = text(
    "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true) FROM pg_extension "
    "WHERE extname = 'vector' AND string_to_array(extversion, '.')::int[] >= ARRAY[0, 8]"
)
# Each word's documents are counted inside the course (through the GIN index) to weigh its ts_rank by its IDF.
# MATERIALIZED: counted once per word; inlined, the counts ran again for every chunk a word matched (15 ms, not 1).
_POSTGRES_KEYWORDS_CTE = (
    "terms AS ("
    " SELECT query FROM unnest(:terms) AS term, LATERAL plainto_tsquery('coursebot', term) AS query"
    " WHERE numnode(query) > 0),"
    " weighted AS MATERIALIZED ("
    f" SELECT query, (SELECT count(*) FROM material_chunks AS c WHERE c.course_id = :course_id"
    f" AND c.{TSV_COLUMN} @@ query) AS documents FROM terms),"
    " course_size AS MATERIALIZED (SELECT count(*) AS chunks FROM material_chunks WHERE course_id = :course_id),"
    " keyword AS ("
    " SELECT c.id, sum(ln(1 + (course_size.chunks - w.documents + 0.5) / (w.documents + 0.5))"
    f" * ts_rank(c.{TSV_COLUMN}, w.query, 32)) AS score"
    f" FROM weighted AS w CROSS JOIN course_size JOIN material_chunks AS c"
    f" ON c.course_id = :course_id AND c.{TSV_COLUMN} @@ w.query"
    " WHERE w.documents > 0 GROUP BY c.id ORDER BY score DESC, c.id LIMIT :limit)"
)
_TERMS = bindparam("terms", type_=ARRAY(Text))
_POSTGRES_KEYWORDS = text(f"WITH {_POSTGRES_KEYWORDS_CTE} SELECT id FROM keyword ORDER BY score DESC, id").bindparams(
    _TERMS
)
# The query names the course inside the MATCH (`_sqlite_match`), so FTS5 intersects the course's postings with
# the words' and ranks only the course's matches. BM25 weights by column: content, course_id (none), title,
# search_terms.
_SQLITE_KEYWORDS = text(
    f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :query"
    f" ORDER BY bm25({FTS_TABLE}, 1.0, 0.0, 2.0, 1.0), rowid LIMIT :limit"
)

# The lessons' cards: the newest published revision of each indexed lesson of the course (quizzes are never indexed).
_CARDS_SQL = (
    "SELECT DISTINCT ON (r.item_id) r.item_id, r.title, r.learning_objectives FROM content_revisions AS r"
    " JOIN materials AS m ON m.content_item_id = r.item_id"
    " WHERE m.course_id = :course_id AND r.visibility = 'PUBLISHED' ORDER BY r.item_id, r.version DESC"
)
_CARDS = text(
    "SELECT r.item_id, r.title, r.learning_objectives FROM content_revisions AS r"
    " JOIN materials AS m ON m.content_item_id = r.item_id"
    " WHERE m.course_id = :course_id AND r.visibility = 'PUBLISHED' AND r.version = (SELECT max(newer.version)"
    " FROM content_revisions AS newer WHERE newer.item_id = r.item_id AND newer.visibility = 'PUBLISHED')"
).columns(item_id=Integer, title=Text, learning_objectives=JSON)


@dataclass(frozen=True, slots=True)
class _Card:
    item_id: int
    title: str
    objectives: list[object] | None


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


def search_terms(content: str) -> str:
    """What indexing stores beside a chunk's text: the symbols it holds, spelled out (each once)."""
    found = dict.fromkeys(SYMBOL_WORDS[symbol] for symbol in _SYMBOL.findall(content))
    return " ".join(found)


def query_terms(query: str) -> list[str]:
    """The words of a question that say what it is about: lower case, stop words out, symbols spelled out, then the
    course's words for what it says in a beginner's words."""
    spelled = [SYMBOL_WORDS[symbol] for symbol in _SYMBOL.findall(query)]
    if _LONE_EQUALS.search(_SYMBOL.sub(" ", query)):
        spelled.append("assignment")
    words = [word.lower() for word in _WORD.findall(" ".join([query, *spelled]))] + vocabulary.expansions(query)
    return list(dict.fromkeys(word for word in words if word not in STOP_WORDS))


async def search(
    session: AsyncSession,
    *,
    course_id: int,
    query: str,
    query_embedding: Sequence[float] | None = None,
    embedding_model: str | None = None,
    prefer_content_item_id: int | None = None,
    k: int = 8,
) -> list[Passage]:
    """At most `k` passages of the course for `query`, best first; empty when nothing matches.

    `query_embedding` adds semantic search over the vectors of `embedding_model` (the model that embedded the
    query); with no model named, over the vectors of the query's width. A query whose model has no vectors in the
    course is answered by keywords alone. `prefer_content_item_id`: the lesson the student has open.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    limit = k * CANDIDATES_PER_RESULT
    terms = query_terms(query)
    if query_embedding is not None and not len(query_embedding):
        query_embedding = None
    postgres = session.get_bind().dialect.name == "postgresql"
    rankings: list[list[int]] = []
    cards: list[_Card] | None = None
    if postgres and terms and query_embedding is not None:
        rankings, cards = await _postgres_hybrid_rankings(
            session, course_id=course_id, terms=terms, embedding=query_embedding, model=embedding_model, limit=limit
        )
    else:
        if terms:
            ranker = _postgres_keyword_ranking if postgres else _sqlite_keyword_ranking
            rankings.append(await ranker(session, course_id=course_id, terms=terms, limit=limit))
        if query_embedding is not None:
            ranker = _postgres_vector_ranking if postgres else _sqlite_vector_ranking
            rankings.append(
                await ranker(
                    session, course_id=course_id, embedding=query_embedding, model=embedding_model, limit=limit
                )
            )
    if terms and cards is None:
        cards = [_Card(*row) for row in await session.execute(_CARDS, {"course_id": course_id})]
    lessons = _card_ranking(cards or [], terms)
    return await _passages(session, rankings, lessons, k=k, prefer_content_item_id=prefer_content_item_id)


def fuse(rankings: Sequence[Sequence[int]]) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of rankings of chunk ids: (id, score) pairs, best first, ties by id."""
    scores: defaultdict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] += 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


async def serving_model(session: AsyncSession, *, course_id: int) -> str | None:
    """The embedding model most of the course's vectors come from (the one to embed its questions with); None when
    the course has no vectors."""
    rows = await session.execute(
        select(MaterialChunk.embedding_model, func.count())
        .where(MaterialChunk.course_id == course_id, MaterialChunk.embedding_model.is_not(None))
        .group_by(MaterialChunk.embedding_model)
    )
    counts = Counter({model: count for model, count in rows})
    return max(counts, key=lambda model: (counts[model], model)) if counts else None


def _card_ranking(cards: Sequence[_Card], terms: list[str]) -> list[int]:
    """The lessons (content item ids) whose card, title and learning objectives, holds any of `terms`, best first by
    BM25 among the course's cards. The card says what a lesson is for ("Choose clear, valid variable names"), which
    its passages may never say in so many words."""
    words = {card.item_id: _card_words(card.title, tuple(map(str, card.objectives or ()))) for card in cards}
    if not words:
        return []
    average_length = max(sum(sum(counts.values()) for counts in words.values()) / len(words), 1.0)
    scores: Counter[int] = Counter()
    for term in dict.fromkeys(_stem(term) for term in terms):
        holding = [item_id for item_id, counts in words.items() if term in counts]
        idf = math.log(1 + (len(words) - len(holding) + 0.5) / (len(holding) + 0.5))
        for item_id in holding:
            count = words[item_id][term]
            saturation = _CARD_K1 * (1 - _CARD_B + _CARD_B * sum(words[item_id].values()) / average_length)
            scores[item_id] += idf * count * (_CARD_K1 + 1) / (count + saturation)
    return sorted(scores, key=lambda item_id: (-scores[item_id], item_id))


@functools.lru_cache(maxsize=4096)
def _card_words(title: str, objectives: tuple[str, ...]) -> Counter[str]:
    """A card's words, stemmed, stop words out (cached: cards change rarely and are read on every question)."""
    found = _WORD.findall(" ".join([title, *objectives]).lower())
    return Counter(_stem(word) for word in found if word not in STOP_WORDS)


def _stem(word: str) -> str:
    """The word less one -ing, -ed, -es or -s, so "names" on a card matches "name" in a question."""
    return next(
        (word[: -len(suffix)] for suffix in _SUFFIXES if word.endswith(suffix) and len(word) > len(suffix) + 2), word
    )


async def _postgres_keyword_ranking(
    session: AsyncSession, *, course_id: int, terms: list[str], limit: int
) -> list[int]:
    parameters = {"course_id": course_id, "terms": terms, "limit": limit}
    return list(await session.scalars(_POSTGRES_KEYWORDS, parameters))


async def _sqlite_keyword_ranking(session: AsyncSession, *, course_id: int, terms: list[str], limit: int) -> list[int]:
    query = _sqlite_match(course_id, terms)
    return list(await session.scalars(_SQLITE_KEYWORDS, {"query": query, "limit": limit}))


def _sqlite_match(course_id: int, terms: list[str]) -> str:
    """The FTS5 query: the course's chunks whose text, title or search terms hold any of `terms`.

    Each word is an FTS5 string ("…"), so none is read as an operator, column filter or prefix query, and the
    course id is matched in its own column only, so a number in the question never matches a course id.
    """
    any_word = " OR ".join(f'"{term}"' for term in terms)
    return f'course_id : "{int(course_id)}" AND {{content title search_terms}} : ({any_word})'


def _postgres_nearest_cte(width: int, model: str | None) -> str:
    """Nearest chunks of one width (and model): the partial HNSW index of that width when there is one."""
    vector = f"embedding::vector({width})" if width in INDEXED_DIMENSIONS else "embedding"
    which = "embedding_model = :model" if model is not None else "TRUE"
    return (
        f"nearest AS MATERIALIZED ("
        f" SELECT id, {vector} <=> CAST(:embedding AS vector({width})) AS distance FROM material_chunks"
        f" WHERE course_id = :course_id AND embedding_dimensions = {int(width)} AND {which}"
        f" ORDER BY distance LIMIT :limit)"
    )


def _vector_parameters(course_id: int, embedding: Sequence[float], model: str | None, limit: int) -> dict[str, object]:
    parameters: dict[str, object] = {"embedding": _vector_literal(embedding), "course_id": course_id, "limit": limit}
    if model is not None:
        parameters["model"] = model
    return parameters


async def _postgres_hybrid_rankings(
    session: AsyncSession,
    *,
    course_id: int,
    terms: list[str],
    embedding: Sequence[float],
    model: str | None,
    limit: int,
) -> tuple[list[list[int]], list[_Card]]:
    """Both rankings and the lessons' cards in one round trip: ([keyword ids, nearest ids], cards)."""
    await session.execute(_POSTGRES_ITERATIVE_SCAN)
    statement = text(
        f"WITH {_POSTGRES_KEYWORDS_CTE}, {_postgres_nearest_cte(len(embedding), model)}"
        " SELECT (SELECT coalesce(array_agg(id ORDER BY score DESC, id), '{}') FROM keyword),"
        # Relaxed order may return neighbours slightly out of order: put them back in order.
        " (SELECT coalesce(array_agg(id ORDER BY distance, id), '{}') FROM nearest),"
        f" (SELECT coalesce(json_agg(json_build_array(item_id, title, learning_objectives)), '[]') FROM ({_CARDS_SQL})"
        " AS cards)"
    ).bindparams(_TERMS)
    parameters = {**_vector_parameters(course_id, embedding, model, limit), "terms": terms}
    keyword, nearest, cards = (await session.execute(statement, parameters)).one()
    return [list(keyword), list(nearest)], [_Card(*card) for card in cards]


async def _postgres_vector_ranking(
    session: AsyncSession, *, course_id: int, embedding: Sequence[float], model: str | None, limit: int
) -> list[int]:
    # set_config(..., true) is SET LOCAL: it ends with the caller's transaction.
    await session.execute(_POSTGRES_ITERATIVE_SCAN)
    # Relaxed order may return neighbours slightly out of order: put them back in order.
    statement = text(
        f"WITH {_postgres_nearest_cte(len(embedding), model)} SELECT id FROM nearest ORDER BY distance, id"
    )
    return list(await session.scalars(statement, _vector_parameters(course_id, embedding, model, limit)))


def _vector_literal(embedding: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(value)) for value in embedding) + "]"


async def _sqlite_vector_ranking(
    session: AsyncSession, *, course_id: int, embedding: Sequence[float], model: str | None, limit: int
) -> list[int]:
    same_vectors = [
        MaterialChunk.course_id == course_id,
        MaterialChunk.embedding.is_not(None),
        MaterialChunk.embedding_dimensions == len(embedding),
    ]
    if model is not None:
        same_vectors.append(MaterialChunk.embedding_model == model)
    rows = (await session.execute(select(MaterialChunk.id, MaterialChunk.embedding).where(*same_vectors))).all()
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


async def _passages(
    session: AsyncSession,
    rankings: list[list[int]],
    cards: list[int],
    *,
    k: int,
    prefer_content_item_id: int | None,
) -> list[Passage]:
    """The best `k` candidates as passages.

    Passages are fused by rank (`fuse`); so are lessons (an uploaded material counts as one): each passage ranking
    also ranks the lessons by their best passage in it, and the cards rank lessons by what they are for. A lesson's
    best passage (only that one, so one lesson does not fill the list) gains `LESSON_WEIGHT` of its lesson's score,
    the open lesson's passages their bonus.
    """
    candidates = list(dict.fromkeys(chunk_id for ranking in rankings for chunk_id in ranking))
    if not candidates:
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
        .where(MaterialChunk.id.in_(candidates))
    )
    found = {row.id: row for row in rows}
    # A chunk re-indexed away by another transaction between the queries is left out.
    rankings = [[chunk_id for chunk_id in ranking if chunk_id in found] for ranking in rankings]
    material_of_lesson = {row.content_item_id: row.material_id for row in found.values()}
    lesson_scores = Counter(
        dict(fuse([list(dict.fromkeys(found[chunk_id].material_id for chunk_id in ranking)) for ranking in rankings]))
    )
    card_ranking = [material_of_lesson[item_id] for item_id in cards if item_id in material_of_lesson]
    for material_id, score in fuse([card_ranking]):
        lesson_scores[material_id] += CARD_WEIGHT * score
    scored: list[tuple[int, float]] = []
    lessons_seen: set[int] = set()
    for chunk_id, score in fuse(rankings):
        row = found[chunk_id]
        if row.material_id not in lessons_seen:
            lessons_seen.add(row.material_id)
            score += LESSON_WEIGHT * lesson_scores[row.material_id]
        if prefer_content_item_id is not None and row.content_item_id == prefer_content_item_id:
            score += OPEN_LESSON_BONUS
        scored.append((chunk_id, score))
    scored.sort(key=lambda item: (-item[1], item[0]))
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
        for chunk_id, score in scored[:k]
        for row in [found[chunk_id]]
    ]
