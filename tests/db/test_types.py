"""The portable column types return on both backends exactly what was stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import StatementError

from db.base import Embedding, UTCDateTime
from db.models import AuditLog, Guild, User
from db.session import Database
from tests.conftest import on_postgresql_only

GUILD = 900_000_000_000_000_001  # a real-sized snowflake: needs 64 bits


async def test_aware_datetimes_come_back_aware_and_in_utc(database: Database) -> None:
    paris_evening = datetime(2026, 3, 29, 23, 30, tzinfo=timezone(timedelta(hours=2)))
    async with database.session_scope() as session:
        session.add(User(id=1, display_name="Ada", last_active_at=paris_evening))
    async with database.session_scope() as session:
        stored = await session.scalar(select(User.last_active_at).where(User.id == 1))
    assert stored == paris_evening
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored.hour == 21


async def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with database.session_scope() as session:
            session.add(User(id=1, display_name="Ada", last_active_at=datetime(2026, 1, 1)))


async def test_server_default_timestamps_are_aware(database: Database) -> None:
    async with database.session_scope() as session:
        await session.execute(
            text("INSERT INTO guilds (id, name, locale, time_zone, settings) VALUES (1, 'g', 'en', 'UTC', '{}')")
        )
    async with database.session_scope() as session:
        created = await session.scalar(select(Guild.created_at))
    assert created.tzinfo is not None
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)


async def test_json_and_snowflakes_round_trip(database: Database) -> None:
    settings_value = {"roles": {"instructor": GUILD}, "channels": [1, 2], "name": "Ünïcode ✓", "on": True, "x": None}
    async with database.session_scope() as session:
        session.add(Guild(id=GUILD, name="Big", settings=settings_value))
        session.add(AuditLog(guild_id=GUILD, actor_id=GUILD, action="setup", target_type="guild", target_ids=[GUILD]))
    async with database.session_scope() as session:
        guild = await session.get(Guild, GUILD)
        audit = await session.scalar(select(AuditLog))
    assert guild is not None and guild.settings == settings_value
    assert audit is not None and audit.target_ids == [GUILD]


def embedding_table(dimensions: int) -> Table:
    return Table(
        "probe_embeddings", MetaData(), Column("id", Integer, primary_key=True), Column("v", Embedding(dimensions))
    )


async def test_embeddings_round_trip_as_float32(database: Database) -> None:
    table = embedding_table(4)
    async with database.engine.begin() as connection:
        await connection.run_sync(table.create)
        await connection.execute(insert(table), [{"id": 1, "v": [0.1, -2.5, 3e-8, 1e6]}])
        stored = await connection.scalar(select(table.c.v))
    assert stored == pytest.approx(np.asarray([0.1, -2.5, 3e-8, 1e6], dtype=np.float32).tolist())


async def test_embeddings_of_the_wrong_size_are_refused(database: Database) -> None:
    table = embedding_table(4)
    async with database.engine.begin() as connection:
        await connection.run_sync(table.create)
        with pytest.raises(StatementError, match="expected"):
            await connection.execute(insert(table), [{"id": 1, "v": [1.0, 2.0]}])


async def test_pgvector_cosine_order_matches_numpy(database: Database) -> None:
    on_postgresql_only(database, "the <=> operator is pgvector's")
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(50, 16)).astype(np.float32)
    query = rng.normal(size=16).astype(np.float32)
    table = embedding_table(16)
    async with database.engine.begin() as connection:
        await connection.run_sync(table.create)
        await connection.execute(insert(table), [{"id": i, "v": v} for i, v in enumerate(vectors)])
        rows = await connection.execute(
            text("SELECT id FROM probe_embeddings ORDER BY v <=> CAST(:q AS vector) LIMIT 10"),
            {"q": "[" + ",".join(str(float(x)) for x in query) + "]"},
        )
        by_pgvector = [row.id for row in rows]
    cosine = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    assert by_pgvector == list(np.argsort(-cosine)[:10])


@settings(max_examples=30, deadline=None)
@given(st.datetimes(timezones=st.timezones(), min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)))
def test_utc_datetime_binding_keeps_the_instant(moment: datetime) -> None:
    column_type = UTCDateTime()
    bound = column_type.process_bind_param(moment, None)  # type: ignore[arg-type]
    # Compare instants: aware datetimes in an ambiguous (DST fold) hour never compare equal across zones.
    assert bound.timestamp() == moment.timestamp() and bound.utcoffset() == timedelta(0)
    restored = column_type.process_result_value(bound.replace(tzinfo=None), None)  # type: ignore[arg-type]
    assert restored.timestamp() == moment.timestamp()
