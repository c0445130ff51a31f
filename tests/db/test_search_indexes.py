"""Search objects the migrations create per backend: present, in sync, and the only drift `alembic check` skips."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from bot.tutor import retrieval
from db import migrate
from db.models import Course, Guild, Material
from db.session import Database
from tests.conftest import on_postgresql_only


async def add_chunk(database: Database, content: str, *, code: str = "PY101") -> tuple[int, int]:
    async with database.session_scope() as session:
        if await session.get(Guild, 1) is None:
            session.add(Guild(id=1, name="School"))
            await session.flush()
        course = Course(guild_id=1, code=code, title="Python")
        session.add(course)
        await session.flush()
        material = Material(course_id=course.id, title="Notes", file_type="text", sha256="0" * 64, size_bytes=1)
        session.add(material)
        await session.flush()
        # Plain SQL: the chunk table's columns depend on the revision the test is at.
        chunk_id = await session.scalar(
            text(
                "INSERT INTO material_chunks (material_id, course_id, chunk_index, content, token_count)"
                " VALUES (:material_id, :course_id, 0, :content, 3) RETURNING id"
            ),
            {"material_id": material.id, "course_id": course.id, "content": content},
        )
        return material.id, chunk_id


async def fts_matches(database: Database, term: str) -> list[int]:
    async with database.session_scope() as session:
        rows = await session.scalars(
            text("SELECT rowid FROM material_chunks_fts WHERE material_chunks_fts MATCH :term"), {"term": term}
        )
        return list(rows)


async def test_sqlite_full_text_index_follows_inserts_updates_and_cascading_deletes(database: Database) -> None:
    if database.backend != "sqlite":
        pytest.skip("FTS5 is SQLite's")
    material_id, chunk_id = await add_chunk(database, "Loops repeat code")
    assert await fts_matches(database, "loop") == [chunk_id]  # porter stemming: loops -> loop

    async with database.session_scope() as session:
        await session.execute(
            text("UPDATE material_chunks SET content = 'Variables name values' WHERE id = :id"), {"id": chunk_id}
        )
    assert await fts_matches(database, "loop") == []
    assert await fts_matches(database, "variable") == [chunk_id]

    async with database.session_scope() as session:
        await session.execute(text("DELETE FROM materials WHERE id = :id"), {"id": material_id})
    assert await fts_matches(database, "variable") == []


async def test_sqlite_full_text_index_knows_the_course_of_each_chunk(database: Database) -> None:
    if database.backend != "sqlite":
        pytest.skip("FTS5 is SQLite's")
    _, first = await add_chunk(database, "Loops repeat code", code="PY101")
    _, second = await add_chunk(database, "Loops and lists", code="PY102")
    async with database.session_scope() as session:
        courses = dict((await session.execute(text("SELECT id, course_id FROM material_chunks"))).all())

    assert await fts_matches(database, f'course_id : "{courses[first]}" AND content : "loop"') == [first]
    assert await fts_matches(database, f'course_id : "{courses[second]}" AND content : "loop"') == [second]


async def test_postgres_has_the_vector_and_full_text_indexes(database: Database) -> None:
    on_postgresql_only(database, "HNSW and GIN are PostgreSQL indexes")
    async with database.session_scope() as session:
        definitions = dict(
            (
                await session.execute(
                    text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'material_chunks'")
                )
            ).all()
        )
    assert (
        "USING hnsw (((embedding)::vector(256)) vector_cosine_ops)"
        in definitions["ix_material_chunks_embedding_hnsw_256"]
    )
    assert "USING gin (content_tsv)" in definitions["ix_material_chunks_content_tsv"]
    async with database.session_scope() as session:
        generated = await session.scalar(
            text(
                "SELECT generation_expression FROM information_schema.columns"
                " WHERE table_name = 'material_chunks' AND column_name = 'content_tsv'"
            )
        )
    assert "to_tsvector('coursebot'::regconfig, content)" in generated


async def chunks_found(database: Database, word: str) -> list[int]:
    """The chunks whose content holds `word`, by the full-text index of the schema as it is now."""
    async with database.session_scope() as session:
        if database.backend == "sqlite":
            query = "SELECT rowid FROM material_chunks_fts WHERE material_chunks_fts MATCH :word ORDER BY rowid"
        else:
            query = (
                "SELECT id FROM material_chunks WHERE to_tsvector('english', content) @@ to_tsquery('english', :word)"
                " ORDER BY id"
            )
        return list(await session.scalars(text(query), {"word": word}))


async def test_migration_0007_indexes_existing_chunks_and_its_downgrade_keeps_them_searchable(
    empty_database_url: URL,
) -> None:
    database = Database.from_url(empty_database_url)
    try:
        await migrate.upgrade(database.engine, "0006")
        _, ours = await add_chunk(database, "Loops repeat code", code="PY101")
        _, theirs = await add_chunk(database, "Loops and lists", code="PY102")
        async with database.session_scope() as session:
            course_id = await session.scalar(text("SELECT course_id FROM material_chunks WHERE id = :id"), {"id": ours})

        await migrate.upgrade(database.engine, "0007")
        await migrate.upgrade(database.engine)  # the search below is today's
        async with database.session_scope() as session:
            found = await retrieval.search(session, course_id=course_id, query="How do loops work?")
        assert [passage.chunk_id for passage in found] == [ours]

        await migrate.downgrade(database.engine, "0006")
        assert await chunks_found(database, "loop") == [ours, theirs]
    finally:
        await database.dispose()


async def test_only_the_search_objects_are_left_out_of_the_drift_check(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE stray_table (id INTEGER PRIMARY KEY)"))
        await connection.execute(text("CREATE INDEX ix_stray_chunks ON material_chunks (page)"))

    drift = (await migrate.status(database.engine)).drift

    assert {(change[0], change[1].name) for change in drift} == {
        ("remove_table", "stray_table"),
        ("remove_index", "ix_stray_chunks"),
    }
