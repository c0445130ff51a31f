"""Permission levels are decided from the guild's mapping, Discord's Manage Server and bot grants."""

from __future__ import annotations

import pytest

from bot.errors import InvalidInput, RoleMappedTwice
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


def test_a_role_mapped_to_two_levels_gives_the_higher_one() -> None:
    # Saved before `/admin setup` refused it: the instructors must not be demoted to TAs.
    config = GuildConfig(instructor_role_id=INSTRUCTORS, ta_role_id=INSTRUCTORS)
    assert permissions.level_from(config, role_ids=[INSTRUCTORS], manages_guild=False) is MemberRole.INSTRUCTOR


async def test_setup_refuses_one_role_for_two_levels_counting_roles_already_mapped(database: Database) -> None:
    async with database.session_scope() as session:
        session.add(Guild(id=GUILD, name="School"))
    async with database.session_scope() as session:
        await permissions.save_setup(
            session, guild_id=GUILD, actor_id=ADMIN, changes={"instructor_role_id": INSTRUCTORS}
        )

    async with database.session_scope() as session:
        with pytest.raises(RoleMappedTwice, match=f"<@&{INSTRUCTORS}> can't be both the instructor and the TA role"):
            await permissions.save_setup(session, guild_id=GUILD, actor_id=ADMIN, changes={"ta_role_id": INSTRUCTORS})
        with pytest.raises(RoleMappedTwice, match="both the admin and the TA role"):
            await permissions.save_setup(
                session, guild_id=GUILD, actor_id=ADMIN, changes={"admin_role_id": TAS, "ta_role_id": TAS}
            )
        with pytest.raises(InvalidInput, match="@everyone"):
            await permissions.save_setup(session, guild_id=GUILD, actor_id=ADMIN, changes={"ta_role_id": GUILD})
        # Moving the role from one level to another in one go is fine.
        moved = await permissions.save_setup(
            session, guild_id=GUILD, actor_id=ADMIN, changes={"instructor_role_id": TAS, "ta_role_id": INSTRUCTORS}
        )
    assert (moved.instructor_role_id, moved.ta_role_id) == (TAS, INSTRUCTORS)
    async with database.session_scope() as session:
        assert (await tenancy.guild_config(session, GUILD)).ta_role_id == INSTRUCTORS
