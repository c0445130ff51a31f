"""The event loop keeps ticking while big lessons and materials are indexed: the heavy work runs off the loop."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable
from typing import TypeVar

from bot.tutor import materials
from db.models import IndexingStatus
from db.session import Database
from tests.tutor.conftest import INSTRUCTOR, CourseRows

T = TypeVar("T")

MAX_LAG_SECONDS = 0.1
SECTION = (
    "## Loops {n}\n\n"
    + "A `for` loop repeats a block once for every item of a sequence; `while` repeats while a condition holds. " * 3
    + "\n\n```python\nfor i in range(10):\n    print(i)\n```\n\n"
)


def markdown_of(megabytes: float) -> str:
    """About `megabytes` MB of lesson-like Markdown: headed sections of prose and code."""
    sections = [SECTION.replace("{n}", str(n)) for n in range(int(megabytes * 1_000_000 / len(SECTION)) + 1)]
    return "# A long lesson\n\n" + "".join(sections)


async def with_max_lag(work: Awaitable[T]) -> tuple[T, float]:
    """`work`'s result, and the longest the event loop's thread stayed busy (seconds) between two turns of a 1 ms
    ticker while it ran.

    CPU time of the loop's thread, not wall time: on a shared machine a wall-clock gap also holds the time the OS
    gave the CPU to other processes (`python -m bench loop` reports the wall-clock lag against an idle floor).
    The heap is frozen first, as `coursebot run` does (`CourseBot(freeze_heap=True)`): otherwise a full garbage
    collection of the test process's heap (a fifth of a second here) is what gets measured.
    """
    longest, done = 0.0, False

    async def tick() -> None:
        nonlocal longest
        last = time.thread_time()  # this thread's CPU time: the ticker runs on the loop's thread
        while not done:
            await asyncio.sleep(0.001)
            now = time.thread_time()
            longest, last = max(longest, now - last), now

    gc.collect()
    gc.freeze()
    ticker = asyncio.create_task(tick())
    try:
        await asyncio.sleep(0)
        result = await work
    finally:
        done = True
        await ticker
        gc.unfreeze()
    return result, longest


async def test_uploading_a_big_material_does_not_stall_the_loop(database: Database, course: CourseRows) -> None:
    data = markdown_of(4).encode()

    material, lag = await with_max_lag(
        materials.ingest(database, course_id=course.id, uploader_id=INSTRUCTOR, filename="long.md", data=data)
    )

    assert material.status is IndexingStatus.READY
    assert lag <= MAX_LAG_SECONDS, f"the loop was busy for {lag * 1000:.0f} ms"


async def test_indexing_a_big_published_lesson_does_not_stall_the_loop(database: Database, course: CourseRows) -> None:
    markdown = markdown_of(3)

    record, lag = await with_max_lag(
        materials.index_lesson(
            database, course_id=course.id, content_item_id=course.lesson_ids[0], title="Long", markdown=markdown
        )
    )

    assert record.status is IndexingStatus.READY
    assert lag <= MAX_LAG_SECONDS, f"the loop was busy for {lag * 1000:.0f} ms"
