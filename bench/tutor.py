"""The tutor at scale: retrieval over many chunks, and how much of a class's tutoring the answer cache absorbs.

- PostgreSQL: `retrieval.search` over `CHUNKS` chunks of 1536-dimension embeddings spread over `COURSES` courses
  (the course filter keeps 1 in 10): p50/p99 of a vector-only search (HNSW with iterative scans) and of the
  hybrid search the tutor runs (vector + full text, fused), recall@10 of the vector search against exact
  search, and the time to build the HNSW index. Vectors are clustered and normalised (random unit vectors
  would all be equally far apart); each query is a perturbed chunk vector of the course it searches.
- SQLite: the FTS5 (BM25) per-course search over as many chunks, p50/p99.
- Both: the service time of a cache-hit reply (a student takes a branch another student took before: the
  message is recorded, the cached answer replayed and stored, no model call), and a class of `STUDENTS`
  students each opening a tutor session on the same lesson and following guided branches (some students
  ask free-form questions instead, which leave the cache): the share of answers served without a model call.

The model is the project's OpenAI-compatible test server (`tests/fakes/openai_server.py`), over real HTTP.
Every figure names the scale it was measured at (`chunks`, `students`): `--scale 0.1` runs 10k chunks.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector
from sqlalchemy import insert, select

from bench._harness import Figure, fresh_database, latency_figures, pk_read_floor
from bench.courses import one_lesson_package
from bot.clock import SystemClock
from bot.config import Settings, load_settings
from bot.services import content
from bot.services.coursepack import LessonSpec
from bot.tutor import retrieval
from bot.tutor.materials import index_published_lessons
from bot.tutor.turn import Turn
from bot.tutor.tutor import SessionPlan, Tutor
from db.models import ContentItem, Course, Guild, Material, MaterialChunk, User
from db.models.tutor import EMBEDDING_DIMENSIONS
from db.session import Database
from tests.fakes.openai_server import FakeOpenAIServer

BENCH = "tutor"
GUILD = 1
CHUNKS = 100_000
COURSES = 10
CLUSTERS_PER_COURSE = 200
SPREAD = 0.6  # how far a chunk sits from its cluster's centre (the centres are unit vectors)
QUERY_NOISE = 0.3
QUERIES = 200
STUDENTS = 200
BRANCHES = ("Show me an example", "Explain it another way", "What are common mistakes?")
BRANCH_WEIGHTS = (0.6, 0.3, 0.1)
DEPTH = 3  # branches taken after the greeting
FREE_FORM_CHANCE = 0.1  # per turn: the student types a question of their own instead
HIT_SAMPLES = 100
WORDS = [f"{stem}{n}" for stem in ("loop", "value", "list", "string", "function", "class") for n in range(500)]
CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    chunks = max(2_000, int(CHUNKS * scale))
    queries = max(50, int(QUERIES * min(scale, 1.0)))
    students = max(20, int(STUDENTS * scale))
    for backend in backends:
        async with fresh_database(backend) as database:
            yield Figure(BENCH, backend, "chunks", chunks, "chunks")
            if backend == "postgres":
                async for figure in vector_search(database, chunks=chunks, queries=queries):
                    yield figure
            else:
                async for figure in keyword_search(database, chunks=chunks, queries=queries):
                    yield figure
            async with FakeOpenAIServer() as server:
                async for figure in class_simulation(database, backend, server, students=students):
                    yield figure


# -- retrieval -----------------------------------------------------------------------------------------------


async def add_courses(database: Database) -> list[tuple[int, int]]:
    """COURSES courses, each with one material to hang chunks on: (course id, material id) pairs."""
    async with database.session_scope() as session:
        session.add(Guild(id=GUILD, name="Bench"))
        await session.flush()
        courses = [Course(guild_id=GUILD, code=f"R{n}", title=f"Retrieval {n}") for n in range(COURSES)]
        session.add_all(courses)
        await session.flush()
        materials = [
            Material(course_id=course.id, title=f"Notes {n}", file_type="text", sha256=f"{n:064x}", size_bytes=1)
            for n, course in enumerate(courses)
        ]
        session.add_all(materials)
        await session.flush()
        return [(course.id, material.id) for course, material in zip(courses, materials, strict=True)]


def words_for(rng: random.Random, count: int = 40) -> str:
    return " ".join(rng.choices(WORDS, k=count))


def clustered_vectors(rng: np.random.Generator, count: int, courses: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` unit vectors in clusters, and the course (0..courses-1) of each; a course's clusters are its own."""
    centres = rng.standard_normal((courses * CLUSTERS_PER_COURSE, EMBEDDING_DIMENSIONS), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    cluster = rng.integers(0, len(centres), size=count)
    noise = rng.standard_normal((count, EMBEDDING_DIMENSIONS), dtype=np.float32)
    vectors = centres[cluster] + noise * np.float32(SPREAD / np.sqrt(EMBEDDING_DIMENSIONS))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, cluster // CLUSTERS_PER_COURSE


async def vector_search(database: Database, *, chunks: int, queries: int) -> AsyncIterator[Figure]:
    places = await add_courses(database)
    vectors, course_of = clustered_vectors(np.random.default_rng(11), chunks, len(places))
    words = random.Random(11)
    dsn = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await register_vector(connection)
        hnsw = await connection.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_material_chunks_embedding_hnsw_1536'"
        )
        full_text = await connection.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_material_chunks_content_tsv'"
        )
        # Bulk load without the indexes, then build them once: far faster than growing them row by row.
        await connection.execute("DROP INDEX ix_material_chunks_embedding_hnsw_1536")
        await connection.execute("DROP INDEX ix_material_chunks_content_tsv")
        records = [
            (places[course][1], places[course][0], n, words_for(words), None, None, 40, vectors[n], "bench", 1536)
            for n, course in enumerate(course_of.tolist())
        ]
        started = time.perf_counter()
        await connection.copy_records_to_table(
            "material_chunks",
            records=records,
            columns=[
                *("material_id", "course_id", "chunk_index", "content", "title", "page", "token_count"),
                *("embedding", "embedding_model", "embedding_dimensions"),
            ],
        )
        yield Figure(BENCH, "postgres", "copy_load", round(time.perf_counter() - started, 1), "s")
        await connection.execute("SET maintenance_work_mem = '2GB'")
        await connection.execute("SET max_parallel_maintenance_workers = 1")
        started = time.perf_counter()
        await connection.execute(hnsw)
        yield Figure(BENCH, "postgres", "hnsw_build", round(time.perf_counter() - started, 1), "s")
        await connection.execute(full_text)
        await connection.execute("ANALYZE material_chunks")
        ids = np.asarray([row["id"] for row in await connection.fetch("SELECT id FROM material_chunks ORDER BY id")])
    finally:
        await connection.close()

    rng = np.random.default_rng(12)
    vector_latencies, hybrid_latencies, recalls = [], [], []
    for sample in rng.integers(0, chunks, size=queries).tolist():
        course = int(course_of[sample])
        query = vectors[sample] + rng.standard_normal(EMBEDDING_DIMENSIONS, dtype=np.float32) * np.float32(
            QUERY_NOISE / np.sqrt(EMBEDDING_DIMENSIONS)
        )
        query /= np.linalg.norm(query)
        in_course = np.flatnonzero(course_of == course)
        exact = set(ids[in_course[np.argsort(-(vectors[in_course] @ query))[:10]]].tolist())
        started = time.perf_counter()
        async with database.session_scope() as session:
            found = await retrieval.search(
                session, course_id=places[course][0], query="", query_embedding=query.tolist(), k=10
            )
        vector_latencies.append(time.perf_counter() - started)
        recalls.append(len(exact & {passage.chunk_id for passage in found}) / 10)
        started = time.perf_counter()
        async with database.session_scope() as session:
            await retrieval.search(
                session, course_id=places[course][0], query=words_for(words, 4), query_embedding=query.tolist(), k=8
            )
        hybrid_latencies.append(time.perf_counter() - started)
    floor = await pk_read_floor(database)
    for name, samples in (("vector_search", vector_latencies), ("hybrid_search", hybrid_latencies)):
        for figure in latency_figures(BENCH, "postgres", name, samples, floor):
            yield figure
    yield Figure(BENCH, "postgres", "vector_recall_at_10", round(float(np.mean(recalls)), 3), "ratio")


