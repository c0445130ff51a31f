"""Options past their limits, sent as a tampered client would: refused by name, nothing stored, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.models import Course, CourseOffering, Prompt, User, XPEvent
from db.session import Database
from sandbox import DiscordSandbox


@pytest.fixture
async def staffed(discord_sandbox: DiscordSandbox) -> DiscordSandbox:
    """The sandbox with the Instructor role mapped and an empty course DEMO1."""
    sandbox = discord_sandbox
    await sandbox.slash("admin setup", user=sandbox.owner, instructor_role=sandbox.instructor_role)
    await sandbox.slash("teach course create", user=sandbox.instructor, code="DEMO1", title="Demo")
    return sandbox


async def count(database: Database, model: type) -> int:
    async with database.session_scope() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"code": "AB\x00C", "title": "Nul"}, "`code` can't contain control characters"),
        ({"code": "DEMO2", "title": "Bell\x07"}, "`title` can't contain control characters"),
        ({"code": "DEMO2", "title": "gnp.\u202eexe"}, "`title` can't contain control characters or text-direction"),
        ({"code": "DEMO2", "title": "T" * 5000}, "`title` takes at most 200 characters; this one has 5,000"),
        ({"code": "C" * 21, "title": "Long code"}, "`code` takes at most 20 characters"),
    ],
)
async def test_a_course_with_bad_text_is_refused_by_option_and_not_created(
    staffed: DiscordSandbox, database: Database, options: dict[str, str], refusal: str
) -> None:
    reply = await staffed.slash("teach course create", user=staffed.instructor, options=options, validate=False)

    assert reply.ephemeral and refusal in reply.text and "Unexpected" not in reply.text
    assert await count(database, Course) == 1  # DEMO1 only


async def test_numbers_past_their_range_are_refused(staffed: DiscordSandbox, database: Database) -> None:
    cohorts = await count(database, CourseOffering)
    adjusted = await staffed.slash(
        "admin xp adjust",
        user=staffed.owner,
        validate=False,
        options={"user": staffed.student["user"]["id"], "amount": 10**12, "reason": "typo"},
    )
    cohort = await staffed.slash(
        "teach cohort create", user=staffed.instructor, course="DEMO1", term="Spring", capacity=10**12, validate=False
    )

    assert "`amount` must be between -100,000 and 100,000" in adjusted.text
    assert "`capacity` must be between 1 and 100,000" in cohort.text
    assert await count(database, XPEvent) == 0 and await count(database, CourseOffering) == cohorts


async def test_text_without_a_declared_length_is_held_to_the_default(staffed: DiscordSandbox) -> None:
    reply = await staffed.slash("course enroll", course="PY" * 300, validate=False)

    assert "`course` takes at most 100 characters; this one has 600" in reply.text


async def test_a_prompt_written_in_the_form_with_a_nul_is_refused(staffed: DiscordSandbox, database: Database) -> None:
    form = await staffed.slash("admin prompts create", user=staffed.owner, name="house.rules")
    stored = await count(database, Prompt)

    refused = await staffed.submit_modal(form, {"Prompt text": "Be kind.\x00"})

    assert "control character" in refused.text and "U+0000" in refused.text
    assert await count(database, Prompt) == stored


async def test_a_display_name_is_stored_without_direction_overrides_or_controls(
    discord_sandbox: DiscordSandbox, database: Database
) -> None:
    member = await discord_sandbox.add_member("mallory", nick="Admin\u202e\u2066 (staff)\x1b")

    await discord_sandbox.slash("course list", user=member)

    async with database.session_scope() as session:
        name = await session.scalar(select(User.display_name).where(User.id == int(member["user"]["id"])))
    assert name == "Admin (staff)"
