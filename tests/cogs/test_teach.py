"""`/teach` through real discord.py parsing: what an instructor is told when a course package comes in, and the
extra material (`/teach materials`) the tutor reads beside the lessons."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select

from db.models import AuditLog, Material
from db.session import Database
from sandbox import DiscordSandbox
from tests.cogs.course_fixtures import SAMPLE, zip_folder
from tests.cogs.tutor_fixtures import tutor_classroom  # noqa: F401 (the fixture is taken by name)

GIFT = "03-control-flow-and-functions/04-control-flow-and-functions-check.gift"


async def test_an_import_names_each_question_read_in_a_closest_form_by_file_and_line(
    discord_sandbox: DiscordSandbox, tmp_path: Path
) -> None:
    sandbox = discord_sandbox
    await sandbox.slash("admin setup", user=sandbox.owner, instructor_role=sandbox.instructor_role)
    folder = shutil.copytree(SAMPLE, tmp_path / "python-basics")
    gift = folder / GIFT
    lines_before = gift.read_text(encoding="utf-8").count("\n")
    with gift.open("a", encoding="utf-8") as bank:
        bank.write("\n\nWhich is a mutable sequence? {=list ~%50%bytearray ~%-25%tuple ~str}\n")

    imported = await sandbox.slash(
        "teach course import",
        user=sandbox.instructor,
        package=sandbox.attachment("python-basics.zip", zip_folder(folder)),
    )

    assert "Created PY101" in imported.text
    assert "Read with 1 warning(s)" in imported.text
    assert f"{GIFT}:{lines_before + 3}: warning:" in imported.text and "bytearray" in imported.text


async def test_a_clean_import_shows_no_warnings(discord_sandbox: DiscordSandbox) -> None:
    sandbox = discord_sandbox
    await sandbox.slash("admin setup", user=sandbox.owner, instructor_role=sandbox.instructor_role)
    imported = await sandbox.slash(
        "teach course import",
        user=sandbox.instructor,
        package=sandbox.attachment("python-basics.zip", zip_folder(SAMPLE)),
    )
    assert "Created PY101" in imported.text and "warning" not in imported.text


async def test_instructors_upload_list_and_review_materials(classroom: DiscordSandbox, database: Database) -> None:
    notes = classroom.attachment("loops-cheatsheet.md", b"# Loops\n\nA `for` loop repeats its block for each item.")
    first = await classroom.slash("teach materials upload", user=classroom.instructor, course="PY101", file=notes)
    assert "loops-cheatsheet is ready" in first.text
    again = await classroom.slash(
        "teach materials upload",
        user=classroom.instructor,
        course="PY101",
        file=classroom.attachment("copy.md", b"# Loops\n\nA `for` loop repeats its block for each item."),
    )
    assert "loops-cheatsheet is ready" in again.text  # the same bytes: the first upload, not a second one
    broken = classroom.attachment("slides.pdf", b"%PDF-1.7 this is not really a pdf")
    failed = await classroom.slash("teach materials upload", user=classroom.instructor, course="PY101", file=broken)
    assert "slides failed" in failed.text and "could not be read" in failed.text
    wrong = classroom.attachment("data.xlsx", b"spreadsheet")
    refused = await classroom.slash("teach materials upload", user=classroom.instructor, course="PY101", file=wrong)
    assert "not a file the tutor can read" in refused.text
    listed = await classroom.slash("teach materials list", user=classroom.instructor, course="PY101")
    assert "Lessons: 8/8 indexed" in listed.text and "✅ loops-cheatsheet" in listed.text and "❌ slides" in listed.text
    review = await classroom.slash("teach materials review", user=classroom.instructor, course="PY101")
    assert "1 to review" in review.text and "could not be read" in review.text
    async with database.session_scope() as db:
        uploads = await db.scalar(select(func.count()).where(Material.content_item_id.is_(None)))
        audited = await db.scalar(select(func.count()).where(AuditLog.action == "material.upload"))
    assert uploads == 2 and audited == 2
