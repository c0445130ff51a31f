"""The event loop under heavy work: its longest stall while a big lesson is published and a big material uploaded.

A ticker coroutine wakes every millisecond and records the longest gap between two wake-ups (the max loop lag):
every interaction, heartbeat and button press of the whole process waits at least that long. Measured around

- the publish of a course whose one lesson is `LESSON_MB` MB of Markdown (what `/teach course publish` runs: the
  newest drafts go live, then the publishing hook indexes the lesson for the tutor), and
- the upload of a `MATERIAL_MB` MB Markdown material (`/teach materials upload`: stored and indexed),

each against a floor: the max lag of the same ticker on an idle loop for `IDLE_SECONDS`, in the same run. The heap is
frozen first, as `coursebot run` does, so a full garbage collection of the benchmark's own objects is not counted.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from pathlib import Path

from bench._harness import Figure, fresh_database
from bench.courses import one_lesson_package
from bot.clock import SystemClock
from bot.config import Settings, load_settings
from bot.services import content, courses
from bot.services.coursepack import LessonSpec
from bot.tutor import materials
from db.models import Guild, IndexingStatus, User
from db.session import Database

BENCH = "loop"
GUILD = 1
INSTRUCTOR = 2
LESSON_MB = 10
MATERIAL_MB = 20
IDLE_SECONDS = 2.0
TICK_SECONDS = 0.001
CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SECTION = (
    "## Loops {n}\n\n"
    + "A `for` loop repeats a block once for every item of a sequence; `while` repeats while a condition holds. " * 3
    + "\n\n```python\nfor i in range(10):\n    print(i)\n```\n\n"
)


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    lesson_mb, material_mb = LESSON_MB * scale, MATERIAL_MB * scale
    settings = load_settings(CONFIG)
    for backend in backends:
        async with fresh_database(backend) as database:
            await add_course(database, lesson=markdown_of(lesson_mb))
            gc.collect()
            gc.freeze()
            try:
                floor = await max_lag_during(asyncio.sleep(IDLE_SECONDS))
                publish = await max_lag_during(publish_course(database, settings))
                data = markdown_of(material_mb).encode()
                upload = await max_lag_during(upload_material(database, settings, data))
            finally:
                gc.unfreeze()
        yield Figure(BENCH, backend, "lesson_mb", lesson_mb, "MB")
        yield Figure(BENCH, backend, "material_mb", material_mb, "MB")
        yield Figure(BENCH, backend, "floor_idle_max_lag", round(floor * 1000, 1), "ms")
        for metric, lag in (("lesson_publish_max_lag", publish), ("material_upload_max_lag", upload)):
            yield Figure(BENCH, backend, metric, round(lag * 1000, 1), "ms")
            yield Figure(BENCH, backend, f"{metric}_over_floor", round(lag / floor, 1), "x")


def markdown_of(megabytes: float) -> str:
    """About `megabytes` MB of lesson-like Markdown: headed sections of prose and code."""
    sections = [SECTION.replace("{n}", str(n)) for n in range(int(megabytes * 1_000_000 / len(SECTION)) + 1)]
    return "# A long lesson\n\n" + "".join(sections)


async def max_lag_during(work: Awaitable[object]) -> float:
    """The longest gap (seconds) between wake-ups of a ticker that sleeps `TICK_SECONDS`, while `work` runs."""
    longest = 0.0
    done = False

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(TICK_SECONDS)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    try:
        await work
    finally:
        done = True
        await ticker
    return longest


async def add_course(database: Database, *, lesson: str) -> None:
    """Course BIG with one lesson `lesson`, imported as a draft (publishing it is what is measured)."""
    package = one_lesson_package("BIG", "A big course", LessonSpec(slug="long", title="Long", body=lesson))
    async with database.session_scope() as session:
        session.add(Guild(id=GUILD, name="Bench"))
        session.add(User(id=INSTRUCTOR, display_name="Instructor"))
        await session.flush()
        await content.import_package(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, package=package, publish=False, now=NOW
        )


async def publish_course(database: Database, settings: Settings) -> None:
    async with database.session_scope() as session:
        await courses.set_published(session, guild_id=GUILD, actor_id=INSTRUCTOR, code="BIG", published=True, now=NOW)
    report = await materials.index_published_lessons(
        database, guild_id=GUILD, course_code="BIG", settings=settings, clock=SystemClock()
    )
    assert report.ready == 1, report


async def upload_material(database: Database, settings: Settings, data: bytes) -> None:
    material = await materials.upload_material(
        database,
        guild_id=GUILD,
        course_code="BIG",
        uploader_id=INSTRUCTOR,
        filename="notes.md",
        data=data,
        title=None,
        settings=settings,
        clock=SystemClock(),
    )
    assert material.status is IndexingStatus.READY, material.failure_reason
