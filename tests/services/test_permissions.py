"""Permission levels are decided from the guild's mapping, Discord's Manage Server and bot grants."""

from __future__ import annotations

from bot.services import permissions, tenancy
from bot.services.tenancy import GuildConfig
from db.models import Guild, GuildMember, MemberRole, User
from db.session import Database

GUILD, ALICE, ADMIN = 1001, 2001, 2002
INSTRUCTORS, TAS = 501, 502


def test_the_highest_grant_wins() -> None:
    config = GuildConfig(instructor_role_id=INSTRUCTORS, ta_role_id=TAS)
    assert permissions.level_from(config, role_ids=[], manages_guild=False) is MemberRole.STUDENT
    assert permissions.level_from(config, role_ids=[TAS], manages_guild=False) is MemberRole.TA
    assert permissions.level_from(config, role_ids=[TAS, INSTRUCTORS], manages_guild=False) is MemberRole.INSTRUCTOR
    assert permissions.level_from(config, role_ids=[TAS], manages_guild=True) is MemberRole.ADMIN


def test_an_unmapped_guild_gives_roles_no_power() -> None:
    assert permissions.level_from(GuildConfig(), role_ids=[INSTRUCTORS], manages_guild=False) is MemberRole.STUDENT


def test_levels_are_ordered() -> None:
    assert permissions.at_least(MemberRole.ADMIN, MemberRole.INSTRUCTOR)
    assert permissions.at_least(MemberRole.TA, MemberRole.TA)
    assert not permissions.at_least(MemberRole.TA, MemberRole.INSTRUCTOR)


async def test_member_level_reads_the_mapping_and_grants_from_the_database(database: Database) -> None:
    async with database.session_scope() as session:
        session.add_all([Guild(id=GUILD, name="School"), User(id=ALICE, display_name="Alice")])
        await session.flush()
        await tenancy.configure_guild(
            session, guild_id=GUILD, actor_id=ADMIN, changes={"instructor_role_id": INSTRUCTORS}
        )
    async with database.session_scope() as session:
        by_role = await permissions.member_level(
            session, guild_id=GUILD, user_id=ALICE, role_ids=[INSTRUCTORS], manages_guild=False
        )
        plain = await permissions.member_level(session, guild_id=GUILD, user_id=ALICE, role_ids=[], manages_guild=False)
        session.add(GuildMember(guild_id=GUILD, user_id=ALICE, role=MemberRole.TA))
    async with database.session_scope() as session:
        granted = await permissions.member_level(
            session, guild_id=GUILD, user_id=ALICE, role_ids=[], manages_guild=False
        )
    assert (by_role, plain, granted) == (MemberRole.INSTRUCTOR, MemberRole.STUDENT, MemberRole.TA)
