"""Routes prepared ahead of reminders (`delivery.routes_to_prepare`, `delivery.remember_routes`) on both backends:
which students are asked about, in bounded batches read along the index of `next_fire_at`, and what is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select, text

from bot.services import delivery
from db.models import ReminderPreference
from db.session import Database
from tests.conftest import counted_statements
from tests.services.course_fixtures import (
    ALICE,
    BOB,
    CAROL,
    GUILD,
    enroll,
    import_course,
    seed_people,
    set_reminder,
    tiny_package,
)

# Monday 2026-11-23 08:57 UTC: Alice's reminder comes at 09:00, Bob's at 09:02, Carol's at 09:30.
NOW = datetime(2026, 11, 23, 8, 57, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
WEEK = timedelta(days=7)


async def three_reminders(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package())
    for student, at in ((ALICE, "09:00"), (BOB, "09:02"), (CAROL, "09:30")):
        await enroll(database, student, "TINY")
        await set_reminder(database, student, at=at, now=NOW)


async def to_prepare(
    database: Database, *, limit: int = 100, after: tuple[datetime, int] | None = None
) -> delivery.RoutesBatch:
    async with database.session_scope() as session:
        return await delivery.routes_to_prepare(
            session, since=NOW, until=NOW + WINDOW, check_every=WEEK, limit=limit, after=after
        )


async def test_students_with_a_reminder_in_the_window_and_no_route_come_in_bounded_batches(
    database: Database,
) -> None:
    await three_reminders(database)

    first = await to_prepare(database, limit=1)
    second = await to_prepare(database, limit=1, after=first.resume_after)
    last = await to_prepare(database, limit=1, after=second.resume_after)

    unknown = (True, True)  # no DM channel, membership never confirmed
    assert [(route.user_id, route.open_dm, route.check_member) for route in first.routes] == [(ALICE, *unknown)]
    assert [(route.user_id, route.open_dm, route.check_member) for route in second.routes] == [(BOB, *unknown)]
    assert last.routes == [] and last.resume_after is None  # Carol's comes after the window
    assert [route.user_id for route in (await to_prepare(database)).routes] == [ALICE, BOB]


async def test_prepared_routes_are_stored_and_leave_the_query_and_paused_students_never_come(
    database: Database,
) -> None:
    await three_reminders(database)
    prepared = [
        delivery.PreparedRoute(ALICE, GUILD, member_seen=True, dm_channel_id=77),
        delivery.PreparedRoute(BOB, GUILD, left=True),
    ]
    with counted_statements(database) as statements:
        async with database.session_scope() as session:
            paused = await delivery.remember_routes(session, prepared, seen_at=NOW)
    assert paused == [(GUILD, BOB)]
    assert len(statements) == 3  # Bob's pause, every membership, every DM channel

    async with database.session_scope() as session:
        assert await delivery.route(session, user_id=ALICE, guild_id=GUILD) == delivery.Route(77, NOW)
        bob = (await session.execute(select(ReminderPreference).where(ReminderPreference.user_id == BOB))).scalar_one()
        assert (bob.next_fire_at, bob.paused_reason, bob.pause_untold) == (None, delivery.LEFT_REASON, True)
    assert (await to_prepare(database)).routes == []

    # Seen a week less half a minute before her reminder: the check falls due as it leaves, so it is done ahead.
    async with database.session_scope() as session:
        await delivery.remember_member(
            session, user_id=ALICE, guild_id=GUILD, seen_at=NOW + timedelta(minutes=3) - WEEK
        )
    (alice,) = (await to_prepare(database)).routes
    assert (alice.user_id, alice.open_dm, alice.check_member) == (ALICE, False, True)


async def test_the_query_reads_along_the_index_of_next_fire_at(database: Database) -> None:
    await three_reminders(database)
    seen: list[tuple[str, Any]] = []

    def record(_conn: object, _cursor: object, statement: str, parameters: Any, *_: object) -> None:
        seen.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        await to_prepare(database, limit=10)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    statement, parameters = next(found for found in seen if "next_fire_at" in found[0])
    on_postgresql = database.backend == "postgresql"
    async with database.session_scope() as session:
        if on_postgresql:
            await session.execute(text("SET LOCAL enable_seqscan = off"))  # three rows: a scan would win otherwise
        explain = "EXPLAIN" if on_postgresql else "EXPLAIN QUERY PLAN"
        connection = await session.connection()
        explained = " ".join(map(str, await connection.exec_driver_sql(f"{explain} {statement}", parameters)))
    assert "ix_reminder_preferences_next_fire_at" in explained, explained
