"""Courses through real discord.py parsing: an instructor imports and runs a course, a student joins and reads it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from sqlalchemy import func, select

from bot.services.coursepack import load_package
from db.models import AuditLog, Course
from db.session import Database
from sandbox import DiscordSandbox
from tests.cogs.course_fixtures import SAMPLE, zip_folder


async def test_a_student_enrolls_reads_three_lessons_and_sees_progress(classroom: DiscordSandbox) -> None:
    listed = await classroom.slash("course list")
    assert "PY101 · Python Basics" in listed.text
    enrolled = await classroom.slash("course enroll", course="PY101")
    assert "Welcome to PY101" in enrolled.text
    titles = [(await classroom.slash("lesson next")).embeds[0]["title"] for _ in range(3)]
    assert titles == ["What is Python?", "Running code", "Variables"]
    progress = await classroom.slash("course progress")
    assert "2/11" in progress.text  # two lessons left behind are done; the third is open
    assert "Getting started" in progress.text


async def test_course_and_lesson_options_autocomplete(classroom: DiscordSandbox) -> None:
    courses = await classroom.autocomplete("course enroll", "course", "py")
    assert [choice.value for choice in courses] == ["PY101"]
    await classroom.slash("course enroll", course="PY101")
    lessons = await classroom.autocomplete("lesson open", "lesson", "loop")
    assert [choice.value for choice in lessons] == ["loops"]


async def test_a_broken_package_is_rejected_whole_with_file_and_line(
    classroom: DiscordSandbox, database: Database
) -> None:
    broken = zip_folder(SAMPLE)
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(broken)) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "course.toml":
                data = data.replace(b'code = "PY101"', b'code = "PY102"').replace(
                    b"passing_score = 70", b"passing_score = 300"
                )
            target.writestr(name, data)
    reply = await classroom.slash(
        "teach course import", user=classroom.instructor, package=classroom.attachment("bad.zip", buffer.getvalue())
    )
    assert reply.ephemeral and "course.toml:" in reply.text and "passing_score" in reply.text
    async with database.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(Course).where(Course.code == "PY102")) == 0


async def test_an_exported_package_loads_back_as_the_same_course(classroom: DiscordSandbox, tmp_path: Path) -> None:
    reply = await classroom.slash("teach course export", user=classroom.instructor, course="PY101")
    (exported,) = reply.files
    path = tmp_path / exported.filename
    path.write_bytes(exported.data)
    assert load_package(path) == load_package(SAMPLE)


async def test_deleting_a_course_asks_first(classroom: DiscordSandbox, database: Database) -> None:
    asked = await classroom.slash("teach course delete", user=classroom.instructor, course="PY101")
    assert "Delete PY101" in asked.text
    kept = await classroom.click(asked, "Cancel", user=classroom.instructor)
    assert "Nothing deleted" in kept.text
    asked = await classroom.slash("teach course delete", user=classroom.instructor, course="PY101")
    deleted = await classroom.click(asked, "Delete PY101", user=classroom.instructor)
    assert "Deleted PY101" in deleted.text
    listed = await classroom.slash("course list")
    assert "PY101" not in listed.text
    async with database.session_scope() as session:
        actions = set(await session.scalars(select(AuditLog.action)))
    assert {"course.import", "course.delete"} <= actions


async def test_a_drafted_reimport_stays_invisible_until_published(classroom: DiscordSandbox) -> None:
    await classroom.slash("teach course unpublish", user=classroom.instructor, course="PY101")
    assert "PY101" not in (await classroom.slash("course list")).text
    published = await classroom.slash("teach course publish", user=classroom.instructor, course="PY101")
    assert "Published PY101" in published.text
    assert "PY101" in (await classroom.slash("course list")).text


async def test_a_cohort_role_failure_is_reported_not_silent(classroom: DiscordSandbox, database: Database) -> None:
    await classroom.slash("admin setup", user=classroom.owner, announcement_channel=classroom.channel)
    await classroom.slash("teach cohort close", user=classroom.instructor, course="PY101", term="Self-paced")
    created = await classroom.slash(
        "teach cohort create",
        user=classroom.instructor,
        course="PY101",
        term="Winter",
        role=await classroom.add_role("Winter 2027"),
    )
    assert "Winter is open" in created.text
    classroom.http.fail("PUT", "/guilds/*/members/*/roles/*", status=403)
    reply = await classroom.slash("course enroll", course="PY101")
    assert "Welcome to PY101" in reply.text
    assert "couldn't give you the course role" in reply.text
    warnings = [message.text for message in classroom.messages_in(classroom.channel) if "Instructors" in message.text]
    assert warnings and "Manage Roles" in warnings[-1]
    async with database.session_scope() as session:
        assert "role.grant_failed" in set(await session.scalars(select(AuditLog.action)))


async def test_a_full_cohort_waitlists_and_promotes_on_drop(classroom: DiscordSandbox) -> None:
    await classroom.slash("teach cohort close", user=classroom.instructor, course="PY101", term="Self-paced")
    await classroom.slash("teach cohort create", user=classroom.instructor, course="PY101", term="Small", capacity=1)
    first = await classroom.slash("course enroll", course="PY101", user=classroom.student)
    second_member = await classroom.add_member("kim")
    second = await classroom.slash("course enroll", course="PY101", user=second_member)
    assert "Welcome" in first.text and "number 1 on the waitlist" in second.text
    await classroom.slash("course drop", course="PY101", user=classroom.student)
    roster = await classroom.slash("teach roster", user=classroom.instructor, course="PY101")
    assert "Kim" in roster.text and "active" in roster.text.lower()
    assert roster.files and roster.files[0].filename == "py101-roster.csv"


async def test_a_broken_upload_is_named_by_its_own_file_name(classroom: DiscordSandbox) -> None:
    reply = await classroom.slash(
        "teach course import", user=classroom.instructor, package=classroom.attachment("spring-term.zip", b"not a zip")
    )

    assert reply.ephemeral and "spring-term.zip" in reply.text and "package.zip" not in reply.text
