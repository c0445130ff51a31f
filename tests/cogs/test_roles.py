"""Cohort roles through real discord.py parsing: Coursebot hands out plain roles only, never power."""

from __future__ import annotations

import copy

import discord
import pytest
from sqlalchemy import select

from db.models import AuditLog, CourseOffering
from db.session import Database
from sandbox import DiscordSandbox, payloads
from tests.cogs.course_fixtures import SAMPLE, zip_folder

ROLE_CHANGES = "/guilds/*/members/*/roles/*"


def sample_with_cohort(term_name: str, role_id: int) -> bytes:
    """The sample course with one more public cohort, which hands out `role_id`."""
    cohort = f'\n[[cohorts]]\nterm_name = "{term_name}"\nvisibility = "PUBLIC"\nrole_id = {role_id}\n'
    return zip_folder(SAMPLE, extra_course_toml=cohort)


async def cohort_terms(database: Database) -> list[str]:
    async with database.session_scope() as session:
        return list(await session.scalars(select(CourseOffering.term_name).order_by(CourseOffering.id)))


async def test_an_instructor_cannot_make_an_administrator_role_a_cohort_role(
    classroom: DiscordSandbox, database: Database
) -> None:
    admins = await classroom.add_role("Server Admins", permissions=payloads.ALL_PERMISSIONS)

    reply = await classroom.slash(
        "teach cohort create", user=classroom.instructor, course="PY101", term="Takeover", role=admins
    )

    assert reply.ephemeral
    assert "`Server Admins`" in reply.text and "Administrator permission" in reply.text
    assert await cohort_terms(database) == ["Self-paced"]


@pytest.mark.parametrize(
    ("make_role", "reason"),
    [
        (
            lambda s: s.add_role(
                "Helpers", permissions=discord.Permissions(manage_roles=True, mention_everyone=True).value
            ),
            "elevated permissions (Mention Everyone, Manage Roles)",
        ),
        (lambda s: s.add_role("Patreon", managed=True), "managed by an integration"),
        (lambda s: s.add_role("Above the bot", position=3), "not below my highest role"),
        (lambda s: s.add_role("Above the instructor", position=2), "not below your highest role"),
    ],
    ids=["elevated", "managed", "above-the-bot", "above-the-instructor"],
)
async def test_a_role_coursebot_must_not_hand_out_is_refused_with_the_reason(
    classroom: DiscordSandbox, database: Database, make_role, reason: str
) -> None:
    role = await make_role(classroom)

    reply = await classroom.slash(
        "teach cohort create", user=classroom.instructor, course="PY101", term="Winter", role=role
    )

    assert reply.ephemeral and f"`{role['name']}`" in reply.text and reason in reply.text, reply.text
    assert await cohort_terms(database) == ["Self-paced"]


async def test_everyone_and_the_roles_mapped_to_levels_are_refused(classroom: DiscordSandbox) -> None:
    tas = await classroom.add_role("TAs")
    await classroom.slash("admin setup", user=classroom.owner, ta_role=tas)
    everyone = next(role for role in classroom.guild["roles"] if role["id"] == classroom.guild["id"])

    as_ta = await classroom.slash("teach cohort create", user=classroom.instructor, course="PY101", term="A", role=tas)
    as_everyone = await classroom.slash(
        "teach cohort create", user=classroom.instructor, course="PY101", term="B", role=everyone
    )

    assert "stands for a Coursebot level" in as_ta.text
    assert "it is @everyone" in as_everyone.text


async def test_an_admin_may_pick_a_plain_role_above_their_own(classroom: DiscordSandbox) -> None:
    high = await classroom.add_role("Honours", position=2)  # above the Instructor role, below the bot's

    reply = await classroom.slash(
        "teach cohort create", user=classroom.owner, course="PY101", term="Honours", role=high
    )

    assert "Honours is open" in reply.text


async def test_a_plain_cohort_role_is_given_on_enrollment(classroom: DiscordSandbox) -> None:
    await classroom.slash("teach cohort close", user=classroom.instructor, course="PY101", term="Self-paced")
    winter = await classroom.add_role("Winter 2027")
    created = await classroom.slash(
        "teach cohort create", user=classroom.instructor, course="PY101", term="Winter", role=winter
    )
    assert "Winter is open" in created.text

    await classroom.slash("course enroll", course="PY101")

    assert classroom.http.calls_to("PUT", ROLE_CHANGES)
    assert winter["id"] in classroom.student["roles"]


async def test_a_role_that_gained_power_after_the_cohort_was_made_is_refused_at_grant_time(
    classroom: DiscordSandbox, database: Database
) -> None:
    await classroom.slash("admin setup", user=classroom.owner, announcement_channel=classroom.channel)
    await classroom.slash("teach cohort close", user=classroom.instructor, course="PY101", term="Self-paced")
    winter = await classroom.add_role("Winter 2027")
    await classroom.slash("teach cohort create", user=classroom.instructor, course="PY101", term="Winter", role=winter)
    promoted = copy.deepcopy(winter)
    promoted["permissions"] = str(payloads.ALL_PERMISSIONS)
    winter.update(promoted)
    await classroom.dispatch("GUILD_ROLE_UPDATE", {"guild_id": classroom.guild["id"], "role": promoted})
    before = len(classroom.http.calls)

    reply = await classroom.slash("course enroll", course="PY101")

    assert "Welcome to PY101" in reply.text
    assert "couldn't give you the course role (it has the Administrator permission)" in reply.text
    assert not classroom.http.calls_to("PUT", ROLE_CHANGES, since=before)
    assert winter["id"] not in classroom.student["roles"]
    warnings = [message.text for message in classroom.messages_in(classroom.channel) if "Instructors" in message.text]
    assert warnings and "Administrator" in warnings[-1]
    async with database.session_scope() as session:
        refused = await session.scalar(select(AuditLog).where(AuditLog.action == "role.grant_refused"))
    assert refused is not None and refused.meta["role_id"] == int(winter["id"])


async def test_an_import_refuses_a_package_cohort_with_a_powerful_role(
    classroom: DiscordSandbox, database: Database
) -> None:
    mods = await classroom.add_role("Mods", permissions=discord.Permissions(kick_members=True, ban_members=True).value)
    package = sample_with_cohort("Staff", mods["id"])

    reply = await classroom.slash(
        "teach course import", user=classroom.instructor, package=classroom.attachment("py.zip", package)
    )

    assert "course.toml" in reply.text and "cohort `Staff`: role `Mods`" in reply.text, reply.text
    assert "Kick Members, Ban Members" in reply.text
    assert await cohort_terms(database) == ["Self-paced"]


async def test_an_import_with_a_plain_package_role_goes_through(classroom: DiscordSandbox, database: Database) -> None:
    plain = await classroom.add_role("Study group")
    package = sample_with_cohort("Group", plain["id"])

    reply = await classroom.slash(
        "teach course import", user=classroom.instructor, package=classroom.attachment("py.zip", package)
    )

    assert "Updated PY101" in reply.text, reply.text
    assert await cohort_terms(database) == ["Self-paced", "Group"]
