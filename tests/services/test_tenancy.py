"""Guilds and users appear on first sight; configuration changes are audited; profiles validate zones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.services import audit, profiles, tenancy
from db.models import Guild, User
from db.session import Database

GUILD, ALICE, ADMIN = 1001, 2001, 2002
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


async def test_remembering_twice_creates_once_and_refreshes_names(database: Database) -> None:
    for name in ("Old name", "New name"):
        async with database.session_scope() as session:
            await tenancy.remember_guild(session, guild_id=GUILD, name=name)
            await tenancy.remember_user(session, user_id=ALICE, display_name=name, locale="fr", seen_at=NOW)
    async with database.session_scope() as session:
        guilds = (await session.scalars(select(Guild))).all()
        users = (await session.scalars(select(User))).all()
    assert [guild.name for guild in guilds] == ["New name"]
    assert [(user.display_name, user.locale, user.last_active_at) for user in users] == [("New name", "fr", NOW)]


async def test_remembering_a_guild_keeps_its_configuration(database: Database) -> None:
    async with database.session_scope() as session:
        await tenancy.remember_guild(session, guild_id=GUILD, name="School")
        await tenancy.configure_guild(session, guild_id=GUILD, actor_id=ADMIN, changes={"ta_role_id": 7})
    async with database.session_scope() as session:
        await tenancy.remember_guild(session, guild_id=GUILD, name="Renamed")
        assert (await tenancy.guild_config(session, GUILD)).ta_role_id == 7


async def test_configuring_a_guild_writes_an_audit_row(database: Database) -> None:
    async with database.session_scope() as session:
        await tenancy.remember_guild(session, guild_id=GUILD, name="School")
        await tenancy.configure_guild(session, guild_id=GUILD, actor_id=ADMIN, changes={"instructor_role_id": 42})
    async with database.session_scope() as session:
        entries = await audit.recent(session, guild_id=GUILD)
    assert [(entry.actor_id, entry.action, entry.meta) for entry in entries] == [
        (ADMIN, "guild.configure", {"instructor_role_id": 42})
    ]


async def test_a_time_zone_is_stored_in_its_canonical_spelling(database: Database) -> None:
    async with database.session_scope() as session:
        await tenancy.remember_user(session, user_id=ALICE, display_name="Alice", locale=None, seen_at=NOW)
        assert await profiles.set_time_zone(session, user_id=ALICE, time_zone="europe/paris", now=NOW) == "Europe/Paris"
    async with database.session_scope() as session:
        assert (await session.get(User, ALICE)).time_zone == "Europe/Paris"


async def test_an_unknown_time_zone_is_refused_with_suggestions(database: Database) -> None:
    async with database.session_scope() as session:
        await tenancy.remember_user(session, user_id=ALICE, display_name="Alice", locale=None, seen_at=NOW)
    with pytest.raises(profiles.UnknownTimeZone, match="Europe/Paris"):
        async with database.session_scope() as session:
            await profiles.set_time_zone(session, user_id=ALICE, time_zone="Europe/Pariss", now=NOW)
    async with database.session_scope() as session:
        assert (await session.get(User, ALICE)).time_zone == "UTC"


def test_time_zone_autocomplete_puts_city_prefix_matches_first() -> None:
    matches = profiles.matching_time_zones("pari")
    assert matches[0] == "Europe/Paris"
    assert all("pari" in zone.lower() for zone in matches) and len(matches) <= 25


async def test_a_profile_shows_the_zone_and_leaderboard_listing_and_changes_only_what_is_given(
    database: Database,
) -> None:
    async with database.session_scope() as session:
        await tenancy.remember_user(session, user_id=ALICE, display_name="Alice", locale=None, seen_at=NOW)

    async def update(*, time_zone: str | None = None, on_leaderboards: bool | None = None) -> profiles.Profile:
        async with database.session_scope() as session:
            return await profiles.update_profile(
                session, user_id=ALICE, now=NOW, time_zone=time_zone, on_leaderboards=on_leaderboards
            )

    assert await update() == profiles.Profile(time_zone="UTC", on_leaderboards=True)
    assert await update(time_zone="asia/tokyo") == profiles.Profile(time_zone="Asia/Tokyo", on_leaderboards=True)
    assert await update(on_leaderboards=False) == profiles.Profile(time_zone="Asia/Tokyo", on_leaderboards=False)
    assert await update() == profiles.Profile(time_zone="Asia/Tokyo", on_leaderboards=False)
    with pytest.raises(profiles.UnknownTimeZone):
        await update(time_zone="Asia/Tokio", on_leaderboards=True)
    assert await update() == profiles.Profile(time_zone="Asia/Tokyo", on_leaderboards=False)  # nothing half-saved