async def keyword_search(database: Database, *, chunks: int, queries: int) -> AsyncIterator[Figure]:
    places = await add_courses(database)
    rng = random.Random(21)
    started = time.perf_counter()
    for start in range(0, chunks, 5_000):
        rows = []
        for n in range(start, min(chunks, start + 5_000)):
            course_id, material_id = places[n % len(places)]
            rows.append(
                {
                    "material_id": material_id,
                    "course_id": course_id,
                    "chunk_index": n,
                    "content": words_for(rng),
                    "token_count": 40,
                }
            )
        async with database.session_scope() as session:
            await session.execute(insert(MaterialChunk), rows)
    yield Figure(BENCH, "sqlite", "insert_with_fts", round(time.perf_counter() - started, 1), "s")
    latencies = []
    for _ in range(queries):
        course_id, _ = rng.choice(places)
        started = time.perf_counter()
        async with database.session_scope() as session:
            await retrieval.search(session, course_id=course_id, query=words_for(rng, 4), k=8)
        latencies.append(time.perf_counter() - started)
    for figure in latency_figures(BENCH, "sqlite", "fts_search", latencies, await pk_read_floor(database)):
        yield figure


# -- the answer cache ----------------------------------------------------------------------------------------


def bench_settings(server: FakeOpenAIServer) -> Settings:
    settings = load_settings(CONFIG)
    settings.llm.base_url = server.base_url
    settings.llm.chat_model = "bench-chat"
    settings.tutor.max_open_threads = 1000
    settings.tutor.daily_token_budget = 10**12
    return settings


