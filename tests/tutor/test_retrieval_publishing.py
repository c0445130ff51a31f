"""Every path that publishes a course leaves its lessons indexed, with the in-process embedding model by default."""

from __future__ import annotations

import argparse
import io
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.__main__ import course_import
from bot.app import CourseBot
from bot.clock import FixedClock
from bot.config import Settings
from bot.tutor.embeddings import LOCAL_MODEL
from db.models import MaterialChunk
from db.session import Database
from sandbox import DiscordSandbox
from sandbox.console import Console, first_start

SAMPLE = Path(__file__).resolve().parent.parent.parent / "content" / "python-basics"
GUILD = 42
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def indexed(database: Database) -> list[tuple[str | None, int | None]]:
    """(embedding model, width) of every stored chunk."""
    async with database.session_scope() as session:
        rows = await session.execute(select(MaterialChunk.embedding_model, MaterialChunk.embedding_dimensions))
        return [tuple(row) for row in rows]


async def chunk_count(database: Database) -> int:
    async with database.session_scope() as session:
        return await session.scalar(select(func.count()).select_from(MaterialChunk)) or 0


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


@pytest.fixture
async def sandbox(database: Database, settings: Settings) -> AsyncIterator[DiscordSandbox]:
    started = DiscordSandbox(CourseBot(settings, database=database, clock=FixedClock(START)))
    await started.start()
    try:
        await started.slash("admin setup", user=started.owner, instructor_role=started.instructor_role)
        yield started
        started.assert_no_errors()
    finally:
        await started.close()


async def test_the_cli_import_with_publish_indexes_the_lessons(database: Database, settings: Settings) -> None:
    settings.database.url = database.engine.url.render_as_string(hide_password=False)
    drafts = argparse.Namespace(path=SAMPLE, guild=GUILD, publish=False)
    published = argparse.Namespace(path=SAMPLE, guild=GUILD, publish=True)

    assert await course_import(settings, drafts) == 0
    assert await chunk_count(database) == 0  # drafts are not the tutor's to cite
    assert await course_import(settings, published) == 0

    chunks = await indexed(database)
    assert len(chunks) >= 8 and set(chunks) == {(LOCAL_MODEL, 256)}


async def test_teach_course_publish_indexes_the_lessons(sandbox: DiscordSandbox, database: Database) -> None:
    await sandbox.slash(
        "teach course import",
        user=sandbox.instructor,
        package=sandbox.attachment("python-basics.zip", zip_folder(SAMPLE)),
        publish=False,
    )
    await sandbox.finish_handlers()
    assert await chunk_count(database) == 0

    await sandbox.slash("teach course publish", user=sandbox.instructor, course="PY101")
    await sandbox.finish_handlers()

    assert set(await indexed(database)) == {(LOCAL_MODEL, 256)}


async def test_the_consoles_sample_import_indexes_the_lessons(database: Database, settings: Settings) -> None:
    """The console imports the sample with `/teach course import … publish:true`: this covers that path too."""
    bot = CourseBot(settings, database=database, clock=FixedClock(START))
    started = DiscordSandbox(bot, timeout=30.0)
    await started.start()
    try:
        await first_start(Console(started, acting_as="admin", write=lambda _: None), bot, SAMPLE)
        started.assert_no_errors()
    finally:
        await started.close()

    assert len(await indexed(database)) >= 8