async def lesson_to_tutor(database: Database, settings: Settings) -> SessionPlan:
    """A published, indexed one-lesson course; the plan every student's session follows."""
    body = "# Loops\n\n" + "\n\n".join(f"## Part {n}\n\n" + words_for(random.Random(n), 120) for n in range(6))
    package = one_lesson_package("TUTOR1", "Tutored course", LessonSpec(slug="loops", title="Loops", body=body))
    async with database.session_scope() as session:
        if await session.get(Guild, GUILD) is None:
            session.add(Guild(id=GUILD, name="Bench"))
            await session.flush()
        await content.import_package(session, guild_id=GUILD, actor_id=1, package=package, publish=True, now=NOW)
        course_id = await session.scalar(select(Course.id).where(Course.code == "TUTOR1"))
        item_id = await session.scalar(select(ContentItem.id).where(ContentItem.slug == "loops"))
    assert course_id is not None and item_id is not None
    await index_published_lessons(
        database, guild_id=GUILD, course_code="TUTOR1", settings=settings, clock=SystemClock()
    )
    return SessionPlan(GUILD, 0, course_id, "TUTOR1", item_id, "Loops", existing=None)  # user_id: per student


async def take_turns(service: Tutor, plan: SessionPlan, student: int, rng: random.Random) -> tuple[int, int]:
    """One student's session: the greeting, then up to DEPTH branches (or a free-form question, which ends the
    guided path). Returns (answers, answers served from the cache)."""
    session = await service.open_session(replace(plan, user_id=student), thread_id=student)
    turn = await service.greet(thread_id=session.thread_id)
    answer = await finish(turn)
    answers, cached = 1, int(turn.cached)
    for _ in range(DEPTH):
        if rng.random() < FREE_FORM_CHANCE:
            turn = await service.answer(thread_id=session.thread_id, user_id=student, text=f"Question {rng.random()}")
            await finish(turn)
            return answers + 1, cached + int(turn.cached)
        option = rng.choices(BRANCHES, weights=BRANCH_WEIGHTS)[0]
        turn = await service.take_branch(thread_id=session.thread_id, user_id=student, answer_id=answer, option=option)
        answer = await finish(turn)
        answers, cached = answers + 1, cached + int(turn.cached)
    return answers, cached


async def finish(turn: Turn) -> int:
    async for _ in turn.deltas():
        pass
    return (await turn.finish()).id


async def class_simulation(
    database: Database, backend: str, server: FakeOpenAIServer, *, students: int
) -> AsyncIterator[Figure]:
    settings = bench_settings(server)
    plan = await lesson_to_tutor(database, settings)
    first_student = 1_000
    async with database.session_scope() as session:
        await session.execute(
            insert(User),
            [
                {"id": first_student + n, "display_name": f"s{n}", "preferences": {}}
                for n in range(students + HIT_SAMPLES)
            ],
        )
    service = Tutor(database, settings, SystemClock())
    try:
        rng = random.Random(31)
        limit = asyncio.Semaphore(20)  # students working at the same time

        async def student(number: int) -> tuple[int, int]:
            async with limit:
                return await take_turns(service, plan, first_student + number, random.Random(rng.random()))

        results = await asyncio.gather(*(student(n) for n in range(students)))
        answers, cached = sum(a for a, _ in results), sum(c for _, c in results)
        yield Figure(BENCH, backend, "class_students", students, "students")
        yield Figure(BENCH, backend, "class_answers", answers, "answers")
        yield Figure(BENCH, backend, "class_llm_calls", len(server.requests), "calls")
        yield Figure(BENCH, backend, "class_cache_share", round(100 * cached / answers, 1), "%")

        latencies = []
        for number in range(students, students + HIT_SAMPLES):
            user = first_student + number
            session = await service.open_session(replace(plan, user_id=user), thread_id=user)
            greeting = await finish(await service.greet(thread_id=session.thread_id))
            started = time.perf_counter()
            turn = await service.take_branch(
                thread_id=session.thread_id, user_id=user, answer_id=greeting, option=BRANCHES[0]
            )
            await finish(turn)
            latencies.append(time.perf_counter() - started)
            assert turn.cached
        for figure in latency_figures(BENCH, backend, "cache_hit_reply", latencies, await pk_read_floor(database)):
            yield figure
    finally:
        await service.aclose()
